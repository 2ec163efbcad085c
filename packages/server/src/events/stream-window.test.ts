// The engine's shared stream window answers exactly what the Store's readStream answers, for any cursor and
// limit, while events keep being appended (a real SqliteStore).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../store/sqlite/sqlite-store.js";
import { StreamWindow } from "./delivery-engine.js";

describe("StreamWindow", () => {
  it("reads like the Store for random cursors and limits, growing and trimming", async () => {
    const dir = mkdtempSync(join(tmpdir(), "natter-window-"));
    const store = new SqliteStore(join(dir, "natter.db"));
    try {
      await store.migrate();
      const window = new StreamWindow(store, 50);
      let seed = 7;
      const random = (n: number) => (seed = (seed * 48271) % 2147483647) % n;
      for (let round = 0; round < 40; round++) {
        for (let i = random(10); i > 0; i--) {
          await store.transaction((tx) => tx.appendEvent({ threadId: "t", type: "chatMessageReceived", recipients: ["8:acs:a"], payload: { round, i }, createdAt: round }));
        }
        const head = await store.headPosition();
        for (let k = 0; k < 5; k++) {
          const after = random(head + 2);
          const limit = 1 + random(30);
          const got = (await window.read(after, limit)).map((e) => e.position);
          const want = (await store.readStream(after, limit)).map((e) => e.position);
          // The window may answer with fewer (what it holds); never a different or a skipped event.
          assert.deepEqual(got, want.slice(0, got.length), `after ${after} limit ${limit}`);
          if (want.length > 0) assert.ok(got.length > 0, "never empty while the Store has more");
        }
      }
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
