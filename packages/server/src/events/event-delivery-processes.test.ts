// Event delivery against real `natter serve` processes: a SIGKILL mid-delivery followed by a restart loses nothing
// (duplicates only, with the same ids and valid signatures), and three nodes on PostgreSQL + Redis deliver each
// event once, by the lease holder, with another node taking over after the holder is SIGKILLed.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { Webhook } from "standardwebhooks";
import { clusterSkipReason, createTestDatabase, startNodes, waitUntil } from "../test-support/cluster.js";
import type { ClusterNode, TestDatabase } from "../test-support/cluster.js";
import { createUserOverHttp, spawnNatter } from "../test-support/natter-process.js";
import type { NatterProcess } from "../test-support/natter-process.js";
import type { ReceivedRequest } from "../test-support/webhook-receiver.js";
import { eventsOf, startWebhookReceiver } from "../test-support/webhook-receiver.js";

const V = "api-version=2024-03-07";
const TYPE = "Microsoft.Communication.ChatMessageReceivedInThread";
const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const FAST_RETRIES = ["--events-retry-min-seconds", "0.2", "--events-retry-max-seconds", "1"];

async function newThread(baseUrl: string, token: string): Promise<string> {
  const res = await fetch(new URL(`/chat/threads?${V}`, baseUrl), { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ topic: "events" }) });
  return ((await res.json()) as { chatThread: { id: string } }).chatThread.id;
}
async function send(baseUrl: string, token: string, threadId: string, content: string): Promise<void> {
  const res = await fetch(new URL(`/chat/threads/${encodeURIComponent(threadId)}/messages?${V}`, baseUrl), {
    method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ content }),
  });
  assert.equal(res.status, 201, await res.text());
}

interface Delivered {
  id: string;
  threadId: string;
  text: string;
}
function delivered(requests: ReceivedRequest[]): Delivered[] {
  return requests.flatMap((r) => eventsOf(r).filter((e) => e.eventType === TYPE).map((e) => {
    const data = e.data as { threadId: string; messageBody: string };
    return { id: e.id as string, threadId: data.threadId, text: data.messageBody };
  }));
}
/** First arrival of each id, per thread, in arrival order. */
function firstArrivals(list: Delivered[]): Map<string, string[]> {
  const seen = new Set<string>();
  const out = new Map<string, string[]>();
  for (const d of list) {
    if (seen.has(d.id)) continue;
    seen.add(d.id);
    out.set(d.threadId, [...(out.get(d.threadId) ?? []), d.text]);
  }
  return out;
}

describe("event delivery: SIGKILL mid-delivery, then a restart", () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it("loses nothing; duplicates carry the same id and a valid signature; order per thread holds", async () => {
    const receiver = await startWebhookReceiver();
    // Slow answers: deliveries are in flight when the node dies.
    receiver.answer = () => ({ status: 200, delayMs: 100 });
    const data = mkdtempSync(join(tmpdir(), "natter-events-kill-"));
    dirs.push(data);
    const args = ["--data", data, "--port", "0", "--https-port", "0", "--events-subscription", `kill-1=${receiver.url},types=ChatMessageReceivedInThread,secret=${SECRET}`, ...FAST_RETRIES];
    let node: NatterProcess = await spawnNatter(args);
    try {
      const alice = await createUserOverHttp(node.httpUrl, node.accessKey);
      const threads = [await newThread(node.httpUrl, alice.token), await newThread(node.httpUrl, alice.token), await newThread(node.httpUrl, alice.token)];
      const expected = new Map(threads.map((t) => [t, [] as string[]]));
      for (let i = 0; i < 30; i++) {
        const t = threads[i % 3];
        await send(node.httpUrl, alice.token, t, `k${i}`);
        expected.get(t)!.push(`k${i}`);
      }
      await waitUntil(() => receiver.deliveries.length >= 5, 20_000, () => `only ${receiver.deliveries.length} deliveries`);
      node.child.kill("SIGKILL");
      await node.exited;
      const before = receiver.deliveries.length;
      assert.ok(before < 30, `killed mid-delivery (${before} of 30 delivered)`);
      node = await spawnNatter(args);
      await waitUntil(() => new Set(delivered(receiver.deliveries).map((d) => d.id)).size === 30, 30_000, () => `${new Set(delivered(receiver.deliveries).map((d) => d.id)).size} of 30`);
      assert.deepEqual(firstArrivals(delivered(receiver.deliveries)), expected);
      const wh = new Webhook(SECRET);
      const byId = new Map<string, string>();
      for (const r of receiver.deliveries) {
        wh.verify(r.body, r.headers as Record<string, string>);
        const [event] = eventsOf(r);
        assert.equal(r.headers["webhook-id"], event.id);
        // A duplicate is the same event: same id, same payload.
        const body = JSON.stringify(event);
        if (byId.has(event.id as string)) assert.equal(body, byId.get(event.id as string));
        byId.set(event.id as string, body);
      }
    } finally {
      node.child.kill("SIGTERM");
      await node.exited;
      await receiver.close();
    }
  });
});

const skip = clusterSkipReason();

describe("event delivery: three nodes on PostgreSQL and Redis", { skip }, () => {
  let db: TestDatabase;
  let nodes: ClusterNode[] = [];
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
    await db?.drop();
  });

  it("each event reaches the subscription once; after a SIGKILL of the lease holder another node takes over, nothing lost", async () => {
    const receiver = await startWebhookReceiver();
    try {
      db = await createTestDatabase(process.env.NATTER_TEST_PG_URL!, "natter_ev");
      nodes = await startNodes(3, {
        databaseUrl: db.url, redisUrl: process.env.NATTER_TEST_REDIS_URL!,
        extraArgs: ["--events-subscription", `mn-1=${receiver.url},types=ChatMessageReceivedInThread,secret=${SECRET}`, ...FAST_RETRIES],
      });
      const alice = await createUserOverHttp(nodes[0].loopbackHttpUrl, nodes[0].accessKey);
      const threads = [await newThread(nodes[0].loopbackHttpUrl, alice.token), await newThread(nodes[1].loopbackHttpUrl, alice.token)];
      const expected = new Map(threads.map((t) => [t, [] as string[]]));
      // Writes spread over the three nodes.
      for (let i = 0; i < 20; i++) {
        const t = threads[i % 2];
        await send(nodes[i % 3].loopbackHttpUrl, alice.token, t, `m${i}`);
        expected.get(t)!.push(`m${i}`);
      }
      await waitUntil(() => delivered(receiver.deliveries).length >= 20, 20_000, () => `${delivered(receiver.deliveries).length} of 20`);
      await new Promise((r) => setTimeout(r, 1_000));
      const phase1 = delivered(receiver.deliveries);
      assert.equal(phase1.length, 20, "each event once: three nodes, one delivery");
      assert.deepEqual(firstArrivals(phase1), expected);

      // The holder is named in the lease row: host/pid/random.
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      let holder: string;
      try {
        holder = (await client.query("SELECT lease_holder FROM event_subscriptions WHERE name = 'mn-1'")).rows[0].lease_holder as string;
      } finally {
        await client.end();
      }
      const pid = Number(holder.split("/")[1]);
      const victim = nodes.find((n) => n.child.pid === pid);
      assert.ok(victim, `the holder ${holder} is one of the nodes`);
      await victim.kill();
      const killedAt = Date.now();
      const survivors = nodes.filter((n) => n !== victim);
      for (let i = 20; i < 40; i++) {
        const t = threads[i % 2];
        await send(survivors[i % 2].loopbackHttpUrl, alice.token, t, `m${i}`);
        expected.get(t)!.push(`m${i}`);
      }
      await waitUntil(() => new Set(delivered(receiver.deliveries).map((d) => d.id)).size === 40, 30_000, () => `${new Set(delivered(receiver.deliveries).map((d) => d.id)).size} of 40`);
      const resumedAt = receiver.deliveries[phase1.length].at;
      assert.ok(resumedAt - killedAt < 10_000, `taken over within 10 s (${resumedAt - killedAt} ms)`);
      await new Promise((r) => setTimeout(r, 1_000));
      const all = delivered(receiver.deliveries);
      assert.equal(all.length, 40, "nothing delivered twice: the cursor had moved past phase 1 before the kill");
      assert.deepEqual(firstArrivals(all), expected);
    } finally {
      await receiver.close();
    }
  });
});
