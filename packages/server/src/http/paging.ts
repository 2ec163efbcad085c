// Query parameters of list operations and the nextLink that carries every filter to the next page.
import { validationError } from "../domain/errors.js";
import { fromWireTime } from "./mappers/chat.js";

type Query = Record<string, unknown>;

function single(query: Query, name: string): string | undefined {
  const v = query[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw validationError(`${name} must be given once.`, name);
  return v;
}

export function intParam(query: Query, name: string, min: number): number | undefined {
  const v = single(query, name);
  if (v === undefined) return undefined;
  if (!/^\d{1,9}$/.test(v) || Number(v) < min) throw validationError(`${name} must be an integer of at least ${min}.`, name);
  return Number(v);
}

export function timeParam(query: Query, name: string): number | undefined {
  const v = single(query, name);
  return v === undefined ? undefined : fromWireTime(v, name);
}

/** Opaque continuation state: base64url JSON. */
export function encodeState(state: unknown): string {
  return Buffer.from(JSON.stringify(state)).toString("base64url");
}

export function decodeState<T>(query: Query, check: (value: unknown) => value is T): T | undefined {
  const v = single(query, "syncState");
  if (v === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(v, "base64url").toString("utf8"));
    if (check(parsed)) return parsed;
  } catch {
    // fall through
  }
  throw validationError("syncState is not a continuation token from this service.", "syncState");
}

/** A nextLink relative to the endpoint, carrying api-version and every filter. */
export function nextLink(path: string, params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) search.set(k, String(v));
  return `${path}?${search.toString()}`;
}

export const threadPath = (threadId: string) => `/chat/threads/${encodeURIComponent(threadId)}`;
