// One HTTP delivery to a webhook: the Standard Webhooks signature (webhook-id/-timestamp/-signature) and the
// outcome classified as Event Grid does (2xx delivered; 400/401/403/404/413 not retried; the rest retried,
// honouring Retry-After).
import { createHash, createHmac } from "node:crypto";

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
  const e = error as { name?: string; cause?: { code?: string; message?: string }; message?: string };
  if (e.name === "TimeoutError") return "timeout";
  if (e.name === "AbortError") return "aborted";
  const code = e.cause?.code;
  if (code === "ECONNREFUSED") return "connection refused";
  return (code ?? e.cause?.message ?? e.message ?? String(error)).slice(0, 200);
}

/** POSTs `body` and classifies the answer; never throws (an aborted delivery is a retryable failure). */
export async function postWebhook(url: string, body: string, headers: Record<string, string>, timeoutMs: number, signal?: AbortSignal, now = Date.now): Promise<DeliveryResult> {
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const response = await fetch(url, {
      method: "POST", body, headers, redirect: "manual",
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    // The answer's body is not used: drop it so the connection goes back to the pool.
    await response.body?.cancel().catch(() => {});
    if (response.status >= 200 && response.status < 300) return { ok: true, retryable: false, status: response.status, error: null };
    return {
      ok: false, retryable: !NOT_RETRIED.has(response.status), status: response.status,
      retryAfterMs: parseRetryAfter(response.headers.get("retry-after"), now()), error: `HTTP ${response.status}`,
    };
  } catch (error) {
    return { ok: false, retryable: true, error: describe(error) };
  }
}
