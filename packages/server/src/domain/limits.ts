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
} as const;

const utf8Bytes = (s: string) => Buffer.byteLength(s, "utf8");

export function checkLength(value: string, max: number, target: string): void {
  if (value.length > max) throw validationError(`${target} must be at most ${max} characters.`, target);
}

export function checkContent(content: string): void {
  if (utf8Bytes(content) > LIMITS.messageContentBytes) {
    throw validationError(`Message content must be at most ${LIMITS.messageContentBytes} bytes.`, "content");
  }
}

export function checkMetadata(metadata: Record<string, string>, maxBytes: number, target: string): void {
  let total = 0;
  for (const [k, v] of Object.entries(metadata)) total += utf8Bytes(k) + utf8Bytes(v);
  if (total > maxBytes) throw validationError(`${target} must be at most ${maxBytes} bytes of names and values.`, target);
}
