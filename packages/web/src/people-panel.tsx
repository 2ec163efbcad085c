// The participants panel: who is in the conversation, remove someone, add someone from the directory, leave.
import { useState } from "preact/hooks";
import type { ChatParticipant } from "@natter/communication-chat";
import type { ChatStore } from "./chat-store";
import { useDirectory } from "./new-thread";
import { initials, rawId } from "./model";

export interface PeopleProps {
  store: ChatStore;
  threadId: string;
  participants: ChatParticipant[];
  onClose: () => void;
  onChanged: () => void;
  onLeave: () => void;
  fail: (e: unknown) => void;
}

export function PeoplePanel({ store, threadId, participants, onClose, onChanged, onLeave, fail }: PeopleProps) {
  const { users, error } = useDirectory(store);
  const [toAdd, setToAdd] = useState("");
  const [busy, setBusy] = useState(false);
  const client = store.thread(threadId);
  const inThread = new Set(participants.map((p) => rawId(p.id)));
  const candidates = (users ?? []).filter((u) => !inThread.has(u.userId));
  const act = async (action: () => Promise<unknown>) => {
    setBusy(true);
    try {
      await action();
      onChanged();
    } catch (e) {
      fail(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <aside class="people" id="people-panel" aria-label="People in this conversation">
      <div class="people-head">
        <h3>People</h3>
        <button type="button" class="ghost" onClick={onClose} aria-label="Close people panel">
          Close
        </button>
      </div>
      <ul class="people-list">
        {participants.map((p) => {
          const id = rawId(p.id);
          const mine = id === store.me;
          return (
            <li key={id}>
              <span class="avatar small" aria-hidden="true">
                {initials(p.displayName)}
              </span>
              <span class="person-name">
                {p.displayName ?? id}
                {mine && <span class="muted"> (you)</span>}
              </span>
              {mine ? (
                <button type="button" class="ghost" onClick={onLeave}>
                  Leave
                </button>
              ) : (
                <button type="button" class="ghost" disabled={busy} aria-label={`Remove ${p.displayName ?? id}`} onClick={() => void act(() => client.removeParticipant(p.id))}>
                  Remove
                </button>
              )}
            </li>
          );
        })}
      </ul>
      <form
        class="add-person"
        onSubmit={(e) => {
          e.preventDefault();
          const user = candidates.find((u) => u.userId === toAdd);
          if (!user) return;
          void act(async () => {
            const result = await client.addParticipants({
              participants: [{ id: { communicationUserId: user.userId }, displayName: user.displayName, shareHistoryTime: new Date(0) }],
            });
            if (result.invalidParticipants?.length) throw new Error(`Could not add ${user.displayName}.`);
            setToAdd("");
          });
        }}
      >
        <label for="add-person">Add someone</label>
        {error && <p class="error">{error}</p>}
        {users === undefined && !error && <p class="placeholder">Loading people…</p>}
        {users && candidates.length === 0 && <p class="placeholder">Everyone in the directory is already here.</p>}
        {candidates.length > 0 && (
          <div class="row">
            <select id="add-person" value={toAdd} onChange={(e) => setToAdd(e.currentTarget.value)}>
              <option value="">Choose a person…</option>
              {candidates.map((u) => (
                <option key={u.userId} value={u.userId}>
                  {u.displayName}
                </option>
              ))}
            </select>
            <button type="submit" class="primary" disabled={busy || !toAdd}>
              Add
            </button>
          </div>
        )}
      </form>
    </aside>
  );
}
