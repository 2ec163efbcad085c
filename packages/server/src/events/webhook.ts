// One HTTP delivery to a webhook: the Standard Webhooks signature (webhook-id/-timestamp/-signature) and the
// outcome classified as Event Grid does (2xx delivered; 400/401/403/404/413 not retried; the rest retried,
// honouring Retry-After).
import { createHash, createHmac } from "node:crypto";
import http from "node:http";
import https from "node:https";

/** Statuses Event Grid does not retry: the receiver said the request itself is wrong. */
export const NOT_RETRIED = new Set([400, 401, 403, 404, 413]);

export interface DeliveryResult {
  ok: boolean;
  /** False: dead-letter at once. */
  retryable: boolean;
  status?: number;
  /** From Retry-After (seconds or an HTTP date), when the receiver sent one. */
  retryAfterMs?: number;
  /** "HTTP 503", "timeout", "connection refused"…: what the dead-letter list shows. */
  error: string | null;
}

/** The Standard Webhooks signature: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body` keyed by the secret's bytes. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.startsWith("whsec_") ? secret.slice(6) : secret, "base64");
  return `v1,${createHmac("sha256", key).update(`${id}.${timestampSeconds}.${body}`).digest("base64")}`;
}

/** webhook-id of a request: the event id for one event, else a digest of the ids (the same batch, the same id). */
export function webhookMessageId(eventIds: readonly string[]): string {
  if (eventIds.length === 1) return eventIds[0];
  return `batch_${createHash("sha256").update(eventIds.join("\n")).digest("base64url").slice(0, 32)}`;
}

function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function describe(error: unknown): string {
  const e = error as { name?: string; code?: string; message?: string };
  if (e.name === "TimeoutError") return "timeout";
  if (e.name === "AbortError") return "aborted";
  if (e.code === "ECONNREFUSED") return "connection refused";
  return (e.code ?? e.message ?? String(error)).slice(0, 200);
}

/**
 * Keep-alive agents shared by every subscription: node:http costs a fraction of the global fetch's CPU per
 * request (no WHATWG Request/Response/AbortSignal objects; fetch was the largest item in the delivery profile).
 * Up to 64 sockets per origin (each subscription also has its own concurrency limit).
 */
const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64 }), https: new https.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64 }) };

/** Parsed endpoint URLs (a URL parse per request was 2% of a backlog drain's CPU). */
const urls = new Map<string, URL>();

class DeliveryError extends Error {
  constructor(override readonly name: "TimeoutError" | "AbortError") {
    super(name);
  }
}

/** POSTs `body` and classifies the answer; never throws (an aborted delivery is a retryable failure). Redirects are not followed. */
export function postWebhook(url: string, body: string, headers: Record<string, string>, timeoutMs: number, signal?: AbortSignal, now = Date.now): Promise<DeliveryResult> {
  return new Promise<DeliveryResult>((resolve) => {
    let target = urls.get(url);
    if (!target) {
      try {
        target = new URL(url);
      } catch (error) {
        resolve({ ok: false, retryable: true, error: describe(error) });
        return;
      }
      if (urls.size >= 1_000) urls.clear(); // bounded: about one per subscription
      urls.set(url, target);
    }
    const secure = target.protocol === "https:";
    let settled = false;
    const finish = (result: DeliveryResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve(result);
    };
    const fail = (error: unknown) => finish({ ok: false, retryable: true, error: describe(error) });
    const payload = Buffer.from(body, "utf8");
    const req = (secure ? https : http).request(target, {
      method: "POST", agent: secure ? agents.https : agents.http,
      headers: { ...headers, "content-length": String(payload.length) },
    }, (response) => {
      // The answer's body is not used: drain it so the socket goes back to the pool.
      response.resume();
      response.on("error", () => {});
      const status = response.statusCode ?? 0;
      if (status >= 200 && status < 300) finish({ ok: true, retryable: false, status, error: null });
      else {
        const retryAfter = response.headers["retry-after"];
        finish({
          ok: false, retryable: !NOT_RETRIED.has(status), status,
          retryAfterMs: parseRetryAfter(typeof retryAfter === "string" ? retryAfter : null, now()), error: `HTTP ${status}`,
        });
      }
    });
    const stop = (error: DeliveryError) => {
      fail(error);
      req.destroy(error);
    };
    const onAbort = () => stop(new DeliveryError("AbortError"));
    const timer = setTimeout(() => stop(new DeliveryError("TimeoutError")), timeoutMs);
    req.on("error", fail);
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    req.end(payload);
  });
}
