// "Seen by" under the user's newest own message, from the participants' read receipts.
import type { ChatMessage } from "@natter/communication-chat";
import { isUserMessage, rawId } from "./model";

export interface Receipt {
  messageId: string;
  readOn: Date;
}

/** "Seen by" belongs under the user's newest own message: everyone else whose receipt reaches it. */
export function computeSeenBy(messages: ChatMessage[], receipts: Map<string, Receipt>, me: string, names: Map<string, string>): { messageId: string; names: string[] } | undefined {
  let ownIndex = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (isUserMessage(m) && !m.deletedOn && rawId(m.sender) === me) {
      ownIndex = i;
      break;
    }
  }
  if (ownIndex < 0) return undefined;
  const own = messages[ownIndex];
  const seen: string[] = [];
  for (const [reader, receipt] of receipts) {
    if (reader === me) continue;
    const index = messages.findIndex((m) => m.id === receipt.messageId);
    const reaches = index >= 0 ? index >= ownIndex : receipt.readOn >= own.createdOn;
    if (reaches) seen.push(names.get(reader) ?? "Someone");
  }
  return seen.length ? { messageId: own.id, names: seen.sort() } : undefined;
}
