// Loopback webhook receiver for bench/events.mjs, in its own process so the load generator does not share its
// event loop. Answers Event Grid's validation handshake, counts delivered events, and records commit → receipt
// latency (receipt time minus the message's composeTime, both from this machine's clock). Driven over IPC:
// "stats" → { count, first, last }, "latencies" → [ms…] (then cleared), "reset".
import { createServer } from "node:http";

let count = 0;
let first = 0;
let last = 0;
let latencies = [];
const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    let events = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    if (!Array.isArray(events)) events = [events];
    const validation = events.find((e) => e.eventType === "Microsoft.EventGrid.SubscriptionValidationEvent");
    if (validation) {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ validationResponse: validation.data.validationCode }));
      return;
    }
    const now = Date.now();
    count += events.length;
    if (!first) first = now;
    last = now;
    for (const e of events) {
      const type = e.eventType ?? e.type;
      if (type === "Microsoft.Communication.ChatMessageReceivedInThread") latencies.push(now - Date.parse(e.data.composeTime));
    }
    res.writeHead(200).end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => process.send({ ready: server.address().port }));
process.on("message", (m) => {
  if (m === "stats") process.send({ stats: { count, first, last } });
  else if (m === "latencies") {
    process.send({ latencies });
    latencies = [];
  } else if (m === "reset") {
    count = first = last = 0;
    latencies = [];
  }
});
