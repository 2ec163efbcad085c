// User access tokens: ACS-shaped JWTs (HS256, key derived from the access key) and their verification,
// including revocation (token generation) and the resource check.
import { createHmac, webcrypto } from "node:crypto";
import { SignJWT, jwtVerify, errors as joseErrors } from "jose";
import type { CommunicationIdentityTokenScope } from "@natter/wire";
import type { Caller } from "../domain/caller.js";
import { ChatError } from "../domain/errors.js";
import type { IdentityService } from "../domain/identity-service.js";

/** scp claim value seen in real ACS tokens. */
const ACS_SCP = 1792;

export interface IssuedToken {
  token: string;
  expiresOn: Date;
}

/** How long a user's token generation is trusted from memory before it is read again (bounds staleness when
 * a revocation message from another node is lost). */
const GENERATION_TTL_MS = 5_000;
const MAX_CACHED_TOKENS = 20_000;

interface VerifiedToken {
  caller: Caller;
  expiresAt: number;
  generation: unknown;
}

export class TokenService {
  private readonly key: Uint8Array;
  private cryptoKey?: Promise<webcrypto.CryptoKey>;
  /** Tokens whose signature and claims were checked already: verification is the hot path of every call. */
  private readonly verified = new Map<string, VerifiedToken>();
  private readonly generations = new Map<string, { generation: number | null; readAt: number }>();

  constructor(
    accessKey: Uint8Array,
    private readonly identity: IdentityService,
    private readonly now: () => number = Date.now,
  ) {
    // A separate key per purpose: the access key itself only signs HMAC admin requests.
    this.key = createHmac("sha256", accessKey).update("natter user token v1").digest();
  }

  get resourceId(): string {
    return this.identity.resourceId;
  }

  async issue(userId: string, scopes: CommunicationIdentityTokenScope[], minutes: number, generation: number): Promise<IssuedToken> {
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + minutes * 60;
    const token = await new SignJWT({
      skypeid: userId.slice(2), // ACS drops the leading "8:"
      scp: ACS_SCP,
      csi: String(iat),
      acsScope: scopes.join(","),
      resourceId: this.resourceId,
      resourceLocation: "natter",
      gen: generation,
    })
      .setProtectedHeader({ alg: "HS256", kid: "1", typ: "JWT" })
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.key);
    return { token, expiresOn: new Date(exp * 1000) };
  }

  /** Forgets what is cached about a user's tokens (after a revocation, here or on another node). */
  forgetUser(userId: string): void {
    this.generations.delete(userId);
  }

  /**
   * The caller of a token verified before, when neither the token nor its user's generation needs reading again;
   * else undefined (then verify() decides, and throws what it finds). Synchronous, for the per-request hook: an
   * await per request there is a promise and a microtask hop.
   */
  cachedCaller(token: string): Caller | undefined {
    const now = this.now();
    const cached = this.verified.get(token);
    if (!cached || cached.expiresAt <= now) return undefined;
    const known = this.freshGeneration(cached.caller.userId, now);
    return known && known.generation !== null && known.generation === cached.generation ? cached.caller : undefined;
  }

  /** Verifies a bearer token; any failure is 401 with a reason that reveals nothing secret. */
  async verify(token: string): Promise<Caller> {
    const now = this.now();
    const cached = this.verified.get(token);
    if (cached && cached.expiresAt > now) {
      await this.checkGeneration(cached.caller.userId, cached.generation, now);
      return cached.caller;
    }
    const verified = await this.verifySignature(token);
    if (this.verified.size >= MAX_CACHED_TOKENS) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, verified);
    await this.checkGeneration(verified.caller.userId, verified.generation, now);
    return verified.caller;
  }

  /**
   * Throws 401 when the user was deleted or its tokens revoked since a token of `generation` was checked. The
   * user's generation is read at most every GENERATION_TTL_MS (shared with verify), so this is cheap per socket.
   */
  async checkCurrent(userId: string, generation: unknown): Promise<void> {
    await this.checkGeneration(userId, generation, this.now());
  }

  private async checkGeneration(userId: string, generation: unknown, now: number): Promise<void> {
    let known = this.freshGeneration(userId, now);
    if (!known) {
      const user = await this.identity.findUser(userId);
      known = { generation: user && user.deletedAt === null ? user.tokenGeneration : null, readAt: now };
      this.generations.set(userId, known);
      if (this.generations.size > MAX_CACHED_TOKENS) this.generations.delete(this.generations.keys().next().value!);
    }
    if (known.generation === null || known.generation !== generation) {
      throw new ChatError("unauthorized", "The access token has been revoked.");
    }
  }

  /** The user's generation as last read, unless it is older than GENERATION_TTL_MS (then it must be read again). */
  private freshGeneration(userId: string, now: number): { generation: number | null; readAt: number } | undefined {
    const known = this.generations.get(userId);
    return known && now - known.readAt <= GENERATION_TTL_MS ? known : undefined;
  }

  private async verifySignature(token: string): Promise<VerifiedToken> {
    let payload: Record<string, unknown>;
    try {
      this.cryptoKey ??= webcrypto.subtle.importKey("raw", this.key, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
      ({ payload } = await jwtVerify(token, await this.cryptoKey, { algorithms: ["HS256"], currentDate: new Date(this.now()) }));
    } catch (error) {
      const expired = error instanceof joseErrors.JWTExpired;
      throw new ChatError("unauthorized", expired ? "The access token has expired." : "The access token is invalid.");
    }
    if (payload.resourceId !== this.resourceId || typeof payload.skypeid !== "string" || typeof payload.acsScope !== "string") {
      throw new ChatError("unauthorized", "The access token is invalid.");
    }
    const userId = `8:${payload.skypeid}`;
    return {
      caller: { userId, scopes: payload.acsScope.split(",").filter(Boolean) },
      expiresAt: (payload.exp as number) * 1000,
      generation: payload.gen,
    };
  }
}
