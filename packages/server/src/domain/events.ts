// Chat events: what happened in a thread, who should hear of it, and whether it is durable (replayable).
import type { MessageRecord, ParticipantSnapshot, ReadReceiptRecord, ThreadRecord } from "../store/store.js";

interface Base {
  threadId: string;
  /** Epoch ms when it happened. */
  at: number;
  /** Raw id of the user who caused it. */
  actor: string;
  /** Stream position in the Store; absent for ephemeral events (typing). */
  position?: number;
  /**
   * When the thread was created (epoch ms), on the events that carry no thread record (deleted, participants
   * added/removed), for the server-side events' `createTime`. Absent on events appended before it existed.
   */
  threadCreatedAt?: number;
}

export type ChatEvent =
  | (Base & { type: "chatMessageReceived" | "chatMessageEdited" | "chatMessageDeleted"; message: MessageRecord })
  | (Base & { type: "typingIndicatorReceived"; senderDisplayName: string | null })
  | (Base & { type: "readReceiptReceived"; receipt: ReadReceiptRecord })
  | (Base & { type: "chatThreadCreated"; thread: ThreadRecord; participants: ParticipantSnapshot[] })
  | (Base & { type: "chatThreadPropertiesUpdated"; thread: ThreadRecord })
  /** `reason` is set when retention (the thread's policy) purged it; absent: a user deleted it. */
  | (Base & { type: "chatThreadDeleted"; reason?: "deletedByPolicy" })
  | (Base & { type: "participantsAdded" | "participantsRemoved"; participants: ParticipantSnapshot[] })
  /**
   * Natter extension, ephemeral, to one user (the actor): that user's unread counts of the thread changed through
   * their own action (a read receipt), so the user's other sessions update their badges. Only Natter's /realtime
   * protocol carries it (never Trouter).
   */
  | (Base & { type: "unreadCountChanged"; unreadCount: number; unreadMentionCount: number });

export type ChatEventType = ChatEvent["type"];

/** Events of Natter's extensions: Natter's /realtime protocol carries them; Trouter (Azure's SDK) never does. */
export type ExtensionEventType = "unreadCountChanged";
/** The events ACS defines (what Trouter carries). */
export type AcsChatEvent = Exclude<ChatEvent, { type: ExtensionEventType }>;
export type AcsChatEventType = AcsChatEvent["type"];

/** Whether an event is one ACS defines (false for the extensions' events). */
export function isAcsEvent(event: ChatEvent): event is AcsChatEvent {
  return event.type !== "unreadCountChanged";
}

/** Bus message type carrying one ChatEvent to a user's sockets. */
export const CHAT_EVENT = "chatEvent";

/**
 * The message a Bus subscriber receives. One message serves every recipient (Bus.publishMany): a subscriber of
 * a user's topic delivers it to that user.
 */
export interface ChatEventEnvelope {
  event: ChatEvent;
}
