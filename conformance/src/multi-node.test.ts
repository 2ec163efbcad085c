// Multi-node: three real `natter serve` processes on one fresh PostgreSQL database and one Redis. Clients on
// different nodes see each other's messages and every realtime event type; a message to a thread costs one Bus
// message per node with members, not one per member; a token revoked on one node closes
// its sockets on the others; the chat conformance suite passes with every request sent round-robin to the next
// node by a balancer; and after a kill -9 of a node, its realtime clients reconnect through the balancer to
// another node and resume with nothing missing or doubled while writers keep sending. Needs NATTER_TEST_PG_URL
// and NATTER_TEST_REDIS_URL (skipped otherwise).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  clusterSkipReason, createTestDatabase, createUserOverHttp, startNodes, startRoundRobinProxy, waitUntil,
} from "@natter/server/testing";
import type { ClusterNode, RoundRobinProxy, TestDatabase } from "@natter/server/testing";
import { ChatClient } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";
import { CommunicationIdentityClient } from "@natter/communication-identity";
import { CHAT_CLIENTS } from "./clients.js";
import { defineChatConformance } from "./chat-suite.js";
import { sleep } from "./helpers.js";

const skip = clusterSkipReason();
const ALL_EVENTS = [
  "chatMessageReceived", "chatMessageEdited", "chatMessageDeleted", "typingIndicatorReceived", "readReceiptReceived",
  "chatThreadCreated", "chatThreadDeleted", "chatThreadPropertiesUpdated", "participantsAdded", "participantsRemoved",
] as const;

type Event = Record<string, unknown>;

/** Records a client's events by name; waitFor polls with a generous deadline (never asserts on timing). */
function recorder(client: ChatClient) {
  const seen: { name: string; e: Event }[] = [];
  for (const name of ALL_EVENTS) {
    (client.on as unknown as (n: string, l: (e: Event) => void) => void)(name, (e) => seen.push({ name, e }));
  }
  const matching = (name: string, where: (e: Event) => boolean) => seen.filter((s) => s.name === name && where(s.e)).map((s) => s.e);
  async function waitFor(name: string, where: (e: Event) => boolean = () => true): Promise<Event> {
    await waitUntil(() => matching(name, where).length > 0, 20_000, () => `no ${name} (have ${seen.map((s) => s.name).join(", ")})`);
    return matching(name, where)[0];
  }
  return { seen, waitFor };
}

describe("multi-node: three natter serve processes, one PostgreSQL database, one Redis", { skip }, () => {
  let db: TestDatabase;
  let nodes: ClusterNode[] = [];
  let proxy: RoundRobinProxy;
  let accessKey: string;
  let resourceId: string;
  const credential = (token: string) => new AzureCommunicationTokenCredential(token);
  const user = (node: ClusterNode = nodes[0]) => createUserOverHttp(node.loopbackHttpUrl, accessKey);

  before(async () => {
    db = await createTestDatabase(process.env.NATTER_TEST_PG_URL!);
    accessKey = randomBytes(32).toString("base64");
    nodes = await startNodes(3, { databaseUrl: db.url, redisUrl: process.env.NATTER_TEST_REDIS_URL!, accessKey });
    proxy = await startRoundRobinProxy(nodes.map((n) => n.loopbackHttpUrl));
    resourceId = /^8:acs:([^_]+)_/.exec((await user()).id)![1];
  });
  after(async () => {
    await proxy?.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await db?.drop();
  });

  it("clients on different nodes see each other's messages and every realtime event type", { timeout: 60_000 }, async () => {
    const [alice, bob, carol] = await Promise.all([user(nodes[0]), user(nodes[1]), user(nodes[2])]);
    // Each user talks to (REST) and listens on (realtime) a different node.
    const aliceClient = new ChatClient(nodes[0].httpsUrl, credential(alice.token));
    const bobClient = new ChatClient(nodes[1].httpsUrl, credential(bob.token));
    const carolClient = new ChatClient(nodes[2].httpsUrl, credential(carol.token));
    await Promise.all([aliceClient, bobClient, carolClient].map((x) => x.startRealtimeNotifications()));
    const [a, b, c] = [recorder(aliceClient), recorder(bobClient), recorder(carolClient)];
    try {
      const { chatThread } = await aliceClient.createChatThread({ topic: "nodes" }, { participants: [{ id: { communicationUserId: bob.id }, displayName: "Bob" }] });
      const threadId = chatThread!.id;
      const inThread = (e: Event) => e.threadId === threadId;
      const aliceThread = aliceClient.getChatThreadClient(threadId);
      const bobThread = bobClient.getChatThreadClient(threadId);
      await b.waitFor("chatThreadCreated", inThread);

      // node 2 → node 1, and node 1 → node 2
      const { id: fromBob } = await bobThread.sendMessage({ content: "hi from node 2" });
      assert.equal((await a.waitFor("chatMessageReceived", (e) => inThread(e) && e.id === fromBob)).message, "hi from node 2");
      const { id: fromAlice } = await aliceThread.sendMessage({ content: "hi from node 1" });
      assert.equal((await b.waitFor("chatMessageReceived", (e) => inThread(e) && e.id === fromAlice)).message, "hi from node 1");

      await aliceThread.updateMessage(fromAlice, { content: "edited on node 1" });
      assert.equal((await b.waitFor("chatMessageEdited", (e) => e.id === fromAlice)).message, "edited on node 1");
      await aliceThread.sendTypingNotification({ senderDisplayName: "Alice" });
      await b.waitFor("typingIndicatorReceived", inThread);
      await bobThread.sendReadReceipt({ chatMessageId: fromAlice });
      assert.equal((await a.waitFor("readReceiptReceived", inThread)).chatMessageId, fromAlice);
      await b.waitFor("readReceiptReceived", inThread);
      await aliceThread.deleteMessage(fromAlice);
      await b.waitFor("chatMessageDeleted", (e) => e.id === fromAlice);
      await aliceThread.updateTopic("renamed on node 1");
      await b.waitFor("chatThreadPropertiesUpdated", inThread);

      // carol, listening on node 3, is added by bob through node 2 and hears from alice on node 1.
      await bobThread.addParticipants({ participants: [{ id: { communicationUserId: carol.id } }] });
      await b.waitFor("participantsAdded", inThread);
      await c.waitFor("participantsAdded", inThread);
      const { id: toCarol } = await aliceThread.sendMessage({ content: "welcome, node 3" });
      await c.waitFor("chatMessageReceived", (e) => inThread(e) && e.id === toCarol);
      const { id: fromCarol } = await carolClient.getChatThreadClient(threadId).sendMessage({ content: "node 3 here" });
      await a.waitFor("chatMessageReceived", (e) => inThread(e) && e.id === fromCarol);
      await b.waitFor("chatMessageReceived", (e) => inThread(e) && e.id === fromCarol);
      await aliceThread.removeParticipant({ communicationUserId: carol.id });
      await b.waitFor("participantsRemoved", inThread);
      await c.waitFor("participantsRemoved", inThread);
      await aliceClient.deleteChatThread(threadId);
      await b.waitFor("chatThreadDeleted", inThread);
      await a.waitFor("chatThreadDeleted", inThread);

      const bobSaw = new Set(b.seen.filter((s) => inThread(s.e)).map((s) => s.name));
      assert.deepEqual([...bobSaw].sort(), [...ALL_EVENTS].sort(), "bob (node 2) saw every event type caused on nodes 1 and 2");
      // Durable events exactly once on each node: bob got 3 messages (his own, alice's two) and carol 2.
      assert.equal(b.seen.filter((s) => s.name === "chatMessageReceived" && inThread(s.e)).length, 4);
      assert.equal(c.seen.filter((s) => s.name === "chatMessageReceived" && inThread(s.e)).length, 2);
    } finally {
      await Promise.all([aliceClient, bobClient, carolClient].map((x) => x.stopRealtimeNotifications()));
    }
  });

  it("a message to a 12-member thread listened to on three nodes costs one bus message per node, and reaches every member once", { timeout: 60_000 }, async () => {
    // Member i talks to and listens on node i mod 3; alice (member 0, node 1) sends.
    const members = await Promise.all(Array.from({ length: 12 }, (_, i) => user(nodes[i % 3])));
    const clients = members.map((m, i) => new ChatClient(nodes[i % 3].httpsUrl, credential(m.token)));
    await Promise.all(clients.map((x) => x.startRealtimeNotifications()));
    const recorders = clients.map(recorder);
    /** Messages node 1 has published on the Bus so far (its Prometheus gauge). */
    const published = async () => {
      const text = await (await fetch(new URL("/metrics", nodes[0].loopbackHttpUrl))).text();
      return Number(/^natter_bus_published_messages (\d+)/m.exec(text)![1]);
    };
    try {
      const { chatThread } = await clients[0].createChatThread(
        { topic: "fan-out" }, { participants: members.slice(1).map((m) => ({ id: { communicationUserId: m.id } })) },
      );
      const threadId = chatThread!.id;
      await Promise.all(recorders.map((r) => r.waitFor("chatThreadCreated", (e) => e.threadId === threadId)));
      const before = await published();
      const { id } = await clients[0].getChatThreadClient(threadId).sendMessage({ content: "to everyone" });
      const received = (r: ReturnType<typeof recorder>) => r.seen.filter((s) => s.name === "chatMessageReceived" && s.e.id === id).length;
      await Promise.all(recorders.map((r) => r.waitFor("chatMessageReceived", (e) => e.id === id)));
      assert.equal((await published()) - before, 3, "one bus message per node with members (12 recipients)");
      // A later message in the same thread proves nothing more arrived for the first one.
      const { id: next } = await clients[1].getChatThreadClient(threadId).sendMessage({ content: "next" });
      await Promise.all(recorders.map((r) => r.waitFor("chatMessageReceived", (e) => e.id === next)));
      assert.deepEqual(recorders.map(received), members.map(() => 1), "every member got the message exactly once");
    } finally {
      await Promise.all(clients.map((x) => x.stopRealtimeNotifications()));
    }
  });

  it("revoking a user's tokens on one node closes their realtime sockets on the other nodes, and only theirs", { timeout: 60_000 }, async () => {
    const [erin, frank] = await Promise.all([user(nodes[1]), user(nodes[2])]);
    // erin listens on nodes 2 and 3; frank, in the same thread, on node 2. The revocation goes to node 1.
    const listeners = [
      { who: "erin@2", client: new ChatClient(nodes[1].httpsUrl, credential(erin.token)) },
      { who: "erin@3", client: new ChatClient(nodes[2].httpsUrl, credential(erin.token)) },
      { who: "frank@2", client: new ChatClient(nodes[1].httpsUrl, credential(frank.token)) },
    ].map((l) => ({ ...l, connects: 1, disconnects: 0, got: new Set<string>() }));
    const { chatThread } = await listeners[2].client.createChatThread({ topic: "revocation" }, { participants: [{ id: { communicationUserId: erin.id } }] });
    const threadId = chatThread!.id;
    for (const l of listeners) {
      await l.client.startRealtimeNotifications(); // resolves once the socket is ready
      l.client.on("realTimeNotificationConnected", () => l.connects++);
      l.client.on("realTimeNotificationDisconnected", () => l.disconnects++);
      l.client.on("chatMessageReceived", (e) => void (e.threadId === threadId && l.got.add(e.id)));
    }
    try {
      const frankThread = listeners[2].client.getChatThreadClient(threadId);
      const { id: first } = await frankThread.sendMessage({ content: "before the revocation" });
      await waitUntil(() => listeners.every((l) => l.got.has(first)), 20_000, () => "not everyone got the first message");

      await new CommunicationIdentityClient(`endpoint=${nodes[0].httpsUrl};accesskey=${accessKey}`).revokeTokens({ communicationUserId: erin.id });
      // Node 1 tells the others over the Bus; they re-check erin's sockets and close them (4401).
      await waitUntil(() => listeners[0].disconnects > 0 && listeners[1].disconnects > 0, 30_000, () =>
        listeners.map((l) => `${l.who}: ${l.disconnects} disconnects`).join(", "));
      // The revoked token is refused by REST on every node, and frank's socket on node 2 still works.
      for (const node of nodes) {
        const thread = new ChatClient(node.httpsUrl, credential(erin.token)).getChatThreadClient(threadId);
        await assert.rejects(thread.getProperties(), (error: { statusCode?: number }) => error.statusCode === 401);
      }
      const { id: second } = await frankThread.sendMessage({ content: "after the revocation" });
      await waitUntil(() => listeners[2].got.has(second), 20_000, () => "frank did not get his message after erin's revocation");
      assert.equal(listeners[2].disconnects, 0, "frank's socket stayed open");
      for (const l of listeners.slice(0, 2)) {
        assert.equal(l.connects, 1, `${l.who} did not get back in with the revoked token`);
        assert.ok(!l.got.has(second), `${l.who} got a message after the revocation`);
      }
    } finally {
      await Promise.all(listeners.map((l) => l.client.stopRealtimeNotifications()));
    }
  });

  // Every request of the suite goes to the next node in turn (a thread is created on one node, read on the
  // next, changed on the third): the nodes must behave as one.
  for (const client of CHAT_CLIENTS) {
    defineChatConformance(client, {
      label: "three nodes behind a round-robin balancer",
      target: async () => ({
        endpoint: proxy.endpoint,
        httpsUrl: proxy.endpoint,
        connectionString: `endpoint=${proxy.endpoint};accesskey=${accessKey}`,
        resourceId,
        stop: async () => {},
      }),
    });
  }

  it("the balancer spread the suite's requests over all three nodes", () => {
    const total = proxy.forwarded.reduce((s, n) => s + n, 0);
    for (const [i, n] of proxy.forwarded.entries()) assert.ok(n > total / 6, `node ${i} got ${n} of ${total} requests`);
  });

  it("kill -9 of a node: its realtime clients resume on another node, nothing missing or duplicated, while writers send", { timeout: 90_000 }, async (t) => {
    const readers = await Promise.all(Array.from({ length: 4 }, () => user()));
    const writers = await Promise.all(Array.from({ length: 3 }, () => user()));
    const threadIds = await Promise.all(
      writers.map(async (w) => {
        const client = new ChatClient(proxy.endpoint, credential(w.token));
        const { chatThread } = await client.createChatThread({ topic: "kill" }, { participants: readers.map((r) => ({ id: { communicationUserId: r.id } })) });
        return chatThread!.id;
      }),
    );
    const tracked = new Set(threadIds);
    const state = await Promise.all(readers.map(async (r) => {
      const client = new ChatClient(proxy.endpoint, credential(r.token));
      await client.startRealtimeNotifications();
      const s = { client, got: new Set<string>(), bySeq: new Map<string, number[]>(), duplicates: 0, connects: 1, disconnects: 0 };
      client.on("realTimeNotificationConnected", () => s.connects++);
      client.on("realTimeNotificationDisconnected", () => s.disconnects++);
      client.on("chatMessageReceived", (e) => {
        if (!tracked.has(e.threadId)) return;
        // Message ids are unique per thread only: key by thread and id.
        const key = `${e.threadId} ${e.id}`;
        if (s.got.has(key)) s.duplicates++;
        s.got.add(key);
        const seqs = s.bySeq.get(e.threadId) ?? [];
        seqs.push(Number((e as unknown as { sequenceId: string }).sequenceId));
        s.bySeq.set(e.threadId, seqs);
      });
      return s;
    }));
    const tunnels = proxy.openTunnels();
    const victim = tunnels.indexOf(Math.max(...tunnels));
    const onVictim = tunnels[victim];
    assert.ok(onVictim >= 1, `some reader is connected through node ${victim} (${tunnels.join(",")})`);

    const acked: string[] = [];
    let failures = 0;
    let writing = true;
    const writing$ = writers.map(async (w, i) => {
      const thread = new ChatClient(proxy.endpoint, credential(w.token)).getChatThreadClient(threadIds[i]);
      for (let n = 0; writing; n++) {
        try {
          acked.push(`${threadIds[i]} ${(await thread.sendMessage({ content: `w${i} m${n}` })).id}`);
        } catch {
          failures++; // outcome unknown (the node died mid-request and retries ran out): not counted as sent
        }
        await sleep(10 + Math.random() * 20);
      }
    });
    try {
      await waitUntil(() => acked.length >= 30, 30_000, () => `writers acknowledged ${acked.length}`);
      const disconnectsBefore = state.reduce((sum, s) => sum + s.disconnects, 0);
      const killedAt = acked.length;
      await nodes[victim].kill();
      // Its readers notice, reconnect through the balancer (which skips the dead node) and resume.
      await waitUntil(() => state.reduce((sum, s) => sum + s.disconnects, 0) >= disconnectsBefore + onVictim, 30_000, () => "readers of the killed node did not notice");
      await waitUntil(() => state.every((s) => s.connects > s.disconnects), 30_000, () => "readers did not reconnect");
      await waitUntil(() => acked.length >= killedAt + 60, 60_000, () => `writers acknowledged ${acked.length - killedAt} after the kill`);
    } finally {
      writing = false;
      await Promise.all(writing$);
    }
    assert.equal(proxy.openTunnels()[victim], 0, "nobody is connected to the dead node");
    try {
      await waitUntil(() => state.every((s) => acked.every((k) => s.got.has(k))), 30_000, () =>
        state.map((s, i) => `reader ${i} misses ${acked.filter((k) => !s.got.has(k)).length} of ${acked.length}`).join("; "));
      for (const [i, s] of state.entries()) {
        assert.equal(s.duplicates, 0, `reader ${i} got duplicates`);
        for (const [threadId, seqs] of s.bySeq) assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), `reader ${i}: order in ${threadId}`);
      }
      t.diagnostic(`kill -9: ${onVictim} reader(s) moved off node ${victim}; ${acked.length} messages acknowledged, ${failures} sends failed after retries`);
    } finally {
      await Promise.all(state.map((s) => s.client.stopRealtimeNotifications()));
    }
  });
});
