// EventDispatcher: registration order, removal, duplicate listeners, isolation of throwing listeners.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventDispatcher } from "./event-dispatcher.js";

interface Events {
  ping: number;
  ready: void;
}

test("calls listeners in order, supports off and removeAllListeners", () => {
  const d = new EventDispatcher<Events>();
  const seen: string[] = [];
  const a = (n: number) => seen.push(`a${n}`);
  const b = (n: number) => seen.push(`b${n}`);
  d.on("ping", a);
  d.on("ping", b);
  d.on("ping", a);
  assert.equal(d.listenerCount("ping"), 2);
  assert.equal(d.emit("ping", 1), true);
  d.off("ping", a);
  d.emit("ping", 2);
  d.on("ready", () => seen.push("ready"));
  d.emit("ready");
  d.removeAllListeners();
  assert.equal(d.emit("ping", 3), false);
  assert.deepEqual(seen, ["a1", "b1", "b2", "ready"]);
});

test("a throwing listener does not stop the others; its error surfaces asynchronously", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const d = new EventDispatcher<Events>();
  const seen: number[] = [];
  d.on("ping", () => {
    throw new Error("listener failed");
  });
  d.on("ping", (n) => seen.push(n));
  d.emit("ping", 7);
  assert.deepEqual(seen, [7]);
  assert.throws(() => t.mock.timers.tick(1), { message: "listener failed" });
});
