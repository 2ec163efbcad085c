// The realtime baseline: a bare `ws` server (no auth, no storage, no per-socket state). It answers a client's
// hello with a ready frame, and broadcasts the body of each POST /broadcast, as one text frame, to every
// connected socket (the usual `for (client of wss.clients) client.send(data)`), then answers 201.
import http from "node:http";
import { WebSocketServer } from "ws";

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    if (req.method === "POST" && req.url === "/broadcast") {
      const frame = Buffer.concat(chunks);
      for (const ws of wss.clients) ws.send(frame, { binary: false });
      res.writeHead(201, { "content-type": "application/json" }).end('{"id":"1"}');
    } else res.writeHead(404).end();
  });
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on("connection", (ws) => {
  ws.on("message", (data) => {
    if (data.toString().startsWith('{"type":"hello"')) ws.send('{"type":"ready","protocol":1}');
  });
  ws.on("error", () => {});
});
server.listen(0, "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${server.address().port}/`));
process.on("SIGTERM", () => process.exit(0));
