// Capacity model: what 1,000,000 connected users and 50,000 sends/s cost, from the per-layer figures the
// benches measured (bench/RESULTS.md) and stated assumptions for what they do not measure. Prints the inputs
// and the result for "today's" per-send costs and for the targets of issue #16; docs/scaling.md quotes it.
// Run: node bench/capacity-model.mjs [--json]. No servers, no randomness beyond a seeded simulation.

/** Measured (source in each comment). */
const MEASURED = {
  // scale-out, 1 node on PostgreSQL, 2026-11-29 full run: node CPU and PostgreSQL CPU per durable send.
  nodeUsPerSend: 736,
  pgUsPerSend: 656,
  // scale-out, 3 nodes PostgreSQL + Redis, same run: the same per send with the bus and three nodes.
  clusterNodeUsPerSend: 1214,
  clusterPgUsPerSend: 793,
  // fanout, one node, 250-member thread at its max rate: server CPU per delivery (user 3.7 + sys 5.8).
  nodeUsPerDelivery: 9.5,
  // connections, 19,800 idle sockets on one node: RSS per connection; RSS of an idle node.
  kbPerConnection: 9.4,
  idleNodeMb: 115,
  // scale-out bus part (2026-12-03): one event on the bus is 698 B (a 250-recipient fan-out by recipient put
  // 174,577 B on Redis); by node, 12,096 B for 250 recipients over 3 nodes: ≈ 40 B per recipient on top.
  busEventBytes: 698,
  busBytesPerRecipient: 40,
  // same, Redis alone: 260 µs of Redis CPU per fan-out by node to 250 recipients (presence reads + 3 PUBLISH).
  redisUsPerRecipientLarge: 1.0,
};

/** Assumed (not measured here): change them and run again. */
const ASSUMED = {
  connectedUsers: 1_000_000,
  sendsPerSecond: 50_000,
  // Which threads the sends go to: share of sends, members per thread (the sender included).
  threadMix: [
    { share: 0.7, members: 2 },
    { share: 0.25, members: 10 },
    { share: 0.05, members: 100 },
  ],
  // Chance that a member is connected right now (recipients who are not get nothing live).
  connectedShare: 0.5,
  // A heartbeat (ping out, pong in) every 15 s per socket, at this CPU cost.
  heartbeatSeconds: 15,
  heartbeatUs: 5,
  // A node decoding one bus message and waking its sockets: fixed part and per recipient.
  busMessageUs: 15,
  busMessagePerRecipientUs: 0.5,
  // Redis per command for small fan-outs: a presence read, a PUBLISH with one receiver (incl. its delivery).
  redisReadUs: 1.5,
  redisPublishUs: 4,
  // Each node's stream tail reads every event once: PostgreSQL CPU per event row read, per node.
  pgTailUsPerEventPerNode: 3,
  // Node machine and how full it may run; one spare node for failures and deploys.
  nodeCores: 8,
  nodeMemoryGb: 16,
  cpuTarget: 0.6,
  memoryTarget: 0.6,
  spareNodes: 1,
  // Redis bookkeeping per connected user on one node: presence set + channel subscription.
  redisBytesPerUser: 250,
};

/** Per-send costs: today's measurements, and the targets of issue #16 item 3 (not yet measured). */
const COSTS = {
  "today (1 node PG)": { nodeUs: MEASURED.nodeUsPerSend, pgUs: MEASURED.pgUsPerSend },
  "today (3 nodes PG + Redis)": { nodeUs: MEASURED.clusterNodeUsPerSend, pgUs: MEASURED.clusterPgUsPerSend },
  "issue #16 targets": { nodeUs: 400, pgUs: 250 },
};

/** A small seeded PRNG (mulberry32) so the printed figures are reproducible. */
function rng(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Simulates sends: a thread from the mix, each member connected with connectedShare on a uniformly random node
 * of `nodes`. Returns per-send means: recipients, connected recipients (deliveries), distinct nodes reached.
 */
function simulate(nodes, samples = 200_000) {
  const random = rng(16);
  let recipients = 0;
  let deliveries = 0;
  let nodesReached = 0;
  for (let s = 0; s < samples; s++) {
    let r = random();
    const thread = ASSUMED.threadMix.find((t) => (r -= t.share) < 0) ?? ASSUMED.threadMix.at(-1);
    const hit = new Set();
    recipients += thread.members;
    for (let m = 0; m < thread.members; m++) {
      if (random() >= ASSUMED.connectedShare) continue;
      deliveries++;
      hit.add(Math.floor(random() * nodes));
    }
    nodesReached += hit.size;
  }
  return { recipients: recipients / samples, deliveries: deliveries / samples, nodesReached: nodesReached / samples };
}

function model(cost) {
  const S = ASSUMED.sendsPerSecond;
  // Nodes depend on the load and the load (bus messages received) on the nodes: iterate to a fixed point.
  let nodes = 4;
  for (let i = 0; i < 20; i++) {
    const sim = simulate(nodes, 50_000);
    const cores =
      (S * cost.nodeUs + S * sim.deliveries * MEASURED.nodeUsPerDelivery +
        (ASSUMED.connectedUsers / ASSUMED.heartbeatSeconds) * ASSUMED.heartbeatUs +
        S * (sim.nodesReached * ASSUMED.busMessageUs + sim.deliveries * ASSUMED.busMessagePerRecipientUs)) / 1e6;
    const memoryGb = (ASSUMED.connectedUsers * MEASURED.kbPerConnection) / 1024 / 1024;
    const need = Math.max(Math.ceil(cores / (ASSUMED.nodeCores * ASSUMED.cpuTarget)), Math.ceil((memoryGb + (nodes * MEASURED.idleNodeMb) / 1024) / (ASSUMED.nodeMemoryGb * ASSUMED.memoryTarget))) + ASSUMED.spareNodes;
    if (need === nodes) break;
    nodes = need;
  }
  const sim = simulate(nodes);
  const nodeCores = (S * cost.nodeUs) / 1e6 + (S * sim.deliveries * MEASURED.nodeUsPerDelivery) / 1e6 + ((ASSUMED.connectedUsers / ASSUMED.heartbeatSeconds) * ASSUMED.heartbeatUs) / 1e6 +
    (S * (sim.nodesReached * ASSUMED.busMessageUs + sim.deliveries * ASSUMED.busMessagePerRecipientUs)) / 1e6;
  const pgCores = (S * cost.pgUs + S * nodes * ASSUMED.pgTailUsPerEventPerNode) / 1e6;
  const byNode = {
    messages: S * sim.nodesReached,
    bytes: S * (sim.nodesReached * MEASURED.busEventBytes + sim.deliveries * MEASURED.busBytesPerRecipient),
    redisCores: (S * (sim.recipients * ASSUMED.redisReadUs + sim.nodesReached * ASSUMED.redisPublishUs)) / 1e6,
  };
  // Before: one PUBLISH per recipient, connected or not (Redis drops those nobody listens to).
  const byRecipient = { messages: S * sim.recipients, bytes: S * sim.recipients * MEASURED.busEventBytes, redisCores: (S * sim.recipients * ASSUMED.redisPublishUs) / 1e6 };
  return {
    nodes, perSend: sim, nodeCores, connectionsPerNode: Math.round(ASSUMED.connectedUsers / (nodes - ASSUMED.spareNodes)),
    nodeRssGb: (ASSUMED.connectedUsers * MEASURED.kbPerConnection) / 1024 / 1024 + (nodes * MEASURED.idleNodeMb) / 1024,
    pgCores, byNode, byRecipient,
    redisMemoryMb: (ASSUMED.connectedUsers * ASSUMED.redisBytesPerUser) / 1e6,
  };
}

const results = Object.fromEntries(Object.entries(COSTS).map(([name, cost]) => [name, model(cost)]));
if (process.argv.includes("--json")) {
  console.log(JSON.stringify({ MEASURED, ASSUMED, COSTS, results }, null, 2));
} else {
  const f = (n, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
  const r0 = Object.values(results)[0];
  console.log(`${f(ASSUMED.connectedUsers)} connected users, ${f(ASSUMED.sendsPerSecond)} sends/s; per send (simulated): ${f(r0.perSend.recipients, 1)} recipients, ${f(r0.perSend.deliveries, 1)} connected (deliveries), ${f(r0.perSend.nodesReached, 2)} nodes reached at ${r0.nodes} nodes.\n`);
  console.log("| per-send costs | nodes (8 cores) | node cores | connections/node | node RSS total GB | PostgreSQL cores | bus msgs/s by node (by recipient) | bus MB/s by node (by recipient) | Redis cores by node (by recipient) | Redis MB |");
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  for (const [name, r] of Object.entries(results)) {
    console.log(`| ${name} | ${r.nodes} | ${f(r.nodeCores, 1)} | ${f(r.connectionsPerNode)} | ${f(r.nodeRssGb, 1)} | ${f(r.pgCores, 1)} | ${f(r.byNode.messages)} (${f(r.byRecipient.messages)}) | ${f(r.byNode.bytes / 1e6)} (${f(r.byRecipient.bytes / 1e6)}) | ${f(r.byNode.redisCores, 2)} (${f(r.byRecipient.redisCores, 2)}) | ${f(r.redisMemoryMb)} |`);
  }
}
