// Input limits (ACS documented limits where they exist, contract §6; Natter's own where ACS is silent,
// listed in docs/configuration.md). Checks throw 400 with a message that names the limit.
import { CHAT_LIMITS } from "@natter/wire";
import { validationError } from "./errors.js";

export const LIMITS = {
  ...CHAT_LIMITS,
  /** Natter's choice: ACS does not document a topic limit. */
  topicLength: 512,
  displayNameLength: 256,
  /** Natter's choice for message metadata (ACS documents none). */
  messageMetadataBytes: 8 * 1024,
  idempotencyKeyLength: 256,
  /** Natter's choices for message attachments (ACS documents none). */
  attachmentsPerMessage: 50,
  imageNameLength: 256,
} as const;

const utf8Bytes = (s: string) => Buffer.byteLength(s, "utf8");

/**
 * U+0000 is refused in every text a client stores (topic, display names, content, metadata names and values):
 * PostgreSQL cannot hold it in TEXT, and both stores must answer alike, so it is a 400 before any store sees it.
 */
function checkNoNul(value: string, target: string): void {
  if (value.includes("\u0000")) throw validationError(`${target} must not contain the NUL character (U+0000).`, target);
}

/**
 * Whether an id from a request (thread or message id) can name a stored record at all: one with U+0000 cannot
 * (no id the service hands out has it, and PostgreSQL cannot even compare it), so the caller answers 404.
 */
export function isStorableId(id: string): boolean {
  return !id.includes("\u0000");
}

/** A text field: at most `max` characters (UTF-16 units), no U+0000. */
export function checkLength(value: string, max: number, target: string): void {
  if (value.length > max) throw validationError(`${target} must be at most ${max} characters.`, target);
  checkNoNul(value, target);
}

export function checkContent(content: string): void {
  checkNoNul(content, "content");
  if (utf8Bytes(content) > LIMITS.messageContentBytes) {
    throw validationError(`Message content must be at most ${LIMITS.messageContentBytes} bytes.`, "content");
  }
}

export function checkMetadata(metadata: Record<string, string>, maxBytes: number, target: string): void {
  let total = 0;
  for (const [k, v] of Object.entries(metadata)) {
    checkNoNul(k, target);
    checkNoNul(v, target);
    total += utf8Bytes(k) + utf8Bytes(v);
  }
  if (total > maxBytes) throw validationError(`${target} must be at most ${maxBytes} bytes of names and values.`, target);
}

/**
 * A page size of an extension route: 1 to LIMITS.maxPageSize, else 400 (ACS clamps silently; an extension says
 * so instead). The default when none is asked for.
 */
export function strictPageSize(requested: number | undefined): number {
  if (requested === undefined) return LIMITS.defaultPageSize;
  if (!Number.isInteger(requested) || requested < 1 || requested > LIMITS.maxPageSize) {
    throw validationError(`maxPageSize must be an integer from 1 to ${LIMITS.maxPageSize}.`, "maxPageSize");
  }
  return requested;
}
