// Users of this resource: creation, deletion and token revocation (a per-user token generation).
import type { Bus } from "../bus/bus.js";
import { CONTROL_TOPIC } from "../bus/bus.js";
import type { Store, UserRecord } from "../store/store.js";
import { ChatError } from "./errors.js";
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
    const user: UserRecord = { id: newAcsUserId(this.resourceId), createdAt: this.now(), deletedAt: null, tokenGeneration: 0 };
    await this.store.transaction((tx) => tx.insertUser(user));
    return user;
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
      if (user.deletedAt === null) await tx.updateUser(userId, { deletedAt: this.now(), tokenGeneration: user.tokenGeneration + 1 });
    });
    await this.bus.publish(CONTROL_TOPIC, { type: TOKENS_REVOKED, data: { userId } });
  }
}
