// Test helpers shared by the common package's tests: fake JWTs and a scripted local HTTP server.
import { createServer } from "node:http";
import type { IncomingHttpHeaders, Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Builds an unsigned JWT-shaped token whose `exp` is `expiresInSeconds` from now.
 * @param expiresInSeconds - Lifetime in seconds (may be negative).
 * @param extra - Extra claims.
 */
export function fakeJwt(expiresInSeconds: number, extra: Record<string, unknown> = {}): string {
  const enc = (value: unknown): string => btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  const exp = Math.floor(Date.now() / 1000) + expiresInSeconds;
  return `${enc({ alg: "none", typ: "JWT" })}.${enc({ exp, ...extra })}.sig`;
}

/** A request the scripted server received. */
export interface RecordedRequest {
  /** Method. */
  method: string;
  /** Path and query as received. */
  url: string;
  /** Headers. */
  headers: IncomingHttpHeaders;
  /** Body text. */
  body: string;
  /** Arrival time (ms). */
  at: number;
}

/** A scripted reply. */
export interface ScriptedReply {
  /** Status code. */
  status: number;
  /** Headers. */
  headers?: Record<string, string>;
  /** Body (objects are JSON-encoded with a JSON content type). */
  body?: unknown;
}

/**
 * Starts an HTTP server on port 0 that answers with `replies` in order (the last reply repeats).
 * @param replies - The replies, or a function of the request.
 */
export async function startScriptedServer(
  replies: ScriptedReply[] | ((req: RecordedRequest) => ScriptedReply),
): Promise<{ url: string; requests: RecordedRequest[]; close: () => Promise<void> }> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      const recorded: RecordedRequest = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body, at: Date.now() };
      requests.push(recorded);
      const reply = typeof replies === "function" ? replies(recorded) : replies[Math.min(requests.length - 1, replies.length - 1)];
      const headers: Record<string, string> = { ...reply.headers };
      let text = "";
      if (reply.body !== undefined) {
        text = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body);
        headers["content-type"] ??= "application/json; charset=utf-8";
      }
      res.writeHead(reply.status, headers);
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
