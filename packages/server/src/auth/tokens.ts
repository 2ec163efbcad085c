// User access tokens: ACS-shaped JWTs (HS256, key derived from the access key) and their verification,
// including revocation (token generation) and the resource check.
import { createHmac } from "node:crypto";
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

export class TokenService {
  private readonly key: Uint8Array;

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

  /** Verifies a bearer token; any failure is 401 with a reason that reveals nothing secret. */
  async verify(token: string): Promise<Caller> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.key, { algorithms: ["HS256"], currentDate: new Date(this.now()) }));
    } catch (error) {
      const expired = error instanceof joseErrors.JWTExpired;
      throw new ChatError("unauthorized", expired ? "The access token has expired." : "The access token is invalid.");
    }
    if (payload.resourceId !== this.resourceId || typeof payload.skypeid !== "string" || typeof payload.acsScope !== "string") {
      throw new ChatError("unauthorized", "The access token is invalid.");
    }
    const userId = `8:${payload.skypeid}`;
    const user = await this.identity.findUser(userId);
    if (!user || user.deletedAt !== null || user.tokenGeneration !== payload.gen) {
      throw new ChatError("unauthorized", "The access token has been revoked.");
    }
    return { userId, scopes: payload.acsScope.split(",").filter(Boolean) };
  }
}
