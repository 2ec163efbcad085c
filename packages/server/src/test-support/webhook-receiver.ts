// Test helper: a real HTTP webhook receiver on 127.0.0.1 (port 0) that answers Event Grid's validation handshakes,
// records every delivery (headers, raw body) and answers as the test says (status, Retry-After, delay, down).
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  /** Waits this long before answering (ms). */
  delayMs?: number;
}

export interface WebhookReceiver {
  url: string;
  port: number;
  /** Every notification (not the handshakes), in arrival order. */
  deliveries: ReceivedRequest[];
  /** Every request, handshakes included. */
  requests: ReceivedRequest[];
  /** How notifications are answered (default 200); may look at the request. */
  answer: (request: ReceivedRequest) => Answer;
  /** How the handshake is answered: "echo" (validationResponse), "url" (opens validationUrl, answers 200 {}), or an Answer. */
  handshake: "echo" | "url" | Answer;
  /** Closes the listening socket (connections are refused) until `up()`; same port. */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(options: { port?: number; path?: string } = {}): Promise<WebhookReceiver> {
  const sockets = new Set<Socket>();
  const receiver: WebhookReceiver = {
    url: "", port: 0, deliveries: [], requests: [], answer: () => ({ status: 200 }), handshake: "echo",
    down: async () => {}, up: async () => {}, close: async () => {},
  };
  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const request: ReceivedRequest = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), at: Date.now() };
        receiver.requests.push(request);
        if (req.method === "OPTIONS") {
          const origin = req.headers["webhook-request-origin"];
          const h = receiver.handshake;
          if (typeof h === "object") return void res.writeHead(h.status, h.headers).end();
          return void res.writeHead(200, { "WebHook-Allowed-Origin": String(origin ?? "*") }).end();
        }
        if (req.headers["aeg-event-type"] === "SubscriptionValidation") {
          const [event] = JSON.parse(request.body) as { data: { validationCode: string; validationUrl: string } }[];
          const h = receiver.handshake;
          if (h === "echo") return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ validationResponse: event.data.validationCode }));
          if (h === "url") {
            res.writeHead(200, { "content-type": "application/json" }).end("{}");
            // As a person or a script would: a little later, a GET of the validationUrl.
            setTimeout(() => void fetch(event.data.validationUrl).then((r) => r.text()).catch(() => {}), 50);
            return;
          }
          return void res.writeHead(h.status, h.headers).end();
        }
        receiver.deliveries.push(request);
        const answer = receiver.answer(request);
        // unref: a hanging answer must not keep the test process alive.
        if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs).unref());
        if (!res.destroyed) res.writeHead(answer.status, answer.headers).end();
      })();
    });
  };
  let server = http.createServer(handler);
  const track = (s: http.Server) => s.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  track(server);
  const listen = (s: http.Server, port: number) => new Promise<number>((resolve, reject) => {
    s.once("error", reject);
    s.listen(port, "127.0.0.1", () => resolve((s.address() as AddressInfo).port));
  });
  const stop = () => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy();
    server.close(() => resolve());
  });
  const port = await listen(server, options.port ?? 0);
  receiver.port = port;
  receiver.url = `http://127.0.0.1:${port}${options.path ?? "/hook"}`;
  receiver.down = stop;
  receiver.up = async () => {
    server = http.createServer(handler);
    track(server);
    await listen(server, port);
  };
  receiver.close = stop;
  return receiver;
}

/** Event Grid's events in a delivery (the body is an array, or one CloudEvent). */
export function eventsOf(request: ReceivedRequest): Record<string, unknown>[] {
  const body = JSON.parse(request.body) as unknown;
  return Array.isArray(body) ? (body as Record<string, unknown>[]) : [body as Record<string, unknown>];
}
