// Request objects of the chat API (the first argument of createChatThread, sendMessage, addParticipants,
// sendReadReceipt), mirroring @azure/communication-chat.
import type { ChatParticipant } from "./models.js";

/** Request of createChatThread. */
export interface CreateChatThreadRequest {
  /** The thread topic. */
  topic: string;
}

/** Request of sendMessage. */
export interface SendMessageRequest {
  /** The message content. */
  content: string;
}

/** Request of addParticipants. */
export interface AddParticipantsRequest {
  /** Participants to add. */
  participants: ChatParticipant[];
}

/** Request of sendReadReceipt. */
export interface SendReadReceiptRequest {
  /** Id of the latest message read by the user. */
  chatMessageId: string;
}
