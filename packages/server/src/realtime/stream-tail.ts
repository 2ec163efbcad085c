// The node's window on the newest part of the Store's event stream, shared by every socket of the node: a
// message to a 250-member thread is read once per node instead of once per recipient socket.
//
// Why it keeps the gap-free guarantee: the window holds *every* event with a position in (from, to], read
// from the global stream in position order, and `to` never passes the Store's head, below which no event can
// appear later (Store guarantee; on PostgreSQL the head waits for older transactions to end).
// So for any user, the window's events addressed to them are exactly what `readEvents(user, cursor)` would
// return for that range. A socket whose cursor is below `from` reads the Store itself (replay), as before.
import type { EventRecord, Store, StreamEvent } from "../store/store.js";

interface TailEvent extends StreamEvent {
  recipients: Set<string>;
}

const PAGE = 500;

export class StreamTail {
  /** Events with positions in (from, to], all of them, oldest first; undefined until started. */
  private from?: number;
  private to = 0;
  private events: TailEvent[] = [];
  private recipientEntries = 0;
  private reading?: Promise<void>;
  /** Stores may return one array per recipient set for all its events: build its Set once. */
  private readonly recipientSets = new WeakMap<readonly string[], Set<string>>();
  private readAgain = false;
  /** A caller asked for the head as of its call (no wake-up position): the next round reads the Store's head. */
  private wantHead = false;
  /** The highest wake-up position callers asked the window to reach. */
  private wanted = 0;

  constructor(
    private readonly store: Store,
    /**
     * Bounds on memory: the oldest events leave the window first. Recipient entries are counted per event even
     * when events share one Set (SQLite's recipient sets): an upper bound, so with 250-member threads the
     * window holds about 800 events; sockets further behind read the Store.
     */
    private readonly maxEvents = 2_000,
    private readonly maxRecipientEntries = 200_000,
  ) {}

  /**
   * The events for `userId` after `cursor`, once the window reaches at least `atLeast` (when given) or the
   * head of the stream as of this call; `upTo` is the position the caller's cursor may advance to. Undefined
   * when the window does not cover `cursor` (the caller reads the Store instead).
   */
  async after(userId: string, cursor: number, atLeast?: number): Promise<{ events: StreamEvent[]; upTo: number } | undefined> {
    if (this.from === undefined) {
      await this.refresh();
      if (this.from === undefined) return undefined;
    }
    // A read already in flight may bring `atLeast` in (a message to 250 sockets wakes them all at once).
    if (atLeast !== undefined && atLeast > this.to && this.reading) await this.reading.catch(() => undefined);
    if (atLeast === undefined || atLeast > this.to) await this.refresh(atLeast);
    return this.collect(userId, cursor);
  }

  /**
   * The next events for `userId` after `cursor`, for a socket's read loop: from the window when it covers
   * `cursor` (once it reaches `atLeast`), else one Store page of at most `pageSize` (replay). `upTo` is where the
   * cursor may advance; `more` asks the caller to read again: the page was full, or a short page reached the
   * window's start (everything at or below it was visible before the page was read, so the cursor may skip to
   * it and continue from the window).
   */
  async read(userId: string, cursor: number, atLeast: number | undefined, pageSize: number): Promise<{ events: StreamEvent[]; upTo: number; more: boolean }> {
    const live = await this.after(userId, cursor, atLeast);
    if (live) return { ...live, more: false };
    const floor = this.from;
    const page = await this.store.readEvents(userId, cursor, pageSize);
    const last = page.at(-1)?.position ?? cursor;
    if (page.length === pageSize || floor === undefined) return { events: page, upTo: last, more: page.length === pageSize };
    return { events: page, upTo: Math.max(last, floor), more: true };
  }

  /**
   * `after` without a read: the answer when the window already reaches `atLeast` and covers `cursor`, else
   * undefined (the caller takes the async path). A batch of woken sockets shares one read (`reach`), then
   * each is served synchronously.
   */
  peek(userId: string, cursor: number, atLeast: number): { events: StreamEvent[]; upTo: number } | undefined {
    if (this.from === undefined || atLeast > this.to) return undefined;
    return this.collect(userId, cursor);
  }

  /** True when the window holds every event up to `position`. */
  reaches(position: number): boolean {
    return this.from !== undefined && position <= this.to;
  }

  /** Reads until the window reaches `position` (or the head). */
  async reach(position: number): Promise<void> {
    if (!this.reaches(position)) await this.refresh(position);
  }

  private collect(userId: string, cursor: number): { events: StreamEvent[]; upTo: number } | undefined {
    if (this.from === undefined || cursor < this.from) return undefined;
    const events: StreamEvent[] = [];
    for (let i = this.firstAfter(cursor); i < this.events.length; i++) {
      const e = this.events[i];
      if (e.recipients.has(userId)) events.push(e);
    }
    return { events, upTo: Math.max(cursor, this.to) };
  }

  /** Index of the first event with a position above `cursor` (binary search: a live socket is near the end). */
  private firstAfter(cursor: number): number {
    let lo = 0;
    let hi = this.events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.events[mid].position <= cursor) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The lowest cursor the window can serve (a Store read that came back short may advance to it). */
  start(): number | undefined {
    return this.from;
  }

  /**
   * Reads what is new in the stream until the window reaches `target` (a wake-up's position) or, without one,
   * the Store's head as of this call; concurrent callers share one read loop (and ask for one more round).
   * The Store's head is asked for only when the stream read alone did not reach the wanted position: on
   * PostgreSQL it may wait for older transactions, and a live wake-up's event is usually already readable.
   */
  private refresh(target?: number): Promise<void> {
    if (target === undefined) this.wantHead = true;
    else this.wanted = Math.max(this.wanted, target);
    if (this.reading) {
      this.readAgain = true;
      return this.reading.catch(() => undefined);
    }
    this.reading = (async () => {
      try {
        do {
          this.readAgain = false;
          if (this.from !== undefined && !this.wantHead) {
            // Every event the stream returns is final (the Store's guarantee), so the window may end at the last one.
            await this.readPages();
            if (this.to >= this.wanted) continue;
          }
          this.wantHead = false;
          // The head first: it covers every event committed before this read (so a wake-up's position), and
          // nothing at or below it appears later; the pages read after it hold every event up to it.
          const head = await this.store.headPosition();
          if (this.from === undefined) {
            this.to = head;
            this.from = head;
          }
          await this.readPages();
          if (head > this.to) this.to = head;
        } while (this.readAgain);
      } catch (error) {
        // Forget the window: sockets fall back to their own Store reads (which report the failure).
        this.reset();
        throw error;
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading.catch(() => undefined);
  }

  private async readPages(): Promise<void> {
    for (;;) {
      const page = await this.store.readStream(this.to, PAGE);
      for (const e of page) this.append(e);
      if (page.length < PAGE) return;
    }
  }

  private append(e: EventRecord): void {
    if (e.position <= this.to) return;
    let recipients = this.recipientSets.get(e.recipients);
    if (!recipients) this.recipientSets.set(e.recipients, (recipients = new Set(e.recipients)));
    this.events.push({ position: e.position, threadId: e.threadId, type: e.type, payload: e.payload, createdAt: e.createdAt, recipients });
    this.recipientEntries += e.recipients.length;
    this.to = e.position;
    while (this.events.length > this.maxEvents || (this.recipientEntries > this.maxRecipientEntries && this.events.length > 1)) {
      const dropped = this.events.shift()!;
      this.recipientEntries -= dropped.recipients.size;
      this.from = dropped.position;
    }
  }

  private reset(): void {
    this.from = undefined;
    this.to = 0;
    this.events = [];
    this.recipientEntries = 0;
  }
}
