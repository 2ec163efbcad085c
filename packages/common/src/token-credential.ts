// User access-token credentials: the CommunicationTokenCredential contract, JWT expiry parsing, and
// AzureCommunicationTokenCredential (static token, or a refresher with optional proactive refresh).
import type { AbortSignalLike } from "./abort.js";
import { base64UrlToString } from "./encoding.js";

/** An access token and its expiry (structurally Azure's `AccessToken`). */
export interface AccessToken {
  /** The token string (a JWT issued by the identity service). */
  token: string;
  /** Expiry as epoch milliseconds. */
  expiresOnTimestamp: number;
  /** Optional time (epoch ms) after which a refresh is advisable. */
  refreshAfterTimestamp?: number;
}

/** Options for {@link CommunicationTokenCredential.getToken}. */
export interface CommunicationGetTokenOptions {
  /** Cancels the operation. */
  abortSignal?: AbortSignalLike;
}

/** A credential that supplies user access tokens to the chat client. */
export interface CommunicationTokenCredential {
  /**
   * Gets an access token for the user. Throws if the credential was disposed.
   * @param options - Additional options.
   */
  getToken(options?: CommunicationGetTokenOptions): Promise<AccessToken>;
  /** Disposes the credential and cancels any scheduled refresh. */
  dispose(): void;
}

/** Options for a credential that fetches its tokens through a callback. */
export interface CommunicationTokenRefreshOptions {
  /** Returns a fresh (unexpired) token string from the identity service. */
  tokenRefresher: (abortSignal?: AbortSignalLike) => Promise<string>;
  /** Optional initial token. */
  token?: string;
  /** Renew the token in the background before it expires, rather than only on demand. Default false. */
  refreshProactively?: boolean;
}

/**
 * Parses the `exp` claim of a JWT into an {@link AccessToken}. The signature is not checked.
 * @param token - The JWT.
 */
export function parseToken(token: string): AccessToken {
  if (typeof token !== "string") throw new Error("Invalid token specified: must be a string");
  const payloadPart = token.split(".")[1];
  if (payloadPart === undefined) throw new Error("Invalid token specified: missing part #2");
  let payload: unknown;
  try {
    payload = JSON.parse(base64UrlToString(payloadPart));
  } catch (e) {
    throw new Error(`Invalid token specified: invalid payload (${(e as Error).message})`);
  }
  const exp = (payload as { exp?: unknown } | null)?.exp;
  if (typeof exp !== "number") throw new Error("Invalid token specified: missing exp claim");
  return { token, expiresOnTimestamp: exp * 1000 };
}

const EXPIRED: AccessToken = { token: "", expiresOnTimestamp: -10 };
/** A token this close to its expiry counts as "expiring soon". */
const EXPIRING_SOON_MS = 10 * 60 * 1000;
/** When already expiring soon, the next proactive refresh happens after this share of the remaining lifetime. */
const REFRESH_AFTER_LIFETIME_SHARE = 0.5;
/** setTimeout's maximum delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;

class StaticCredential implements CommunicationTokenCredential {
  constructor(private readonly token: AccessToken) {}
  async getToken(): Promise<AccessToken> {
    return this.token;
  }
  dispose(): void {}
}

/**
 * Fetches tokens through a callback. At most one refresh runs at a time (concurrent callers share it).
 * On demand: an expired token is refreshed before returning. Proactively: a timer renews the token when it
 * enters the last 10 minutes of its life (or, if already inside, after half of what is left).
 */
class RefreshingCredential implements CommunicationTokenCredential {
  private current: AccessToken;
  private inFlight: Promise<void> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private disposed = false;
  private readonly refresher: CommunicationTokenRefreshOptions["tokenRefresher"];
  private readonly proactive: boolean;

  constructor(options: CommunicationTokenRefreshOptions) {
    this.refresher = options.tokenRefresher;
    this.current = options.token ? parseToken(options.token) : EXPIRED;
    this.proactive = options.refreshProactively ?? false;
    if (this.proactive) this.schedule();
  }

  async getToken(options?: CommunicationGetTokenOptions): Promise<AccessToken> {
    if (!this.isValid(this.current)) await this.refresh(options?.abortSignal);
    return this.current;
  }

  dispose(): void {
    this.disposed = true;
    this.inFlight = null;
    this.current = EXPIRED;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private refresh(abortSignal?: AbortSignalLike): Promise<void> {
    if (!this.inFlight) {
      const run: Promise<void> = (async () => {
        const next = parseToken(await this.refresher(abortSignal));
        if (!this.isValid(next)) throw new Error("The token returned from the tokenRefresher is expired.");
        if (this.disposed) return;
        this.current = next;
        if (this.proactive) this.schedule();
      })().finally(() => {
        if (this.inFlight === run) this.inFlight = null;
      });
      this.inFlight = run;
    }
    return this.inFlight;
  }

  private schedule(): void {
    if (this.disposed) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const ttl = this.current.expiresOnTimestamp - Date.now();
    const wait = this.isExpiringSoon(this.current) ? ttl * REFRESH_AFTER_LIFETIME_SHARE : ttl - EXPIRING_SOON_MS;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refresh().catch(() => {
        // A failed background refresh is retried while the token is still valid; otherwise the next
        // getToken() refreshes on demand and surfaces the error to its caller.
        if (this.isValid(this.current)) this.schedule();
      });
    }, Math.min(MAX_TIMER_MS, Math.max(0, wait)));
  }

  private isValid(token: AccessToken): boolean {
    return Date.now() < token.expiresOnTimestamp;
  }

  private isExpiringSoon(token: AccessToken): boolean {
    return Date.now() >= token.expiresOnTimestamp - EXPIRING_SOON_MS;
  }
}

/**
 * The CommunicationTokenCredential implementation with optional proactive token refresh; interchangeable
 * with @azure/communication-common's class of the same name.
 */
export class AzureCommunicationTokenCredential implements CommunicationTokenCredential {
  private readonly inner: CommunicationTokenCredential;
  private disposed = false;

  /**
   * Creates a credential with a static token and no refreshing.
   * @param token - A user access token issued by the identity service.
   */
  constructor(token: string);
  /**
   * Creates a credential that obtains tokens from a callback, optionally refreshing them proactively.
   * @param refreshOptions - The refresher, an optional initial token and whether to refresh proactively.
   */
  constructor(refreshOptions: CommunicationTokenRefreshOptions);
  constructor(tokenOrOptions: string | CommunicationTokenRefreshOptions) {
    if (typeof tokenOrOptions === "string") {
      this.inner = new StaticCredential(parseToken(tokenOrOptions));
    } else if (tokenOrOptions && typeof tokenOrOptions.tokenRefresher === "function") {
      this.inner = new RefreshingCredential(tokenOrOptions);
    } else {
      throw new Error(
        "AzureCommunicationTokenCredential needs a token string or { tokenRefresher }; Entra ID options are not supported by Natter.",
      );
    }
  }

  /**
   * Gets an access token for the user. Throws if the credential was disposed.
   * @param options - Options, e.g. an abort signal.
   */
  async getToken(options?: CommunicationGetTokenOptions): Promise<AccessToken> {
    this.throwIfDisposed();
    const token = await this.inner.getToken(options);
    this.throwIfDisposed();
    return token;
  }

  /** Disposes the credential and cancels any scheduled refresh. */
  dispose(): void {
    this.disposed = true;
    this.inner.dispose();
  }

  private throwIfDisposed(): void {
    if (this.disposed) throw new Error("User credential is disposed");
  }
}
