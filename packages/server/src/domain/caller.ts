// Who is calling, and what their token's scopes allow (ACS chat scope table, contract §2.8).
import { ChatError } from "./errors.js";

export interface Caller {
  /** ACS raw id of the user. */
  userId: string;
  /** Scopes of the access token, e.g. ["chat", "voip"]. */
  scopes: readonly string[];
}

/** What a chat operation needs from the token. */
export type Capability = "participate" | "manageParticipants" | "manageThread";

const ALLOWED: Record<Capability, readonly string[]> = {
  participate: ["chat", "chat.join", "chat.join.limited"],
  manageParticipants: ["chat", "chat.join"],
  manageThread: ["chat"],
};

/** Whether the token's scopes allow `capability` (the rule requireCapability enforces). */
export function hasCapability(caller: Caller, capability: Capability): boolean {
  return caller.scopes.some((s) => ALLOWED[capability].includes(s));
}

export function requireCapability(caller: Caller, capability: Capability): void {
  if (!hasCapability(caller, capability)) {
    throw new ChatError("forbidden", "The access token's scopes do not allow this operation.");
  }
}
