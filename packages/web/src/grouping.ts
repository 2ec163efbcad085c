// Message grouping: a user message that follows one from the same sender shortly after, with nothing in
// between, continues that sender's group, so the list does not repeat the name and avatar.
import type { ChatMessage } from "@natter/communication-chat";
import { isUserMessage, rawId } from "./model";

/** How long after the previous message from the same sender a message still joins its group. */
export const GROUP_WINDOW_MS = 5 * 60_000;

/** Whether `message` continues the group of `previous` (the message shown just before it). */
export function continuesGroup(previous: ChatMessage | undefined, message: ChatMessage): boolean {
  if (!previous || !isUserMessage(previous) || !isUserMessage(message)) return false;
  const sender = rawId(message.sender);
  if (!sender || rawId(previous.sender) !== sender) return false;
  const gap = message.createdOn.getTime() - previous.createdOn.getTime();
  return gap >= 0 && gap <= GROUP_WINDOW_MS && previous.createdOn.toDateString() === message.createdOn.toDateString();
}
