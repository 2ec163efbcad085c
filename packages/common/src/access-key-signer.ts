// HMAC-SHA256 access-key request signing (contract §3.2): x-ms-date, x-ms-content-sha256 and the
// Authorization header over VERB, path+query, date, host and content hash. WebCrypto only.
import type { KeyCredential } from "./key-credential.js";
import { hmacSha256Base64, sha256Base64 } from "./encoding.js";

/** The request fields the signature covers. */
export interface SignableRequest {
  /** HTTP method (any case). */
  method: string;
  /** Absolute request URL, exactly as it will be sent (path still percent-encoded). */
  url: string;
  /** The body string as sent, if any. */
  body?: string;
}

/** Headers to add to a signed request. */
export interface AccessKeySignatureHeaders {
  /** The request time, `Date.toUTCString()` form. */
  "x-ms-date": string;
  /** base64(SHA-256(body)). */
  "x-ms-content-sha256": string;
  /** `HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=...`. */
  Authorization: string;
  /** The URL host (with port). fetch sets Host itself; this is for callers that can set it. */
  Host: string;
}

/**
 * Builds the string to sign: `VERB\npathAndQuery\ndate;host;contentHash`.
 * @param method - HTTP method.
 * @param url - Absolute request URL.
 * @param date - The x-ms-date value.
 * @param contentHash - The x-ms-content-sha256 value.
 */
export function accessKeyStringToSign(method: string, url: string, date: string, contentHash: string): string {
  const parsed = new URL(url);
  const query = parsed.searchParams.toString();
  const pathAndQuery = query ? `${parsed.pathname}?${query}` : parsed.pathname;
  return `${method.toUpperCase()}\n${pathAndQuery}\n${date};${parsed.host};${contentHash}`;
}

/**
 * Signs a request with an access key; the same scheme as Azure's access-key policy, so a server that
 * verifies Azure's signatures verifies these.
 * @param credential - The access key (read now, so rotation applies to the next request).
 * @param request - The request to sign.
 * @param now - The signing time (defaults to the current time).
 */
export async function signRequestWithAccessKey(
  credential: KeyCredential,
  request: SignableRequest,
  now: Date = new Date(),
): Promise<AccessKeySignatureHeaders> {
  const date = now.toUTCString();
  const contentHash = await sha256Base64(request.body ?? "");
  const signature = await hmacSha256Base64(
    credential.key,
    accessKeyStringToSign(request.method, request.url, date, contentHash),
  );
  return {
    "x-ms-date": date,
    "x-ms-content-sha256": contentHash,
    Authorization: `HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=${signature}`,
    Host: new URL(request.url).host,
  };
}
