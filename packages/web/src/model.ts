// Small pure helpers: identifiers, message shapes from events, ordering, safe HTML, time formatting.
import DOMPurify from "dompurify";
import type { ChatMessage, ChatMessageReceivedEvent, ChatMessageType } from "@natter/communication-chat";
import type { CommunicationIdentifier } from "@natter/communication-common";
import { getIdentifierRawId } from "@natter/communication-common";

/** A raw id for any identifier (undefined stays undefined). */
export function rawId(id: CommunicationIdentifier | undefined): string | undefined {
  return id ? getIdentifierRawId(id) : undefined;
}

/** "Text" / "RichText/Html" (event spelling) → the SDK's message type. */
export function eventMessageType(type: string): ChatMessageType {
  const t = type.toLowerCase();
  if (t === "richtext/html" || t === "html") return "html";
  return "text";
}

/** A ChatMessage from a chatMessageReceived event (no sequenceId: the next list call fills it in). */
export function messageFromEvent(e: ChatMessageReceivedEvent): ChatMessage {
  return {
    id: e.id,
    type: eventMessageType(e.type),
    sequenceId: "",
    version: e.version,
    content: { message: e.message, attachments: e.attachments },
    senderDisplayName: e.senderDisplayName,
    createdOn: e.createdOn,
    sender: e.sender,
    metadata: e.metadata,
  };
}

/** Whether a message is a user message (not a system message). */
export function isUserMessage(m: ChatMessage): boolean {
  return m.type === "text" || m.type === "html";
}

/** Oldest first: by sequence id when both have one, else by arrival time. */
export function compareMessages(a: ChatMessage, b: ChatMessage): number {
  if (a.sequenceId && b.sequenceId) return Number(a.sequenceId) - Number(b.sequenceId);
  const byTime = a.createdOn.getTime() - b.createdOn.getTime();
  return byTime !== 0 ? byTime : a.id.localeCompare(b.id);
}

/** Merges messages into a list by id (newer data wins unless it is less complete), oldest first. */
export function mergeMessages(current: ChatMessage[], incoming: ChatMessage[]): ChatMessage[] {
  const byId = new Map(current.map((m) => [m.id, m]));
  for (const m of incoming) {
    const old = byId.get(m.id);
    if (!old) {
      byId.set(m.id, m);
      continue;
    }
    const merged: ChatMessage = { ...old, ...m, sequenceId: m.sequenceId || old.sequenceId };
    // A late, older snapshot must not undo an edit or a delete we already know about.
    if (old.deletedOn && !m.deletedOn) merged.deletedOn = old.deletedOn;
    if (Number(old.version) > Number(m.version) && !m.deletedOn) {
      merged.content = old.content;
      merged.editedOn = old.editedOn;
      merged.version = old.version;
    }
    byId.set(m.id, merged);
  }
  return [...byId.values()].sort(compareMessages);
}

/** One-line preview of a message for the thread list. */
export function previewText(m: ChatMessage): string {
  if (m.deletedOn) return "Message deleted";
  const text = m.content?.message ?? "";
  if (m.type === "html") return htmlToText(text);
  return text;
}

function htmlToText(html: string): string {
  const doc = new DOMParser().parseFromString(sanitizeHtml(html), "text/html");
  return (doc.body.textContent ?? "").replace(/\s+/g, " ").trim();
}

/**
 * Renames inline event-handler attributes (onerror=...) before any parsing. Not a security measure (DOMPurify
 * removes them, and the CSP would block them anyway): Chromium reports a CSP violation on the console as
 * soon as a page with a CSP merely parses such an attribute, even in an inert document.
 */
function defuseHandlers(html: string): string {
  return html.replace(/<[^<>]*>/g, (tag) => tag.replace(/([\s/"'])on([a-z]+\s*=)/gi, "$1data-defused-on$2"));
}

let hooked = false;
/**
 * Sanitizes message HTML with DOMPurify. Also drops what the page's CSP would refuse (and report as
 * console errors): style attributes and elements, and images that are not same-origin or data: URLs.
 * Links open in a new tab without referrer.
 */
export function sanitizeHtml(html: string, me?: string): string {
  if (!hooked) {
    hooked = true;
    // A mention keeps its id through sanitizing in an attribute only mention tags may carry (see withMentions).
    DOMPurify.addHook("beforeSanitizeAttributes", (node) => {
      if (node.nodeName === "MSFT-MENTION") node.setAttribute(MENTION_ID_ATTR, node.getAttribute("id") ?? "");
      else if (node.hasAttribute?.(MENTION_ID_ATTR)) node.removeAttribute(MENTION_ID_ATTR);
    });
    DOMPurify.addHook("afterSanitizeAttributes", (node) => {
      if (node.tagName === "A") {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer");
      }
      if (node.tagName === "IMG") {
        const src = node.getAttribute("src") ?? "";
        let ok = src.startsWith("data:image/");
        try {
          ok ||= new URL(src, window.location.href).origin === window.location.origin;
        } catch {
          ok = false;
        }
        if (!ok) node.remove();
      }
    });
  }
  const config = {
    USE_PROFILES: { html: true },
    ALLOW_DATA_ATTR: false,
    FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select"],
    FORBID_ATTR: ["style", "class", "id"],
  };
  if (me === undefined || !/msft-mention/i.test(html)) return DOMPurify.sanitize(defuseHandlers(html), config);
  return withMentions(DOMPurify.sanitize(defuseHandlers(html), { ...config, ADD_TAGS: ["msft-mention"], ADD_ATTR: [MENTION_ID_ATTR] }), me);
}

const MENTION_ID_ATTR = "natter-mention-id";

/**
 * Sanitized html whose `<msft-mention>` tags become highlighted spans (`mention`, plus `mention-me` for the
 * user): classes are set here, after sanitizing, on elements this code creates.
 */
function withMentions(sanitized: string, me: string): string {
  const doc = new DOMParser().parseFromString(`<body>${sanitized}</body>`, "text/html");
  for (const tag of [...doc.body.querySelectorAll("msft-mention")]) {
    const span = doc.createElement("span");
    span.className = tag.getAttribute(MENTION_ID_ATTR) === me ? "mention mention-me" : "mention";
    span.textContent = `@${tag.textContent ?? ""}`;
    tag.replaceWith(span);
  }
  return doc.body.innerHTML;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** "14:05" today, "Mar 3" otherwise. */
export function shortTime(date: Date | undefined): string {
  if (!date) return "";
  const now = new Date();
  return date.toDateString() === now.toDateString() ? timeFormat.format(date) : dateFormat.format(date);
}

export function fullTime(date: Date): string {
  return fullFormat.format(date);
}

/** Initials for an avatar. */
export function initials(name: string | undefined): string {
  const parts = (name ?? "?").trim().split(/\s+/).filter(Boolean);
  return ((parts[0]?.[0] ?? "?") + (parts.length > 1 ? parts[parts.length - 1][0] : "")).toUpperCase();
}

/** A human message for any error. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
