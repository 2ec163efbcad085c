// Small helpers the suites share: collecting pages, asserting RestErrors, identifiers.
import assert from "node:assert/strict";
import type { IdentifierKindLike, PagedLike } from "./clients.js";

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/**
 * The pages of a paged list. The Azure SDKs take the page size from the list options (byPage's maxPageSize is
 * ignored by them), so callers pass it both to the list call and here, as the official Azure test suite does.
 */
export async function pagesOf<T>(paged: PagedLike<T>, maxPageSize?: number): Promise<T[][]> {
  const pages: T[][] = [];
  for await (const page of paged.byPage(maxPageSize === undefined ? undefined : { maxPageSize })) pages.push(page);
  return pages;
}

/** pages == ceil(n / size), every page 1..size items, nothing missing or duplicated. */
export function assertPaging<T>(pages: T[][], size: number, expected: string[], key: (item: T) => string): void {
  assert.equal(pages.length, Math.ceil(expected.length / size), `page count for ${expected.length} items of ${size} (got sizes ${pages.map((p) => p.length).join(",")})`);
  for (const page of pages) {
    assert.ok(page.length >= 1 && page.length <= size, `page size ${page.length} not in 1..${size}`);
  }
  const keys = pages.flat().map(key);
  assert.equal(new Set(keys).size, keys.length, "duplicated items across pages");
  assert.deepEqual([...keys].sort(), [...expected].sort());
}

/** The raw id of an identifier the SDK returned. */
export function rawIdOf(identifier: IdentifierKindLike | object | undefined): string | undefined {
  const id = identifier as IdentifierKindLike | undefined;
  return id?.communicationUserId ?? id?.rawId;
}

export interface RestErrorLike {
  name?: string;
  statusCode?: number;
  code?: string;
  message: string;
}

/**
 * Awaits a rejection that is a RestError with `status` and, when given, the ACS error `code`; the SDK must have
 * parsed the ACS error body, so `code` is a string and `message` is the error message, not the raw body.
 */
export async function expectRestError(promise: Promise<unknown>, status: number, code?: string): Promise<RestErrorLike> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught, `expected a ${status} error, but the call succeeded`);
  const e = caught as RestErrorLike;
  assert.equal(e.name, "RestError", `expected a RestError, got ${String(e.name)}: ${e.message}`);
  assert.equal(e.statusCode, status, `expected status ${status}, got ${String(e.statusCode)}: ${e.message}`);
  assert.equal(typeof e.code, "string", "RestError.code comes from the ACS error body");
  if (code !== undefined) assert.equal(e.code, code);
  assert.ok(e.message.length > 0 && !e.message.trimStart().startsWith("{"), `RestError.message is the ACS message, got ${e.message}`);
  return e;
}

/** Decodes a JWT's payload (no verification). */
export function jwtPayload(token: string): Record<string, unknown> {
  const parts = token.split(".");
  assert.equal(parts.length, 3, "a JWT has three parts");
  return JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8")) as Record<string, unknown>;
}
