// Pure mapping of a domain ChatEvent to the Trouter notification body that Azure's signaling client
// (@azure/communication-signaling beta.29 and beta.34) turns into ChatClient events: numeric eventIds,
// Skype-style field names, MRI (raw id) strings, ISO dates, and escape()-encoded JSON for thread fields.
// Field list: the Trouter protocol note, §5. No I/O, no clock.
import type { AcsChatEvent, AcsChatEventType } from "../../domain/events.js";
import type { AttachmentRef, MessageRecord, ParticipantSnapshot, RetentionRecord, ThreadRecord } from "../../store/store.js";

/** The `eventId` the signaling client matches (with `!==`, so it must be a number) for each event. */
export const TROUTER_EVENT_IDS = {
  chatMessageReceived: 200,
  typingIndicatorReceived: 245,
  readReceiptReceived: 246,
  chatMessageEdited: 247,
  chatMessageDeleted: 248,
  chatThreadCreated: 257,
  chatThreadPropertiesUpdated: 258,
  chatThreadDeleted: 259,
  participantsAdded: 260,
  participantsRemoved: 261,
} as const satisfies Record<AcsChatEventType, number>;

/** A notification body before its second JSON serialisation: string fields plus the numeric eventId. */
export type TrouterPayload = { eventId: number } & Record<string, string | number>;

const time = (ms: number) => new Date(ms).toISOString();

const UNESCAPED = /[A-Za-z0-9@*_+\-./]/;

/**
 * JavaScript's legacy `escape()`: the client reads thread fields with `JSON.parse(unescape(x))`, so they
 * must be produced with exactly these semantics (`%XX` below U+0100, `%uXXXX` above, per UTF-16 unit).
 */
export function jsEscape(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (UNESCAPED.test(ch)) {
      out += ch;
      continue;
    }
    const code = text.charCodeAt(i);
    out += code < 256 ? `%${code.toString(16).toUpperCase().padStart(2, "0")}` : `%u${code.toString(16).toUpperCase().padStart(4, "0")}`;
  }
  return out;
}

/** ACS event spelling of a message type (REST says "text"/"html"; ACS events say "Text"/"RichText/Html"). */
function messageType(type: MessageRecord["type"]): string {
  switch (type) {
    case "text":
      return "Text";
    case "html":
      return "RichText/Html";
    default:
      return type;
  }
}

const hasEntries = (record: Record<string, string> | null | undefined): record is Record<string, string> =>
  !!record && Object.keys(record).length > 0;

interface ParticipantJson {
  participantId: string;
  displayName: string;
  shareHistoryTime: string;
  memberMetaData?: string;
}

function participant(p: ParticipantSnapshot): ParticipantJson {
  // shareHistoryTime is always present (as in REST): beta.29 builds `new Date(x)` from it unconditionally.
  const json: ParticipantJson = { participantId: p.userId, displayName: p.displayName ?? "", shareHistoryTime: time(p.shareHistoryTime) };
  if (hasEntries(p.metadata)) json.memberMetaData = JSON.stringify(p.metadata);
  return json;
}

/** The actor of a thread event, with the name we know from `known` (else an empty name). */
function actor(rawId: string, known: ParticipantSnapshot[] = []): ParticipantJson {
  const p = known.find((k) => k.userId === rawId);
  return participant(p ?? { userId: rawId, displayName: null, shareHistoryTime: 0, metadata: null });
}

function retentionJson(r: RetentionRecord | null): string | undefined {
  if (r?.kind !== "threadCreationDate") return undefined;
  return JSON.stringify({ retentionPolicyType: "DeleteAfterCreationTime", executeAfter: `${r.deleteThreadAfterDays}.00:00:00` });
}

function properties(t: ThreadRecord): Record<string, string> {
  const props: Record<string, string> = { topic: t.topic };
  if (hasEntries(t.metadata)) props.acsChatThreadMetadata = JSON.stringify(t.metadata);
  const retention = retentionJson(t.retention);
  if (retention) props.retentionPolicy = retention;
  return props;
}

const esc = (value: unknown) => jsEscape(JSON.stringify(value));

function message(eventId: number, event: AcsChatEvent & { message: MessageRecord }, recipient: string): TrouterPayload {
  const m = event.message;
  return {
    eventId,
    groupId: event.threadId,
    senderId: m.sender ?? event.actor,
    recipientMri: recipient,
    messageId: m.id,
    clientMessageId: "",
    senderDisplayName: m.senderDisplayName ?? "",
    messageType: messageType(m.type),
    messageBody: m.body.message ?? "",
    version: String(m.version),
    originalArrivalTime: time(m.createdAt),
    acsChatMessageMetadata: JSON.stringify(m.metadata ?? {}),
    attachments: JSON.stringify((m.body.attachments ?? []).map((a) => attachment(m.threadId, a))),
  };
}

/**
 * A message's image attachment as the signaling client reads it (a JSON string of ChatAttachment): the view URLs
 * are relative, and the client makes them absolute on its own endpoint with its own api-version (the chat
 * previews that define images; SDK 1.6.0-beta.7 uses 2024-06-05-preview).
 */
function attachment(threadId: string, a: AttachmentRef): Record<string, string> {
  const base = `/chat/threads/${encodeURIComponent(threadId)}/images/${encodeURIComponent(a.id)}/view`;
  const wire: Record<string, string> = { id: a.id, attachmentType: a.type };
  if (a.name !== null) wire.name = a.name;
  wire.url = `${base}/original`;
  wire.previewUrl = `${base}/small`;
  return wire;
}

/** The notification body `recipient` (a raw id) receives for `event`. */
export function toTrouterPayload(event: AcsChatEvent, recipient: string): TrouterPayload {
  const eventId = TROUTER_EVENT_IDS[event.type];
  switch (event.type) {
    case "chatMessageReceived":
      return message(eventId, event, recipient);
    case "chatMessageEdited":
      return { ...message(eventId, event, recipient), edittime: time(event.message.editedAt ?? event.at) };
    case "chatMessageDeleted": {
      const { messageBody: _body, acsChatMessageMetadata: _metadata, attachments: _attachments, ...rest } = message(eventId, event, recipient);
      return { ...rest, deletetime: time(event.message.deletedAt ?? event.at) };
    }
    case "typingIndicatorReceived":
      return {
        eventId,
        groupId: event.threadId,
        senderId: event.actor,
        recipientMri: recipient,
        version: String(event.at),
        senderDisplayName: event.senderDisplayName ?? "",
        originalArrivalTime: time(event.at),
      };
    case "readReceiptReceived": {
      const r = event.receipt;
      const visibility = Number(r.messageId);
      return {
        eventId,
        groupId: event.threadId,
        senderId: r.userId,
        recipientMri: recipient,
        messageId: r.messageId,
        clientMessageId: "",
        senderDisplayName: "",
        messageBody: JSON.stringify({
          user: r.userId,
          consumptionhorizon: `${r.messageId};${r.readAt};${r.messageId}`,
          messageVisibilityTime: Number.isFinite(visibility) ? visibility : 0,
          version: r.messageId,
        }),
      };
    }
    case "chatThreadCreated":
      return {
        eventId,
        threadId: event.threadId,
        version: String(event.at),
        createTime: time(event.thread.createdAt),
        createdBy: esc(actor(event.actor, event.participants)),
        members: esc(event.participants.map(participant)),
        properties: esc(properties(event.thread)),
      };
    case "chatThreadPropertiesUpdated":
      return {
        eventId,
        threadId: event.threadId,
        version: String(event.at),
        editTime: time(event.at),
        editedBy: esc(actor(event.actor)),
        properties: esc(properties(event.thread)),
      };
    case "chatThreadDeleted": {
      // A retention purge carries reason "deletedByPolicy" (durable since the event stream has it; older nodes
      // published it without a position, which still reads as a purge).
      const byPolicy = (event as { reason?: string }).reason === "deletedByPolicy" || event.position === undefined;
      return {
        eventId,
        threadId: event.threadId,
        version: String(event.at),
        deleteTime: time(event.at),
        // Always present: beta.29 parses it unconditionally (beta.34 ignores it for deletedByPolicy).
        deletedBy: esc(actor(event.actor)),
        reason: byPolicy ? "deletedByPolicy" : "deletedByUser",
      };
    }
    case "participantsAdded":
      return {
        eventId,
        threadId: event.threadId,
        version: String(event.at),
        time: time(event.at),
        addedBy: esc(actor(event.actor, event.participants)),
        participantsAdded: esc(event.participants.map(participant)),
      };
    case "participantsRemoved":
      return {
        eventId,
        threadId: event.threadId,
        version: String(event.at),
        time: time(event.at),
        removedBy: esc(actor(event.actor, event.participants)),
        participantsRemoved: esc(event.participants.map(participant)),
      };
  }
}
