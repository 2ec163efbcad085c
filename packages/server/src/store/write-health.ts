// Whether the Store can write: marked failing by a write that ran out of space (a full disk, a database size
// limit), and cleared by a write probe that succeeds. /healthz answers 503 while it is failing.
import { randomUUID } from "node:crypto";
import type { Store } from "./store.js";
import { isStorageFullError } from "./unavailable.js";

const PROBE_BODY = "x".repeat(64 * 1024);

export class WriteHealth {
  private failing = false;

  constructor(private readonly store: Store) {}

  /** Notes a failed operation: one that failed for lack of space marks the Store as unable to write. */
  noteError(error: unknown): void {
    if (isStorageFullError(error)) this.failing = true;
  }

  /**
   * True when the Store can write. While marked failing, each call probes with a real write that needs room
   * for the largest message and its event (a 64 KiB idempotency record dated 1970, which the next housekeeping
   * deletes); success clears the mark.
   */
  async writable(): Promise<boolean> {
    if (!this.failing) return true;
    try {
      await this.store.transaction((tx) =>
        tx.insertIdempotency({ scope: "natter:write-probe", key: randomUUID(), fingerprint: "", status: 0, body: PROBE_BODY, createdAt: 0 }),
      );
      this.failing = false;
      return true;
    } catch (error) {
      if (!isStorageFullError(error)) throw error;
      return false;
    }
  }
}
