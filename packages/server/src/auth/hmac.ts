// Verification of ACS HMAC-SHA256 signed admin requests (contract §3.2): signature over
// VERB \n pathAndQuery \n x-ms-date;host;x-ms-content-sha256, keyed with the base64-decoded access key.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { ChatError } from "../domain/errors.js";

export interface SignedRequest {
  method: string;
  /** The request target as received: path still percent-encoded, plus the query. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** The raw body bytes (empty when there is none). */
  body: Buffer;
}

export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

const header = (headers: SignedRequest["headers"], name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
};

const unauthorized = (message: string) => new ChatError("unauthorized", message);

/**
 * The headers ACS signs, in order. The list is fixed by the scheme, not chosen by the client: a client-chosen
 * list would let a captured "<date>;<host>;<hash>" be replayed inside any other header, with a fresh
 * x-ms-date and any body.
 */
const SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256";

/** Throws 401 unless the request carries a valid signature made with `accessKey`. */
export function verifyHmacRequest(request: SignedRequest, accessKey: Uint8Array, now: number): void {
  const authorization = header(request.headers, "authorization");
  const date = header(request.headers, "x-ms-date");
  const contentHash = header(request.headers, "x-ms-content-sha256");
  const host = header(request.headers, "host");
  const match = authorization && /^HMAC-SHA256\s+SignedHeaders=([^&]+)&Signature=(.+)$/i.exec(authorization.trim());
  if (!match) throw unauthorized("An HMAC-SHA256 Authorization header is required.");
  if (match[1].toLowerCase() !== SIGNED_HEADERS) throw unauthorized(`SignedHeaders must be ${SIGNED_HEADERS}.`);
  if (!date || !contentHash || !host) throw unauthorized("x-ms-date, host and x-ms-content-sha256 headers are required.");
  const signature = match[2];
  // The window applies to the signed date, so a signature is good for at most MAX_CLOCK_SKEW_MS either side.
  const time = Date.parse(date);
  if (Number.isNaN(time) || Math.abs(now - time) > MAX_CLOCK_SKEW_MS) throw unauthorized("x-ms-date is missing or more than 15 minutes off.");
  const actualHash = createHash("sha256").update(request.body).digest("base64");
  if (actualHash !== contentHash) throw unauthorized("x-ms-content-sha256 does not match the body.");
  const queryAt = request.url.indexOf("?");
  const path = queryAt === -1 ? request.url : request.url.slice(0, queryAt);
  const query = queryAt === -1 ? "" : new URLSearchParams(request.url.slice(queryAt + 1)).toString();
  const stringToSign = `${request.method.toUpperCase()}\n${path}${query ? `?${query}` : ""}\n${date};${host};${actualHash}`;
  const expected = createHmac("sha256", accessKey).update(stringToSign, "utf8").digest();
  const given = Buffer.from(signature, "base64");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw unauthorized("The HMAC signature is invalid.");
}
