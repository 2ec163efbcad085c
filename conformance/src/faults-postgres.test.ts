// Fault: PostgreSQL unreachable under two `natter serve` nodes. The nodes reach PostgreSQL through a TCP proxy
// the test controls; cutting it resets every open database connection and refuses new ones. Requests then get
// 503 with Retry-After and the ACS error body (never a 500, a hang or a crash); when the proxy listens again the
// same processes serve normally (no restart), and realtime delivery resumes. Needs NATTER_TEST_PG_URL (and
// NATTER_TEST_REDIS_URL as the switch for cluster tests).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  clusterSkipReason, createTestDatabase, createUserOverHttp, signedHeaders, startNodes, startTcpProxy, waitUntil,
} from "@natter/server/testing";
import type { ClusterNode, TcpProxy, TestDatabase } from "@natter/server/testing";
import { ChatClient } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";
import { sleep } from "./helpers.js";

const V = "api-version=2024-03-07";
const skip = clusterSkipReason();

describe("fault: PostgreSQL unreachable under two nodes", { skip }, () => {
  let db: TestDatabase;
  let pgProxy: TcpProxy;
  let nodes: ClusterNode[] = [];

  before(async () => {
    db = await createTestDatabase(process.env.NATTER_TEST_PG_URL!, "natter_fp");
    const direct = new URL(db.url);
    pgProxy = await startTcpProxy(Number(direct.port || 5432), direct.hostname);
    const viaProxy = new URL(db.url);
    viaProxy.hostname = "127.0.0.1";
    viaProxy.port = String(pgProxy.port);
    nodes = await startNodes(2, { databaseUrl: viaProxy.toString(), redisUrl: process.env.NATTER_TEST_REDIS_URL!, accessKey: randomBytes(32).toString("base64") });
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await pgProxy?.close();
    await db?.drop();
  });

  it("refused or partitioned: 503 + Retry-After + ACS error body, no hang, no crash, recovery without restart", { timeout: 110_000 }, async (t) => {
    const [alice, bob] = await Promise.all([0, 1].map((i) => createUserOverHttp(nodes[i].loopbackHttpUrl, nodes[i].accessKey)));
    const created = await rest(nodes[0], alice.token, "POST", `/chat/threads?${V}`, {
      topic: "pg outage", participants: [{ communicationIdentifier: { rawId: bob.id, communicationUser: { id: bob.id } } }],
    });
    assert.equal(created.status, 201);
    const threadId = (created.body as { chatThread: { id: string } }).chatThread.id;
    const messages = `/chat/threads/${encodeURIComponent(threadId)}/messages?${V}`;
    const bobClient = new ChatClient(nodes[1].httpsUrl, new AzureCommunicationTokenCredential(bob.token));
    await bobClient.startRealtimeNotifications();
    const got = new Set<string>();
    bobClient.on("chatMessageReceived", (e) => void (e.threadId === threadId && got.add(e.id)));
    const pids = nodes.map((n) => n.child.pid);
    try {
      const before = await rest(nodes[0], alice.token, "POST", messages, { content: "before" });
      assert.equal(before.status, 201);

      await pgProxy.cut();
      const cutAt = Date.now();
      // Every kind of request, on both nodes, for a while (past the 5 s token-generation cache, so token checks
      // need the database too): each one is a 503 with Retry-After and the ACS body.
      const seen = new Map<string, number>();
      let requests = 0;
      let slowest = 0;
      for (let round = 0; Date.now() - cutAt < 8_000 || round < 2; round++) {
        for (const node of nodes) {
          const calls = [
            () => rest(node, alice.token, "POST", messages, { content: `during ${round}` }),
            () => rest(node, alice.token, "GET", messages),
            () => rest(node, bob.token, "GET", `/chat/threads?${V}`),
            () => identity(node, "POST", "/identities?api-version=2023-10-01", { createTokenWithScopes: ["chat"] }),
          ];
          for (const call of calls) {
            const started = Date.now();
            const res = await call();
            slowest = Math.max(slowest, Date.now() - started);
            requests++;
            const code = (res.body as { error?: { code?: string } } | undefined)?.error?.code;
            seen.set(`${res.status} ${code}`, (seen.get(`${res.status} ${code}`) ?? 0) + 1);
            assert.equal(res.status, 503, `${res.status} ${JSON.stringify(res.body)}`);
            const retryAfter = res.headers.get("retry-after");
            assert.ok(retryAfter && Number.isInteger(Number(retryAfter)) && Number(retryAfter) >= 1, `Retry-After: ${retryAfter}`);
            assert.match(res.headers.get("content-type") ?? "", /application\/json/);
            assert.equal(code, "ServiceUnavailable");
            assert.equal(typeof (res.body as { error: { message?: unknown } }).error.message, "string");
          }
        }
        await sleep(500);
      }
      // Readiness says so too; the processes are alive.
      for (const node of nodes) assert.equal((await fetch(new URL("/healthz", node.loopbackHttpUrl))).status, 503);
      assert.ok(nodes.every((n) => n.child.exitCode === null && n.child.signalCode === null), "no node exited");

      await pgProxy.restore();
      const restoredAt = Date.now();
      // Same processes, no restart: requests succeed again (the pools open new connections).
      let after: Awaited<ReturnType<typeof rest>> | undefined;
      await waitUntil(async () => (after = await rest(nodes[0], alice.token, "POST", messages, { content: "after" })).status === 201, 30_000, () => `still ${after?.status}`, 250);
      const recoveredMs = Date.now() - restoredAt;
      const afterId = (after!.body as { id: string }).id;
      for (const node of nodes) {
        assert.equal((await rest(node, bob.token, "GET", messages)).status, 200);
        assert.equal((await fetch(new URL("/healthz", node.loopbackHttpUrl))).status, 200);
      }
      // Realtime on node 1 still works and got the message sent through node 0.
      await waitUntil(() => got.has(afterId) && got.has((before.body as { id: string }).id), 20_000, () => `bob has ${[...got].join(",")}`);
      assert.deepEqual(nodes.map((n) => n.child.pid), pids, "the same processes serve after the outage");
      assert.ok(nodes.every((n) => n.child.exitCode === null && n.child.signalCode === null), "no node exited");
      t.diagnostic(`postgres refused: ${requests} requests, all 503 (${JSON.stringify([...seen])}); slowest answer ${slowest} ms; ` +
        `first 201 ${recoveredMs} ms after PostgreSQL was reachable again`);

      // A partition: the open connections stop answering, new ones never complete. Requests must still end
      // with a 503 (query and connect timeouts), not hang.
      pgProxy.stall();
      const stalledAt = Date.now();
      const stalled = await Promise.all(nodes.flatMap((node) => [
        rest(node, alice.token, "POST", messages, { content: "partitioned" }),
        rest(node, bob.token, "GET", messages),
      ]).map((p) => p.then((res) => ({ ...res, ms: Date.now() - stalledAt }), (error: Error) => ({ status: 0, error: error.message, ms: Date.now() - stalledAt }))));
      for (const res of stalled) {
        assert.equal(res.status, 503, JSON.stringify(res));
        assert.ok("headers" in res && res.headers.get("retry-after"), "Retry-After");
      }
      await pgProxy.restore();
      await waitUntil(async () => (after = await rest(nodes[1], bob.token, "POST", messages, { content: "healed" })).status === 201, 30_000, () => `still ${after?.status}`, 250);
      await waitUntil(() => got.has((after!.body as { id: string }).id), 20_000, () => "bob did not get the message sent after the partition");
      assert.deepEqual(nodes.map((n) => n.child.pid), pids, "the same processes serve after the partition");
      t.diagnostic(`postgres partitioned: requests answered 503 after ${stalled.map((r) => r.ms).join("/")} ms`);
    } finally {
      await bobClient.stopRealtimeNotifications();
    }
  });
});

/** One REST call with a bearer token (plain HTTP to a node's loopback port), answer parsed. */
async function rest(node: ClusterNode, token: string, method: string, path: string, body?: unknown) {
  return answer(await fetch(new URL(path, node.loopbackHttpUrl), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(30_000),
  }));
}

/** One HMAC-signed Identity API call. */
async function identity(node: ClusterNode, method: string, path: string, body: unknown) {
  const url = new URL(path, node.loopbackHttpUrl);
  const text = JSON.stringify(body);
  return answer(await fetch(url, { method, headers: signedHeaders(url, method, text, node.accessKey), body: text, signal: AbortSignal.timeout(30_000) }));
}

async function answer(res: Response) {
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  return { status: res.status, headers: res.headers, body };
}
