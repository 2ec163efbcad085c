// "New conversation": a topic and participants picked from the user directory, in a modal <dialog>
// (focus stays inside; Escape cancels).
import { useEffect, useRef, useState } from "preact/hooks";
import type { ChatStore } from "./chat-store";
import type { DirectoryUser } from "./session";
import { listUsers } from "./session";
import { errorMessage, initials } from "./model";

/** Loads the directory (everyone but the signed-in user). */
export function useDirectory(store: ChatStore): { users: DirectoryUser[] | undefined; error: string | undefined } {
  const [users, setUsers] = useState<DirectoryUser[]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    let cancelled = false;
    listUsers(store.session.token).then(
      (all) => !cancelled && setUsers(all.filter((u) => u.userId !== store.me)),
      (e: unknown) => !cancelled && setError(errorMessage(e)),
    );
    return () => {
      cancelled = true;
    };
  }, [store]);
  return { users, error };
}

export function NewThreadDialog({ store, onClose }: { store: ChatStore; onClose: (threadId?: string) => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const { users, error: directoryError } = useDirectory(store);
  const [topic, setTopic] = useState("");
  const [filter, setFilter] = useState("");
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
  }, []);

  const toggle = (id: string) => {
    const next = new Set(picked);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setPicked(next);
  };

  const create = async () => {
    if (!topic.trim()) {
      setError("Give the conversation a topic.");
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const chosen = (users ?? []).filter((u) => picked.has(u.userId));
      const result = await store.client.createChatThread(
        { topic: topic.trim() },
        {
          participants: [
            { id: { communicationUserId: store.me }, displayName: store.session.displayName },
            ...chosen.map((u) => ({ id: { communicationUserId: u.userId }, displayName: u.displayName })),
          ],
        },
      );
      const id = result.chatThread?.id;
      if (!id) throw new Error("The service did not return the new conversation.");
      if (result.invalidParticipants?.length) {
        setError(`Some people could not be added: ${result.invalidParticipants.map((p) => p.target ?? p.message).join(", ")}`);
      }
      await store.loadThreads();
      dialog.current?.close();
      onClose(id);
    } catch (e) {
      setError(errorMessage(e));
      setBusy(false);
    }
  };

  const visible = (users ?? []).filter((u) => u.displayName.toLowerCase().includes(filter.trim().toLowerCase()));

  return (
    <dialog
      ref={dialog}
      class="dialog"
      aria-labelledby="new-thread-title"
      onCancel={(e) => {
        e.preventDefault();
        dialog.current?.close();
        onClose();
      }}
    >
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          void create();
        }}
      >
        <h2 id="new-thread-title">New conversation</h2>
        <label for="new-topic">Topic</label>
        <input id="new-topic" value={topic} maxLength={250} required autoFocus onInput={(e) => setTopic(e.currentTarget.value)} />
        <fieldset>
          <legend>
            Participants <span class="muted">({picked.size} selected)</span>
          </legend>
          {users === undefined && !directoryError && <p class="placeholder">Loading people…</p>}
          {directoryError && (
            <p class="error" role="alert">
              {directoryError}
            </p>
          )}
          {users && users.length === 0 && <p class="placeholder">Nobody else has signed in yet. You can add people later.</p>}
          {users && users.length > 0 && (
            <>
              <input type="search" class="filter" placeholder="Filter people" aria-label="Filter people" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
              <ul class="people-pick">
                {visible.map((u) => (
                  <li key={u.userId}>
                    <label>
                      <input type="checkbox" checked={picked.has(u.userId)} onChange={() => toggle(u.userId)} />
                      <span class="avatar small" aria-hidden="true">
                        {initials(u.displayName)}
                      </span>
                      {u.displayName}
                    </label>
                  </li>
                ))}
                {visible.length === 0 && <li class="placeholder">No match.</li>}
              </ul>
            </>
          )}
        </fieldset>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <div class="dialog-actions">
          <button
            type="button"
            onClick={() => {
              dialog.current?.close();
              onClose();
            }}
          >
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? "Creating…" : "Create"}
          </button>
        </div>
      </form>
    </dialog>
  );
}
