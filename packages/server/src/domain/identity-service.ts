// Users of this resource: creation (optionally under a caller-chosen customId, idempotently), lookup, deletion,
// token revocation (a per-user token generation) and the time of the last token issued.
import type { Bus } from "../bus/bus.js";
import { CONTROL_TOPIC } from "../bus/bus.js";
import type { Store, UserRecord } from "../store/store.js";
import { CUSTOM_ID_MAX_LENGTH } from "@natter/wire";
import { ChatError, validationError } from "./errors.js";
import { belongsToResource, newAcsUserId } from "./identifiers.js";

/** Bus control message telling every node that a user's tokens changed (revoked or user deleted). */
export const TOKENS_REVOKED = "tokensRevoked";

export class IdentityService {
  constructor(
    private readonly store: Store,
    private readonly bus: Bus,
    readonly resourceId: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** CreateUser. */
  async createUser(): Promise<UserRecord> {
    const user = this.newUser(null);
    await this.store.transaction((tx) => tx.insertUser(user));
    return user;
  }

  /**
   * CreateUser with a customId (identity 2025-06-30): the live user that holds `customId`, or a new one that
   * does. Idempotent, also under concurrency: two creates with one customId return one identity.
   */
  async createUserWithCustomId(customId: string): Promise<UserRecord> {
    if (customId.length === 0 || customId.length > CUSTOM_ID_MAX_LENGTH || /\p{C}/u.test(customId)) {
      throw validationError(`customId must be 1 to ${CUSTOM_ID_MAX_LENGTH} printable characters.`, "CustomId");
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await this.store.getUserByCustomId(customId);
      if (existing && existing.deletedAt === null) return existing;
      const user = this.newUser(customId);
      // false: another create took the customId between the read and the insert; read theirs.
      if (await this.store.transaction((tx) => tx.insertUser(user))) return user;
    }
    throw new ChatError("conflict", "The customId is being taken by a concurrent request; try again.");
  }

  private newUser(customId: string | null): UserRecord {
    return { id: newAcsUserId(this.resourceId), createdAt: this.now(), deletedAt: null, tokenGeneration: 0, customId, lastTokenIssuedAt: null };
  }

  /** Records that a token was just issued for the user (GET /identities/{id} reports it); returns the time. */
  async tokenIssued(userId: string): Promise<number> {
    const at = this.now();
    await this.store.transaction((tx) => tx.updateUser(userId, { lastTokenIssuedAt: at }));
    return at;
  }

  /** A live user of this resource, or 401 (ACS answers 401 for other resources' users). */
  async requireUser(userId: string): Promise<UserRecord> {
    if (!belongsToResource(userId, this.resourceId)) throw new ChatError("unauthorized", "The identity does not belong to this resource.");
    const user = await this.store.getUser(userId);
    if (!user || user.deletedAt !== null) throw new ChatError("notFound", "The identity was not found.");
    return user;
  }

  /** The user a token names, if it still exists (no error), for token verification. */
  async findUser(userId: string): Promise<UserRecord | undefined> {
    return this.store.getUser(userId);
  }

  /** RevokeAccessTokens: every token issued so far stops working at once. */
  async revokeTokens(userId: string): Promise<void> {
    await this.requireUser(userId);
    await this.store.transaction(async (tx) => {
      const user = await tx.getUser(userId);
      if (user) await tx.updateUser(userId, { tokenGeneration: user.tokenGeneration + 1 });
    });
    await this.bus.publish(CONTROL_TOPIC, { type: TOKENS_REVOKED, data: { userId } });
  }

  /** DeleteUser: the user's tokens stop working; the id is never reused. Deleting twice is a no-op. */
  async deleteUser(userId: string): Promise<void> {
    if (!belongsToResource(userId, this.resourceId)) throw new ChatError("unauthorized", "The identity does not belong to this resource.");
    await this.store.transaction(async (tx) => {
      const user = await tx.getUser(userId);
      if (!user) throw new ChatError("notFound", "The identity was not found.");
      // The customId is released with the identity: creating with it again makes a new identity.
      if (user.deletedAt === null) await tx.updateUser(userId, { deletedAt: this.now(), tokenGeneration: user.tokenGeneration + 1, customId: null });
    });
    await this.bus.publish(CONTROL_TOPIC, { type: TOKENS_REVOKED, data: { userId } });
  }
}
