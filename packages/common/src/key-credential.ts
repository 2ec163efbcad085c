// Access-key credentials: the KeyCredential shape (structurally @azure/core-auth's), AzureKeyCredential with
// key rotation, and the Entra-style TokenCredential shape the identity client also accepts.
import type { AbortSignalLike } from "./abort.js";
import type { AccessToken } from "./token-credential.js";

/** A credential holding an access key (base64), read on every request so rotation takes effect at once. */
export interface KeyCredential {
  /** The access key, base64-encoded. */
  readonly key: string;
}

/** A KeyCredential whose key can be rotated; interchangeable with @azure/core-auth's AzureKeyCredential. */
export class AzureKeyCredential implements KeyCredential {
  private currentKey: string;

  /**
   * Creates the credential.
   * @param key - The access key, base64-encoded.
   */
  constructor(key: string) {
    if (!key) throw new Error("key must be a non-empty string");
    this.currentKey = key;
  }

  /** The current access key. */
  get key(): string {
    return this.currentKey;
  }

  /**
   * Replaces the key, e.g. after rotation. Requests made afterwards are signed with the new key.
   * @param newKey - The new access key.
   */
  update(newKey: string): void {
    if (!newKey) throw new Error("key must be a non-empty string");
    this.currentKey = newKey;
  }
}

/** Options for {@link TokenCredential.getToken}. */
export interface GetTokenOptions {
  /** Cancels the operation. */
  abortSignal?: AbortSignalLike;
}

/** An Entra ID token credential (structurally @azure/core-auth's TokenCredential). */
export interface TokenCredential {
  /**
   * Gets a token for the given scopes, or null if none is available.
   * @param scopes - The scopes requested.
   * @param options - Options, e.g. an abort signal.
   */
  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null>;
}

/**
 * Tests whether a value is a KeyCredential (has a string `key` and no `getToken`).
 * @param credential - The value to test.
 */
export const isKeyCredential = (credential: unknown): credential is KeyCredential => {
  const c = credential as { key?: unknown; getToken?: unknown } | null | undefined;
  return !!c && typeof c.key === "string" && c.getToken === undefined;
};

/**
 * Tests whether a value is an Entra-style TokenCredential (has a `getToken` function).
 * @param credential - The value to test.
 */
export const isTokenCredential = (credential: unknown): credential is TokenCredential => {
  const c = credential as { getToken?: unknown } | null | undefined;
  return !!c && typeof c.getToken === "function";
};
