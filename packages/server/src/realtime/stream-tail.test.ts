// StreamTail against a real SQLite store: it serves exactly what readEvents would for cursors inside its window,
// reaches announced positions, and refuses (undefined) cursors its bounded window no longer covers.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../store/sqlite/sqlite-store.js";
import { StreamTail } from "./stream-tail.js";

describe("StreamTail", () => {
  let dir: string;
  let store: SqliteStore;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "natter-tail-"));
    store = new SqliteStore(join(dir, "natter.db"));
    await store.migrate();
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const append = (recipients: string[], n: number) =>
    store.transaction((tx) => tx.appendEvent({ threadId: "19:t@thread.v2", type: "chatMessageReceived", recipients, payload: { n }, createdAt: n }));

  it("serves what readEvents serves inside its window, and nothing from before it", async () => {
    const before = await append(["a"], 0); // before the tail starts: outside its window
    const tail = new StreamTail(store, 5);
    assert.deepEqual(await tail.after("a", 0), undefined, "a cursor below the window reads the Store");
    const start = tail.start()!;
    assert.equal(start, before);
    const positions: number[] = [];
    for (let n = 1; n <= 4; n++) positions.push(await append(n % 2 ? ["a", "b"] : ["b"], n));
    const served = await tail.after("a", start, positions[3]);
    assert.deepEqual(served?.events.map((e) => e.position), (await store.readEvents("a", start, 100)).map((e) => e.position));
    assert.deepEqual(served?.events.map((e) => e.payload), [{ n: 1 }, { n: 3 }]);
    assert.equal(served?.upTo, positions[3], "the cursor may advance to the window's end");
    assert.deepEqual((await tail.after("c", start))?.events, [], "nothing for a user who is no recipient");
  });

  it("drops the oldest events beyond its bound; cursors before them fall back to the Store", async () => {
    const tail = new StreamTail(store, 3);
    const start = (await tail.after("a", Number.MAX_SAFE_INTEGER)) && tail.start()!;
    const positions: number[] = [];
    for (let n = 10; n < 16; n++) positions.push(await append(["a"], n));
    const last = await tail.after("a", positions[2], positions[5]);
    assert.deepEqual(last?.events.map((e) => e.position), positions.slice(3));
    assert.equal(tail.start(), positions[2]);
    assert.equal(await tail.after("a", start as number), undefined);
  });

  it("peek answers without reading only once the window reaches the position; reach reads it in", async () => {
    const tail = new StreamTail(store, 50);
    await tail.reach(0); // starts the window at the head
    const start = tail.start()!;
    const position = await append(["a", "b"], 20);
    assert.equal(tail.reaches(position), false);
    assert.equal(tail.peek("a", start, position), undefined, "not read yet: the caller must not skip it");
    await tail.reach(position);
    assert.equal(tail.reaches(position), true);
    assert.deepEqual(tail.peek("a", start, position)?.events.map((e) => e.position), [position]);
    assert.deepEqual(tail.peek("c", start, position), { events: [], upTo: position });
    assert.equal(tail.peek("a", start - 1, position), undefined, "below the window");
  });

  it("read: Store pages behind the window, then a skip to the window's start, then the window", async () => {
    const tail = new StreamTail(store, 2);
    await tail.reach(0);
    const positions: number[] = [];
    for (let n = 30; n < 36; n++) positions.push(await append(n === 32 ? ["b"] : ["a"], n)); // 32 is not a's
    await tail.reach(positions[5]); // the window now holds only the last two: 34, 35
    const floor = tail.start()!;
    assert.equal(floor, positions[3]);
    const cursor = positions[0] - 1;
    const page1 = await tail.read("a", cursor, undefined, 2);
    assert.deepEqual(page1.events.map((e) => e.position), positions.slice(0, 2));
    assert.deepEqual([page1.upTo, page1.more], [positions[1], true], "a full page: read again from its last event");
    const page2 = await tail.read("a", page1.upTo, undefined, 2);
    assert.deepEqual(page2.events.map((e) => e.position), [positions[3], positions[4]]);
    assert.deepEqual([page2.upTo, page2.more], [positions[4], true]);
    const short = await tail.read("a", positions[2], undefined, 10);
    assert.deepEqual(short.events.map((e) => e.position), positions.slice(3));
    assert.deepEqual([short.upTo, short.more], [positions[5], true], "a short page: skip to the window (here past it) and go on");
    const other = await tail.read("b", cursor, undefined, 10);
    assert.deepEqual(other.events.map((e) => e.position), [positions[2]]);
    assert.deepEqual([other.upTo, other.more], [floor, true], "a short page below the window: skip to its start");
    const live = await tail.read("a", floor, undefined, 10);
    assert.deepEqual(live.events.map((e) => e.position), [positions[4], positions[5]]);
    assert.equal(live.more, false, "from the window: done");
  });

  it("asks the Store's head only when the stream read does not reach the wanted position", async () => {
    let heads = 0;
    // The store's methods are read-only properties: the counting store inherits them and shadows one.
    const counting = Object.create(store, { headPosition: { value: () => (heads++, store.headPosition()) } }) as SqliteStore;
    const tail = new StreamTail(counting, 50);
    await tail.reach(0);
    assert.equal(heads, 1, "the window starts at the head");
    const position = await append(["a"], 40);
    const served = await tail.after("a", tail.start()!, position);
    assert.deepEqual(served?.events.map((e) => e.position), [position]);
    assert.equal(heads, 1, "a wake-up whose event is readable needs no head");
    await tail.reach(position + 1_000); // beyond anything written: the head is asked, the window ends there
    assert.equal(heads, 2);
    assert.equal(tail.reaches(position), true);
    await tail.after("a", position);
    assert.equal(heads, 3, "a caller without a wake-up position wants the head as of its call");
  });
});
