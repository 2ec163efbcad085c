// A pool of WebSocket clients in a child process (bench/ws-lib.mjs startClientProcess), driven over IPC.
// Speaks Natter's realtime protocol (hello on open, pong to pings) and, for every frame carrying a send
// timestamp marker "@@T<ms>@@", records send→receive latency. The same client drives the bare `ws` baseline.
// Commands: connect, reset, report, closeAll, exit; each answered with a message carrying the same id.
import WebSocket from "ws";
import { nowMs } from "./wall-clock.mjs";

const sockets = [];
let latencies = new Float64Array(1 << 16);
let count = 0;
let firstRecv = 0;
let lastRecv = 0;
let frameBytes = 0;
let perMessage = null; // Map: send timestamp → { first latency, deliveries } when tracking is on

function onFrame(ws, data) {
  const s = data.toString();
  if (s.startsWith('{"type":"ping"')) {
    ws.send('{"type":"pong"}');
    return;
  }
  const at = s.indexOf("@@T");
  if (at < 0) return;
  const now = nowMs();
  const sent = Number(s.slice(at + 3, s.indexOf("@@", at + 3)));
  const latency = now - sent;
  if (count === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2);
    bigger.set(latencies);
    latencies = bigger;
  }
  latencies[count++] = latency;
  if (!firstRecv) firstRecv = now;
  lastRecv = now;
  frameBytes = Buffer.byteLength(s);
  if (perMessage) {
    const m = perMessage.get(sent);
    if (m) m.deliveries++;
    else perMessage.set(sent, { first: latency, deliveries: 1 });
  }
}

/** Opens one socket; resolves true once ready (Natter's `ready` frame or, for the baseline, its `ready`). */
function open(url, localAddress, timeoutMs) {
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok, why) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(ok ? true : String(why));
    };
    const ws = new WebSocket(url, { localAddress, perMessageDeflate: false, handshakeTimeout: timeoutMs });
    const timer = setTimeout(() => {
      finish(false, "timeout");
      ws.terminate();
    }, timeoutMs);
    ws.on("open", () => ws.send('{"type":"hello","protocol":1}'));
    ws.on("message", (data) => {
      if (!done && data.toString().startsWith('{"type":"ready"')) {
        sockets.push(ws);
        finish(true);
        return;
      }
      onFrame(ws, data);
    });
    ws.on("error", (e) => finish(false, e.code ?? e.message));
    ws.on("close", (code) => finish(false, `closed ${code}`));
  });
}

async function connect({ targets, concurrency = 100, timeoutMs = 30_000 }) {
  const started = nowMs();
  let next = 0;
  let connected = 0;
  const errors = {};
  const worker = async () => {
    while (next < targets.length) {
      const t = targets[next++];
      const r = await open(t.url, t.localAddress, timeoutMs);
      if (r === true) connected++;
      else errors[r] = (errors[r] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, targets.length) }, worker));
  return { connected, failed: targets.length - connected, errors, started, finished: nowMs() };
}

process.on("message", async (m) => {
  const reply = (x) => process.send({ id: m.id, ...x });
  try {
    switch (m.cmd) {
      case "connect":
        return reply(await connect(m));
      case "reset":
        count = 0;
        firstRecv = lastRecv = 0;
        perMessage = m.trackMessages ? new Map() : null;
        return reply({ ok: true });
      case "report": {
        if (m.light) return reply({ count });
        const open = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;
        return reply({
          count, latencies: latencies.slice(0, count), firstRecv, lastRecv, frameBytes, open,
          perMessage: perMessage ? [...perMessage.entries()] : undefined,
        });
      }
      case "closeAll": {
        await Promise.all(sockets.map((ws) => new Promise((r) => {
          if (ws.readyState === WebSocket.CLOSED) return r();
          ws.once("close", r);
          ws.terminate();
        })));
        sockets.length = 0;
        return reply({ ok: true });
      }
      case "exit":
        for (const ws of sockets) ws.terminate();
        process.exit(0);
    }
  } catch (error) {
    reply({ error: String(error?.stack ?? error) });
  }
});
