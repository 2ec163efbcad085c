// Demo sign-in and the user directory: a display name maps to one user of this resource. It stands in for
// an application's own sign-in and token service (the ACS pattern), for the web app and local development.
import type { DirectoryOps, ProfileRecord, UserRecord } from "../store/store.js";
import { ChatError, validationError } from "./errors.js";
import type { IdentityService } from "./identity-service.js";

export const DISPLAY_NAME_MAX = 64;

export class DirectoryService {
  constructor(
    private readonly directory: DirectoryOps,
    private readonly identity: IdentityService,
    private readonly now: () => number = Date.now,
  ) {}

  /** The user behind `displayName`, created on first use. */
  async signIn(displayName: string): Promise<{ user: UserRecord; profile: ProfileRecord }> {
    const name = displayName.trim().replace(/\s+/g, " ");
    if (name.length === 0 || name.length > DISPLAY_NAME_MAX || /\p{C}/u.test(name)) {
      throw validationError(`displayName must be 1 to ${DISPLAY_NAME_MAX} printable characters.`, "displayName");
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      const existing = await this.directory.findProfileByName(name);
      if (existing) {
        const user = await this.identity.findUser(existing.userId);
        if (!user || user.deletedAt !== null) throw new ChatError("conflict", "This display name belongs to a deleted user.");
        return { user, profile: existing };
      }
      const user = await this.identity.createUser();
      const profile: ProfileRecord = { userId: user.id, displayName: name, createdAt: this.now() };
      try {
        await this.directory.insertProfile(profile);
        return { user, profile };
      } catch {
        // Someone signed in with the same name at the same moment: use theirs.
      }
    }
    throw new ChatError("conflict", "This display name is being taken; try again.");
  }

  async list(limit: number, afterName?: string): Promise<ProfileRecord[]> {
    return this.directory.listProfiles(Math.min(Math.max(limit, 1), 200), afterName);
  }
}
