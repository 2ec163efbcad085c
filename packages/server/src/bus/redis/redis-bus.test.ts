// Runs the Bus contract against RedisBus when NATTER_TEST_REDIS_URL is set (two RedisBus instances = two nodes,
// a random channel prefix per test so parallel runs on a shared Redis never meet), plus RedisBus's own failure
// modes: a dropped subscriber connection (CLIENT KILL) is resubscribed by itself; an unreachable Redis fails fast.
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { defineBusContract, waitFor } from "../contract/bus-contract.js";
import type { BusMessage, BusStats } from "../bus.js";
import { BUS_RESUMED } from "../bus.js";
import { RedisBus } from "./redis-bus.js";
import type { RedisBusErrorContext } from "./redis-bus.js";

const url = process.env.NATTER_TEST_REDIS_URL;
const SKIP = "NATTER_TEST_REDIS_URL not set (e.g. redis://127.0.0.1:6379)";
const newPrefix = () => `natter-test-${randomBytes(6).toString("hex")}:`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Two connected RedisBus instances sharing one fresh prefix. */
async function openPair(onError?: (error: Error, context: RedisBusErrorContext) => void) {
  const prefix = newPrefix();
  const buses = [new RedisBus(url!, { prefix, onError }), new RedisBus(url!, { prefix, onError })] as [RedisBus, RedisBus];
  await Promise.all(buses.map((bus) => bus.ready()));
  return { prefix, buses, cleanup: async () => void (await Promise.all(buses.map((bus) => bus.close()))) };
}

/** Ids of the connections whose name starts with `namePrefix` (CLIENT LIST). */
async function clientIds(admin: Redis, namePrefix: string): Promise<string[]> {
  const list = (await admin.client("LIST")) as string;
  return list
    .split("\n")
    .map((line) => Object.fromEntries(line.trim().split(" ").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])))
    .filter((c: Record<string, string>) => c.name?.startsWith(namePrefix))
    .map((c: Record<string, string>) => c.id);
}

if (!url) {
  it("RedisBus contract", { skip: SKIP }, () => {});
  it("RedisBus failure modes on a live Redis", { skip: SKIP }, () => {});
} else {
  defineBusContract("RedisBus", () => openPair());

  describe("RedisBus on a live Redis", () => {
    let admin: Redis;
    before(async () => {
      admin = new Redis(url);
    });
    after(async () => {
      await admin.quit();
    });

    it("resubscribes by itself after its subscriber connection is killed, and delivers what is published afterwards", async () => {
      const errors: string[] = [];
      const { prefix, buses: [a, b], cleanup } = await openPair((error, context) => errors.push(`${context}: ${error.message}`));
      try {
        const topics = Array.from({ length: 1500 }, (_, i) => `user:8:acs:fault-${i}`);
        const got = new Map<string, BusMessage[]>();
        const handler = (topic: string, message: BusMessage) => got.set(topic, [...(got.get(topic) ?? []), message]);
        for (const topic of topics) await b.subscribe(topic, handler);
        const probeTopic = "user:8:acs:fault-probe"; // subscribed last: resubscribed in the last batch
        let probes = 0;
        await b.subscribe(probeTopic, () => probes++);
        await a.publish(probeTopic, { type: "probe", data: null });
        await waitFor(() => probes > 0, () => "probe before the kill not received");

        // Drop the subscriber connections of this test's buses only (never other clients of the shared server).
        const ids = await clientIds(admin, `${prefix}bus-sub`);
        assert.equal(ids.length, 2, "both subscriber connections are listed");
        for (const id of ids) await admin.client("KILL", "ID", id);
        const probesBefore = probes;
        // Publishes during the outage resolve (they may be lost: at-most-once).
        await a.publish(probeTopic, { type: "probe", data: "during" });
        // Wait until the resubscription is in effect: keep probing.
        const deadline = Date.now() + 10_000;
        while (probes === probesBefore) {
          assert.ok(Date.now() < deadline, "no probe delivered within 10 s after the subscriber connection was killed");
          await a.publish(probeTopic, { type: "probe", data: "after" });
          await sleep(25);
        }
        // Every topic is subscribed again, not just the probe.
        await Promise.all(topics.map((topic, i) => a.publish(topic, { type: "after-kill", data: { i } })));
        await waitFor(() => topics.every((t) => got.get(t)?.some((m) => m.type === "after-kill")), () => `${topics.filter((t) => got.get(t)?.some((m) => m.type === "after-kill")).length}/${topics.length} topics received after the kill`);
        // Still exactly one subscription per channel on each bus (no duplicate deliveries).
        const [, count] = (await admin.call("PUBSUB", "NUMSUB", `${prefix}${topics[0]}`)) as [string, number];
        assert.equal(Number(count), 1);
      } finally {
        await cleanup();
      }
    });

    it("survives its publisher connection being killed: later publishes are delivered", async () => {
      const { prefix, buses: [a, b], cleanup } = await openPair();
      try {
        const topic = "user:8:acs:pub-kill";
        let received = 0;
        let resumed = 0;
        await b.subscribe(topic, (_topic, message) => (message.type === BUS_RESUMED ? resumed++ : received++));
        for (const id of await clientIds(admin, `${prefix}bus-pub`)) await admin.client("KILL", "ID", id);
        const deadline = Date.now() + 10_000;
        while (received === 0) {
          assert.ok(Date.now() < deadline, "no publish delivered within 10 s after the publisher connection was killed");
          await a.publish(topic, { type: "t", data: null }); // never throws, even while reconnecting
          await sleep(25);
        }
        // The reconnected publishers told every node that messages may have been lost.
        await waitFor(() => resumed > 0, () => "no BUS_RESUMED after the publisher connections came back");
      } finally {
        await cleanup();
      }
    });

    it("unsubscribes the Redis channel when the last local handler goes", async () => {
      const { prefix, buses: [a], cleanup } = await openPair();
      try {
        const numsub = async (topic: string) => Number(((await admin.call("PUBSUB", "NUMSUB", `${prefix}${topic}`)) as [string, number])[1]);
        const first = await a.subscribe("t1", () => {});
        const second = await a.subscribe("t1", () => {});
        assert.equal(await numsub("t1"), 1, "one Redis subscription for two local handlers");
        await first();
        assert.equal(await numsub("t1"), 1);
        await second();
        await waitFor(() => a.topicCount === 0, () => `topicCount=${a.topicCount}`);
        assert.equal(await numsub("t1"), 0);
      } finally {
        await cleanup();
      }
    });

    it("reports undecodable messages through onError and delivers nothing for them", async () => {
      const errors: RedisBusErrorContext[] = [];
      const { prefix, buses: [a, b], cleanup } = await openPair((_error, context) => errors.push(context));
      try {
        const got: BusMessage[] = [];
        await b.subscribe("t", (_topic, message) => got.push(message));
        await admin.publish(`${prefix}t`, "not json");
        await admin.publish(`${prefix}t`, JSON.stringify({ data: "no type" }));
        await a.publish("t", { type: "ok", data: 1 });
        await waitFor(() => got.length === 1 && errors.filter((c) => c === "decode").length === 2, () => `got=${got.length} errors=${errors.join(",")}`);
        assert.deepEqual(got, [{ type: "ok", data: 1 }]);
      } finally {
        await cleanup();
      }
    });

    it("a payload that is not JSON-serialisable is reported, not thrown", async () => {
      const errors: RedisBusErrorContext[] = [];
      const { buses: [a], cleanup } = await openPair((_error, context) => errors.push(context));
      try {
        const cyclic: Record<string, unknown> = {};
        cyclic.self = cyclic;
        await a.publish("t", { type: "t", data: cyclic });
        await a.publish("t", { type: "t", data: 1n });
        assert.deepEqual(errors, ["publish", "publish"]);
      } finally {
        await cleanup();
      }
    });

    it("publishMany to a 250-member thread over 3 nodes puts 3 messages on Redis (250 with fanOut topic), and each member gets one", async () => {
      const prefix = newPrefix();
      const observer = new Redis(url);
      try {
        // An independent count: every message Redis carries under this test's prefix.
        const seen: { channel: string; bytes: number }[] = [];
        await observer.psubscribe(`${prefix}*`);
        observer.on("pmessage", (_pattern: string, channel: string, raw: string) => seen.push({ channel, bytes: Buffer.byteLength(raw) }));
        for (const fanOut of ["node", "topic"] as const) {
          const nodes: RedisBus[] = [0, 1, 2].map(() => new RedisBus(url!, { prefix, fanOut }));
          try {
            await Promise.all(nodes.map((bus) => bus.ready()));
            const members = Array.from({ length: 250 }, (_, i) => `user:8:acs:${fanOut}-member-${i}`);
            const got = new Map<string, number>();
            const handler = (topic: string) => got.set(topic, (got.get(topic) ?? 0) + 1);
            // Members spread over the three nodes; a few have a socket on two nodes.
            await Promise.all(members.map((topic, i) => nodes[i % 3].subscribe(topic, handler)));
            await Promise.all(members.slice(0, 10).map((topic, i) => nodes[(i + 1) % 3].subscribe(topic, handler)));
            const before: BusStats = nodes[0].stats();
            seen.length = 0;
            await nodes[0].publishMany(members, { type: "chatEvent", data: { event: { type: "chatMessageReceived", body: "x".repeat(200) } } });
            await waitFor(() => got.size === 250 && [...got.values()].reduce((a, n) => a + n, 0) === 260, () => `${got.size} members, ${[...got.values()].reduce((a, n) => a + n, 0)} deliveries`);
            // A sentinel through the observer's path: everything published before it has been seen.
            await nodes[0].publish("sentinel", { type: "s", data: null });
            await waitFor(() => seen.some((m) => m.channel === `${prefix}sentinel`), () => "sentinel not observed");
            const observed = seen.filter((m) => m.channel !== `${prefix}sentinel`);
            const after: BusStats = nodes[0].stats();
            const counted: number = after.messages - before.messages - 1; // minus the sentinel
            if (fanOut === "node") {
              assert.equal(observed.length, 3, `messages on Redis: ${observed.map((m) => m.channel).join(", ")}`);
              assert.equal(counted, 3);
            } else {
              assert.equal(observed.length, 250);
              assert.equal(counted, 250);
            }
            assert.ok([...got.entries()].every(([topic, n]) => n === (members.indexOf(topic) < 10 ? 2 : 1)), "one delivery per member per node it is on");
            assert.equal(after.bytes - before.bytes - Buffer.byteLength(JSON.stringify({ type: "s", data: null })), observed.reduce((a, m) => a + m.bytes, 0));
          } finally {
            await Promise.all(nodes.map((bus) => bus.close()));
          }
        }
      } finally {
        await observer.quit();
      }
    });

    it("presence is written before subscribe() resolves and removed by unsubscribe and close", async () => {
      const { prefix, buses: [a, b], cleanup } = await openPair();
      try {
        const topic = "user:8:acs:presence";
        // The members whose topic set holds the topic.
        const holders = async () => {
          const members = await admin.smembers(`${prefix}bus:members`);
          const flags = await Promise.all(members.map((m) => admin.sismember(`${prefix}bus:topics:${m}`, topic)));
          return members.filter((_m, i) => flags[i] === 1);
        };
        const unsubscribe = await b.subscribe(topic, () => {});
        assert.equal((await holders()).length, 1);
        await a.subscribe(topic, () => {});
        assert.equal((await holders()).length, 2);
        await unsubscribe();
        assert.equal((await holders()).length, 1);
        await a.close();
        assert.equal((await holders()).length, 0);
        assert.equal((await admin.smembers(`${prefix}bus:members`)).length, 1, "a closed node leaves the members");
      } finally {
        await cleanup();
      }
    });

    it("a dead node's presence is dropped at the first publish to it; a reconnected node is reached under its new name, once", async () => {
      const { prefix, buses: [a, b], cleanup } = await openPair();
      try {
        const topic = "user:8:acs:stale";
        const membersKey = `${prefix}bus:members`;
        let got = 0;
        await b.subscribe(topic, (_t, m) => void (m.type === "t" && got++)); // not BUS_RESUMED
        // As a node killed with -9 leaves it.
        await admin.sadd(`${prefix}bus:topics:crashed-node.1`, topic);
        await admin.sadd(membersKey, "crashed-node.1");
        const before = a.stats().messages;
        await a.publishMany([topic], { type: "t", data: 1 });
        await waitFor(() => got === 1, () => `got ${got}`);
        assert.equal(a.stats().messages - before, 2, "one message to b, one to the dead node");
        assert.deepEqual((await admin.smembers(membersKey)).filter((m) => m.startsWith("crashed-node")), [], "the dead node was removed");
        assert.equal(await admin.exists(`${prefix}bus:topics:crashed-node.1`), 0);
        // The subscriber connections drop and come back: b is reached under a new name, once, and the joining
        // connections sweep the names nobody listens to any more.
        const resumed: string[] = [];
        await b.subscribe("user:8:acs:stale-probe", (_t, m) => resumed.push(m.type));
        await admin.sadd(`${prefix}bus:topics:quiet-crashed-node.1`, "user:8:acs:nobody-publishes-here");
        await admin.sadd(membersKey, "quiet-crashed-node.1");
        const bOld = await admin.smembers(membersKey); // a has no topics: b and the quiet crashed node are the members
        assert.equal(bOld.length, 2);
        for (const id of await clientIds(admin, `${prefix}bus-sub`)) await admin.client("KILL", "ID", id);
        await waitFor(() => resumed.includes(BUS_RESUMED), () => "no BUS_RESUMED after the reconnect");
        // b's new name joins; its join sweeps b's old name and the quiet crashed node.
        for (const deadline = Date.now() + 10_000; ; await sleep(10)) {
          const now = await admin.smembers(membersKey);
          if (now.length === 1 && !bOld.includes(now[0])) break;
          assert.ok(Date.now() < deadline, `members: ${now.join(", ")}`);
        }
        await a.publishMany([topic], { type: "t", data: 2 });
        await waitFor(() => got === 2, () => `got ${got}`);
        await a.publish("user:8:acs:stale-probe", { type: "sentinel", data: null });
        await waitFor(() => resumed.includes("sentinel"), () => "sentinel");
        assert.equal(got, 2, "delivered once, not once per name");
        assert.equal((await admin.smembers(membersKey)).length, 1, "only b's live name is left");
      } finally {
        await cleanup();
      }
    });

    it("a fan-out reads presence once per node: its Redis commands do not grow with recipients", async () => {
      const { prefix, buses: [a, b], cleanup } = await openPair();
      try {
        const topics = Array.from({ length: 250 }, (_v, i) => `user:8:acs:many-${i}`);
        let got = 0;
        await Promise.all(topics.map((t, i) => (i % 2 ? a : b).subscribe(t, () => void got++)));
        // The commands the publisher's own connection sends (a server-wide count would include other test files').
        const pub = (a as unknown as { pub: { sendCommand(command: { name: string }): unknown } }).pub;
        const sent: string[] = [];
        const send = pub.sendCommand.bind(pub);
        pub.sendCommand = (command) => (sent.push(command.name), send(command));
        await a.publishMany(topics, { type: "t", data: 1 });
        await waitFor(() => got === 250, () => `got ${got}`);
        const members = (await admin.smembers(`${prefix}bus:members`)).length;
        assert.equal(members, 2);
        // The route script (EVALSHA, plus EVAL the first time the server lacks it) and one PUBLISH per node.
        assert.deepEqual(sent.filter((name) => name !== "evalsha" && name !== "eval"), ["publish", "publish"], sent.join(" "));
        assert.ok(sent.length <= 4, sent.join(" "));
      } finally {
        await cleanup();
      }
    });

    it("close() quits both connections", async () => {
      const { prefix, buses, cleanup } = await openPair();
      assert.equal((await clientIds(admin, prefix)).length, 4);
      await cleanup();
      const deadline = Date.now() + 5_000;
      while ((await clientIds(admin, prefix)).length > 0) {
        assert.ok(Date.now() < deadline, "connections still open after close()");
        await sleep(20);
      }
      await buses[0].close(); // idempotent
    });
  });
}

// Needs no Redis: nothing listens on port 1.
describe("RedisBus without Redis", () => {
  it("ready() fails fast with a clear message and stops retrying; publish and subscribe never throw", async () => {
    const errors: RedisBusErrorContext[] = [];
    const bus = new RedisBus("redis://:secret@127.0.0.1:1", { onError: (_error, context) => errors.push(context) });
    const subscribed = await bus.subscribe("t", () => {}); // not connected: deferred to the next 'ready'
    await bus.publish("t", { type: "t", data: 1 });
    const started = Date.now();
    await assert.rejects(bus.ready(500), (error: Error) => {
      assert.match(error.message, /^Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1\/? is not reachable: /);
      assert.doesNotMatch(error.message, /secret/);
      return true;
    });
    assert.ok(Date.now() - started < 3_000);
    assert.ok(errors.includes("publish"), `errors: ${errors.join(",")}`);
    await subscribed();
    await bus.publish("t", { type: "t", data: 2 }); // closed: resolves
    await bus.close();
  });
});
