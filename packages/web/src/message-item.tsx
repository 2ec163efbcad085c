// One message of the list: a user message (own ones can be edited and deleted; html sanitized, mentions
// highlighted) or a system message (joins, leaves, topic changes).
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { ChatMessage } from "@natter/communication-chat";
import { fullTime, initials, rawId, sanitizeHtml, shortTime } from "./model";
import { linkify } from "./linkify";

export interface MessageProps {
  message: ChatMessage;
  /** The user's raw id: mentions of the user are highlighted. */
  me: string;
  own: boolean;
  /** Follows a message from the same sender: no avatar, and the name only for screen readers. */
  continued: boolean;
  seenBy: string[] | undefined;
  editing: boolean;
  onEdit: () => void;
  onCancelEdit: () => void;
  onSave: (text: string) => Promise<void>;
  onDelete: () => Promise<void>;
}

export function MessageItem({ message: m, me, own, continued, seenBy, editing, onEdit, onCancelEdit, onSave, onDelete }: MessageProps) {
  const [confirmDelete, setConfirmDelete] = useState(false);
  const html = useMemo(() => (m.type === "html" && !m.deletedOn ? sanitizeHtml(m.content?.message ?? "", me) : undefined), [m.type, m.deletedOn, m.content?.message, me]);
  const editButton = useRef<HTMLButtonElement>(null);
  const sender = own ? "You" : (m.senderDisplayName ?? "Someone");
  const mentionsMe = !own && !m.deletedOn && (m.mentions ?? []).some((id) => rawId(id) === me);
  return (
    <li
      class={`message ${own ? "own" : "other"}${continued ? " continued" : ""}${m.deletedOn ? " deleted" : ""}${mentionsMe ? " mentions-me" : ""}`}
      data-message-id={m.id}
    >
      {!own &&
        (continued ? (
          <span class="avatar-gap" aria-hidden="true" />
        ) : (
          <span class="avatar small" aria-hidden="true">
            {initials(m.senderDisplayName)}
          </span>
        ))}
      <div class="bubble">
        <div class="meta">
          <span class={continued ? "sender visually-hidden" : "sender"}>{sender}</span>
          <time dateTime={m.createdOn.toISOString()} title={fullTime(m.createdOn)}>
            {shortTime(m.createdOn)}
          </time>
          {m.editedOn && !m.deletedOn && <span class="edited">(edited)</span>}
          {mentionsMe && <span class="mention-flag">mentioned you</span>}
        </div>
        {m.deletedOn ? (
          <p class="content deleted-text">This message was deleted.</p>
        ) : editing ? (
          <EditBox initial={m.content?.message ?? ""} onSave={onSave} onCancel={onCancelEdit} />
        ) : html !== undefined ? (
          <div class="content html" dangerouslySetInnerHTML={{ __html: html }} />
        ) : (
          <p class="content">{linkify(m.content?.message ?? "")}</p>
        )}
        {own && !m.deletedOn && !editing && (
          <div class="actions">
            {confirmDelete ? (
              <>
                <span>Delete this message?</span>
                <button type="button" class="danger" onClick={() => void onDelete()}>
                  Delete
                </button>
                <button
                  type="button"
                  onClick={() => {
                    setConfirmDelete(false);
                    editButton.current?.focus();
                  }}
                >
                  Keep
                </button>
              </>
            ) : (
              <>
                {m.type === "text" && (
                  <button type="button" class="ghost" ref={editButton} onClick={onEdit} aria-label={`Edit message: ${m.content?.message ?? ""}`}>
                    Edit
                  </button>
                )}
                <button type="button" class="ghost" onClick={() => setConfirmDelete(true)} aria-label={`Delete message: ${m.content?.message ?? ""}`}>
                  Delete
                </button>
              </>
            )}
          </div>
        )}
        {seenBy && <p class="seen-by">Seen by {seenBy.join(", ")}</p>}
      </div>
    </li>
  );
}

function EditBox({ initial, onSave, onCancel }: { initial: string; onSave: (text: string) => Promise<void>; onCancel: () => void }) {
  const [value, setValue] = useState(initial);
  const area = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    const el = area.current;
    if (el) {
      el.focus();
      el.setSelectionRange(el.value.length, el.value.length);
    }
  }, []);
  const save = () => {
    const text = value.trim();
    if (!text) return;
    if (text === initial) onCancel();
    else void onSave(text);
  };
  return (
    <div class="edit-box">
      <textarea
        ref={area}
        value={value}
        rows={2}
        aria-label="Edit message"
        onInput={(e) => setValue(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Escape") {
            e.preventDefault();
            onCancel();
          } else if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            save();
          }
        }}
      />
      <div class="actions">
        <button type="button" class="primary" onClick={save}>
          Save
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <span class="muted hint">Enter to save, Escape to cancel</span>
      </div>
    </div>
  );
}

export function SystemMessage({ message: m, names, me }: { message: ChatMessage; names: Map<string, string>; me: string }) {
  const nameOf = (id: string | undefined, fallback?: string) => (id === me ? "You" : ((id && names.get(id)) ?? fallback ?? "Someone"));
  const initiatorId = rawId(m.content?.initiator);
  const initiator = nameOf(initiatorId);
  const people = (m.content?.participants ?? []).map((p) => ({ id: rawId(p.id), name: nameOf(rawId(p.id), p.displayName) }));
  const others = people.filter((p) => p.id !== initiatorId);
  let text: string;
  switch (m.type) {
    case "participantAdded":
      text = others.length === 0 ? `${initiator} joined` : `${initiator} added ${others.map((p) => p.name).join(", ")}`;
      break;
    case "participantRemoved":
      text = others.length === 0 ? `${initiator} left` : `${initiator} removed ${others.map((p) => p.name).join(", ")}`;
      break;
    case "topicUpdated":
      text = `${initiator} changed the topic to “${m.content?.topic ?? ""}”`;
      break;
    default:
      text = m.type;
  }
  return (
    <li class="system-message" data-message-id={m.id}>
      <span>{text}</span> <time dateTime={m.createdOn.toISOString()}>{shortTime(m.createdOn)}</time>
    </li>
  );
}
