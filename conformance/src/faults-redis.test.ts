// Fault: Redis (the Bus) down for 30 s under two `natter serve` nodes on one PostgreSQL database. Sends keep
// succeeding (201: the Store is the source of truth, the Bus only wakes sockets); live delivery stops; a client
// that reconnects during the outage resumes from the Store; when Redis is back, every connected client gets
// everything it missed without sending anything new, and live delivery works again. Uses a private
// redis-server on a free loopback port (never the shared one). Needs NATTER_TEST_PG_URL (and NATTER_TEST_REDIS_URL
// as the switch for cluster tests).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  clusterSkipReason, createTestDatabase, createUserOverHttp, startNodes, startPrivateRedis, startTcpProxy, waitUntil,
} from "@natter/server/testing";
import type { ClusterNode, PrivateRedis, TcpProxy, TestDatabase } from "@natter/server/testing";
import { ChatClient } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";
import { sleep } from "./helpers.js";

/** The issue asks for 30 s: long enough for ioredis to reach its longest reconnect delay and for heartbeats to run. */
const OUTAGE_MS = 30_000;
const V = "api-version=2024-03-07";
const skip = clusterSkipReason();

describe("fault: Redis down for 30 s under two nodes", { skip }, () => {
  let db: TestDatabase;
  let redis: PrivateRedis;
  let nodes: ClusterNode[] = [];
  let readerProxy: TcpProxy;

  before(async () => {
    db = await createTestDatabase(process.env.NATTER_TEST_PG_URL!, "natter_fr");
    redis = await startPrivateRedis();
    nodes = await startNodes(2, { databaseUrl: db.url, redisUrl: redis.url, accessKey: randomBytes(32).toString("base64") });
    readerProxy = await startTcpProxy(Number(new URL(nodes[0].loopbackHttpUrl).port));
  });
  after(async () => {
    await readerProxy?.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.close();
    await db?.drop();
  });

  it("sends succeed (201), realtime degrades, resuming and connected clients miss nothing once Redis is back", { timeout: 120_000 }, async (t) => {
    const [alice, bob, steady, hopper] = await Promise.all(Array.from({ length: 4 }, () => createUserOverHttp(nodes[0].loopbackHttpUrl, nodes[0].accessKey)));
    const created = await rest(nodes[0], alice.token, "POST", `/chat/threads?${V}`, {
      topic: "redis outage",
      participants: [bob, steady, hopper].map((u) => ({ communicationIdentifier: { rawId: u.id, communicationUser: { id: u.id } } })),
    });
    assert.equal(created.status, 201);
    const threadId = (created.body as { chatThread: { id: string } }).chatThread.id;

    // `steady` stays connected to node 1 throughout; `hopper` reaches node 0 through a TCP proxy that the test cuts
    // during the outage, so it reconnects and resumes while Redis is down.
    const readers = [
      { name: "steady", client: new ChatClient(nodes[1].httpsUrl, new AzureCommunicationTokenCredential(steady.token)) },
      { name: "hopper", client: new ChatClient(`http://127.0.0.1:${readerProxy.port}`, new AzureCommunicationTokenCredential(hopper.token), { allowInsecureConnection: true }) },
    ].map((r) => ({ ...r, got: new Set<string>(), duplicates: 0, connects: 1, disconnects: 0 }));
    for (const r of readers) {
      await r.client.startRealtimeNotifications();
      r.client.on("realTimeNotificationConnected", () => r.connects++);
      r.client.on("realTimeNotificationDisconnected", () => r.disconnects++);
      r.client.on("chatMessageReceived", (e) => {
        if (e.threadId !== threadId) return;
        if (r.got.has(e.id)) r.duplicates++;
        r.got.add(e.id);
      });
    }
    const acked: string[] = [];
    const statuses = new Map<number, number>();
    const send = async (node: ClusterNode, token: string, content: string) => {
      const res = await rest(node, token, "POST", `/chat/threads/${encodeURIComponent(threadId)}/messages?${V}`, { content });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 201) acked.push((res.body as { id: string }).id);
      return res.status;
    };
    const everyoneHas = (ids: string[]) => readers.every((r) => ids.every((id) => r.got.has(id)));
    const missing = (ids: string[]) => readers.map((r) => `${r.name} misses ${ids.filter((id) => !r.got.has(id)).length}/${ids.length}`).join(", ");
    try {
      // Before: live delivery across nodes.
      assert.equal(await send(nodes[0], alice.token, "before"), 201);
      await waitUntil(() => everyoneHas(acked), 20_000, () => missing(acked));

      await redis.stop();
      const outageStart = Date.now();
      const beforeOutage = acked.length;
      // Writers on both nodes keep sending for the whole outage.
      const writers = [[nodes[0], alice], [nodes[1], bob]].map(async ([node, user], w) => {
        for (let n = 0; Date.now() - outageStart < OUTAGE_MS; n++) {
          await send(node as ClusterNode, (user as typeof alice).token, `outage w${w} m${n}`);
          await sleep(200);
        }
      });
      // A third of the way in: cut hopper's connection; it reconnects (Redis still down) and resumes from the Store.
      await sleep(OUTAGE_MS / 3);
      const liveDuringOutage = readers.map((r) => acked.slice(beforeOutage).filter((id) => r.got.has(id)).length);
      const hopper$ = readers[1];
      const cutAt = acked.length;
      readerProxy.cutAll();
      await waitUntil(() => hopper$.connects > hopper$.disconnects && hopper$.disconnects > 0, 30_000, () => "hopper did not reconnect");
      const resumedSlice = acked.slice(0, cutAt);
      await waitUntil(() => resumedSlice.every((id) => hopper$.got.has(id)), 20_000, () => `hopper resumed without ${resumedSlice.filter((id) => !hopper$.got.has(id)).length} messages`);
      await Promise.all(writers);

      // Redis back; nothing new is sent: the nodes must repair what the Bus lost by themselves.
      const outageIds = acked.slice(beforeOutage);
      await redis.start();
      const restartedAt = Date.now();
      await waitUntil(() => everyoneHas(acked), 30_000, () => missing(acked));
      const catchUpMs = Date.now() - restartedAt;

      // And live delivery works again, both ways across the nodes.
      const afterIds: string[] = [];
      assert.equal(await send(nodes[1], bob.token, "after 1"), 201);
      afterIds.push(acked.at(-1)!);
      assert.equal(await send(nodes[0], alice.token, "after 2"), 201);
      afterIds.push(acked.at(-1)!);
      await waitUntil(() => everyoneHas(afterIds), 20_000, () => missing(afterIds));

      assert.deepEqual([...statuses.keys()], [201], `every send answered 201 (${JSON.stringify([...statuses])})`);
      for (const r of readers) assert.equal(r.duplicates, 0, `${r.name} got duplicates`);
      assert.ok(nodes.every((n) => n.child.exitCode === null), "no node exited");
      t.diagnostic(`redis outage ${OUTAGE_MS} ms: ${outageIds.length} sends answered 201 during it; live deliveries in the first third: ` +
        `${liveDuringOutage.join("/")} (steady/hopper); hopper resumed ${resumedSlice.length} during the outage; ` +
        `all caught up ${catchUpMs} ms after Redis restarted`);
    } finally {
      await Promise.all(readers.map((r) => r.client.stopRealtimeNotifications()));
    }
  });
});

/** One REST call (plain HTTP to a node's loopback port), answer parsed. */
async function rest(node: ClusterNode, token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(new URL(path, node.loopbackHttpUrl), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as unknown) : undefined };
}
