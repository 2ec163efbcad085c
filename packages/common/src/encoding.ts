// Isomorphic byte helpers (no Buffer): UTF-8, base64, base64url, SHA-256 and HMAC-SHA256 over WebCrypto,
// and UUID v4 generation. Work in browsers and Node 20+.

const encoder = new TextEncoder();

/**
 * Encodes bytes as standard base64.
 * @param bytes - The bytes to encode.
 */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

/**
 * Decodes standard or URL-safe base64 (padding optional) into bytes. Throws on invalid input.
 * @param text - The base64 text.
 */
export function base64ToBytes(text: string): Uint8Array<ArrayBuffer> {
  let normalized = text.replace(/-/g, "+").replace(/_/g, "/").replace(/\s+/g, "");
  while (normalized.length % 4 !== 0) normalized += "=";
  const binary = atob(normalized);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Decodes base64url text into a UTF-8 string.
 * @param text - The base64url text.
 */
export function base64UrlToString(text: string): string {
  return new TextDecoder().decode(base64ToBytes(text));
}

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error("WebCrypto (crypto.subtle) is not available; a secure context or Node 20+ is required.");
  return s;
}

/**
 * Returns base64(SHA-256(UTF-8 text)).
 * @param text - The text to hash.
 */
export async function sha256Base64(text: string): Promise<string> {
  const digest = await subtle().digest("SHA-256", encoder.encode(text));
  return bytesToBase64(new Uint8Array(digest));
}

/**
 * Returns base64(HMAC-SHA256(key = base64-decoded `base64Key`, UTF-8 text)).
 * @param base64Key - The access key, base64-encoded (as in a connection string).
 * @param text - The text to sign.
 */
export async function hmacSha256Base64(base64Key: string, text: string): Promise<string> {
  const key = await subtle().importKey("raw", base64ToBytes(base64Key), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const signature = await subtle().sign("HMAC", key, encoder.encode(text));
  return bytesToBase64(new Uint8Array(signature));
}

/** Returns a random UUID v4 (crypto.randomUUID where available, getRandomValues otherwise). */
export function generateUuid(): string {
  const c = globalThis.crypto;
  if (typeof c?.randomUUID === "function") return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (typeof c?.getRandomValues === "function") c.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
