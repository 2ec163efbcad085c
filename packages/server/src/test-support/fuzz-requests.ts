// Bad-input fuzzing of the HTTP API, shared by http/fuzz.test.ts (a fast run) and bench/fuzz-long.mjs (a long
// one): fast-check arbitraries of requests over every endpoint (random and malformed bodies, headers, paths,
// percent-encodings, api-versions and query parameters), a raw-socket HTTP/1.1 client that can send what
// fetch refuses to, and the properties every answer must have:
//   - never a 5xx, and the node keeps answering /healthz;
//   - every non-2xx answer is `application/json; charset=utf-8` with the ACS body {error:{code,message}};
//   - every answer carries `x-content-type-options: nosniff`;
//   - a 2xx only when the request was valid (each generated part knows whether it is valid).
import net from "node:net";
import { createHash, createHmac, randomBytes } from "node:crypto";
import fc from "fast-check";
import secureJson from "secure-json-parse";
import { CHAT_API_VERSIONS, IDENTITY_API_VERSIONS, NATTER_EXTENSIONS_API_VERSION, TOKEN_SCOPES, chatVersionHasMessageMetadata } from "@natter/wire";
import type { RunningNatter } from "../compose.js";
import { LIMITS } from "../domain/limits.js";
import type { Caller } from "../domain/caller.js";

// ---------- raw HTTP ----------

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

function decodeChunked(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf("\r\n", at);
    if (eol === -1) break;
    const size = parseInt(data.subarray(at, eol).toString("latin1"), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** Parses the (last non-1xx) response in `data`; undefined while incomplete. */
function parseResponse(data: Buffer, isHead = false): RawResponse | undefined {
  let start = 0;
  for (;;) {
    const end = data.indexOf("\r\n\r\n", start);
    if (end === -1) return undefined;
    const head = data.subarray(start, end).toString("latin1").split("\r\n");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0])?.[1]);
    if (!Number.isFinite(status)) return undefined;
    if (status >= 100 && status < 200) {
      start = end + 4;
      continue;
    }
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(":");
      if (i > 0) {
        const k = line.slice(0, i).trim().toLowerCase();
        headers[k] = headers[k] !== undefined ? `${headers[k]}, ${line.slice(i + 1).trim()}` : line.slice(i + 1).trim();
      }
    }
    const rest = data.subarray(end + 4);
    if (isHead) return { status, headers, body: Buffer.alloc(0) };
    if (headers["transfer-encoding"]?.includes("chunked")) {
      if (rest.indexOf("0\r\n\r\n") === -1) return undefined;
      return { status, headers, body: decodeChunked(rest) };
    }
    const length = headers["content-length"] !== undefined ? Number(headers["content-length"]) : undefined;
    if (length !== undefined && rest.length < length) return undefined;
    return { status, headers, body: length !== undefined ? rest.subarray(0, length) : rest };
  }
}

export interface RawRequest {
  method: string;
  /** The request target exactly as sent (may hold anything, even bytes HTTP forbids). */
  target: string;
  headers: [string, string][];
  body?: Buffer;
  /** Send the body with Transfer-Encoding: chunked instead of Content-Length. */
  chunked?: boolean;
}

/** One request on a fresh connection (Connection: close). Rejects only when no answer came at all. */
export function rawRequest(port: number, req: RawRequest, timeoutMs = 15_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const parsed = parseResponse(Buffer.concat(chunks), req.method === "HEAD");
      if (parsed) resolve(parsed);
      else reject(error ?? new Error(`no complete answer (${Buffer.concat(chunks).length} bytes)`));
    };
    const timer = setTimeout(() => finish(new Error("timed out")), timeoutMs);
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      // Bodies may be cut short by a connection the server closes; stop as soon as one answer is whole.
      if (parseResponse(Buffer.concat(chunks), req.method === "HEAD")) finish();
    });
    socket.on("end", () => finish());
    socket.on("close", () => finish());
    socket.on("error", (e) => finish(e));
    socket.on("connect", () => {
      const lines: Buffer[] = [Buffer.from(`${req.method} `, "latin1"), Buffer.from(req.target, "utf8"), Buffer.from(" HTTP/1.1\r\n", "latin1")];
      const names = new Set(req.headers.map(([k]) => k.toLowerCase()));
      const all: [string, string][] = [];
      if (!names.has("host")) all.push(["Host", `127.0.0.1:${port}`]);
      all.push(["Connection", "close"], ...req.headers);
      const body = req.body ?? Buffer.alloc(0);
      if (req.chunked) all.push(["Transfer-Encoding", "chunked"]);
      else if (!names.has("content-length") && (body.length > 0 || req.method === "POST" || req.method === "PATCH")) all.push(["Content-Length", String(body.length)]);
      for (const [k, v] of all) lines.push(Buffer.from(`${k}: ${v}\r\n`, "latin1"));
      lines.push(Buffer.from("\r\n"));
      socket.write(Buffer.concat(lines));
      if (req.chunked) {
        if (body.length > 0) socket.write(Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from("\r\n")]));
        socket.write("0\r\n\r\n");
      } else if (body.length > 0) {
        socket.write(body);
      }
    });
  });
}

// ---------- the world the requests act on ----------

interface Slot {
  threadId: string;
  /** A message of the fuzz user in that thread. */
  messageId: string;
}

export interface FuzzWorld {
  natter: RunningNatter;
  port: number;
  user: { userId: string; token: string };
  other: { userId: string; token: string };
  slots: Slot[];
  /** Users identity calls may revoke or delete. */
  victims: string[];
}

async function newSlot(natter: RunningNatter, user: string, other: string): Promise<Slot> {
  const caller: Caller = { userId: user, scopes: ["chat"] };
  const { thread } = await natter.chat.createThread(caller, { topic: "fuzz", participants: [{ userId: other }] });
  const m = await natter.chat.sendMessage(caller, thread.id, { content: "hello", type: "text" });
  return { threadId: thread.id, messageId: m.id };
}

async function newUser(natter: RunningNatter) {
  const u = await natter.identity.createUser();
  const { token } = await natter.tokens.issue(u.id, ["chat"], 1440, u.tokenGeneration);
  return { userId: u.id, token };
}

export async function createFuzzWorld(natter: RunningNatter, slots = 8): Promise<FuzzWorld> {
  const user = await newUser(natter);
  const other = await newUser(natter);
  const world: FuzzWorld = { natter, port: Number(new URL(natter.httpUrl).port), user, other, slots: [], victims: [] };
  for (let i = 0; i < slots; i++) {
    world.slots.push(await newSlot(natter, user.userId, other.userId));
    world.victims.push((await newUser(natter)).userId);
  }
  return world;
}

/** After a request that may have destroyed its slot's thread, message or user, put a fresh one in place. */
async function refresh(world: FuzzWorld, endpoint: Endpoint, slot: number): Promise<void> {
  if (["deleteThread", "removeParticipant", "deleteMessage", "updateThread"].includes(endpoint.name)) {
    world.slots[slot] = await newSlot(world.natter, world.user.userId, world.other.userId);
  }
  if (["deleteUser", "revokeAccessTokens"].includes(endpoint.name)) world.victims[slot] = (await newUser(world.natter)).userId;
}

// ---------- validity ----------

/** What a generated part is: valid, invalid, or either (the test does not decide). */
export type Validity = "valid" | "invalid" | "either";
const combine = (...vs: Validity[]): Validity => (vs.includes("invalid") ? "invalid" : vs.includes("either") ? "either" : "valid");
const v = (ok: boolean): Validity => (ok ? "valid" : "invalid");

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const has = (o: Record<string, unknown>, k: string) => Object.prototype.hasOwnProperty.call(o, k);
const opt = (o: Record<string, unknown>, k: string, ok: (x: unknown) => boolean) => !has(o, k) || ok(o[k]);
const isStrMap = (x: unknown) => isObj(x) && Object.values(x).every((s) => typeof s === "string");
const bytes = (s: string) => Buffer.byteLength(s, "utf8");
const str = (max?: number) => (x: unknown) => typeof x === "string" && (max === undefined || x.length <= max);

/** Type-level validity of an identifier model (whether the id is well formed is left to the server: "either"). */
function identifierValidity(x: unknown): Validity {
  if (!isObj(x)) return "invalid";
  const typed = opt(x, "rawId", str(512)) && opt(x, "kind", str())
    && opt(x, "communicationUser", (c) => isObj(c) && typeof c.id === "string")
    && opt(x, "phoneNumber", (c) => isObj(c) && typeof c.value === "string")
    && opt(x, "microsoftTeamsUser", (c) => isObj(c) && typeof c.userId === "string" && opt(c, "isAnonymous", (b) => typeof b === "boolean") && opt(c, "cloud", str()))
    && opt(x, "microsoftTeamsApp", (c) => isObj(c) && typeof c.appId === "string" && opt(c, "cloud", str()));
  if (!typed) return "invalid";
  if (!has(x, "rawId") && !["communicationUser", "phoneNumber", "microsoftTeamsUser", "microsoftTeamsApp"].some((k) => has(x, k))) return "invalid";
  return "either";
}

function participantValidity(p: unknown, metadataVersion: boolean): Validity {
  if (!isObj(p) || !has(p, "communicationIdentifier")) return "invalid";
  const typed = opt(p, "displayName", str(LIMITS.displayNameLength)) && opt(p, "shareHistoryTime", (t) => typeof t === "string" && t.length >= 1 && t.length <= 64)
    && opt(p, "metadata", isStrMap);
  if (!typed) return "invalid";
  if (metadataVersion && isObj(p.metadata) && Object.entries(p.metadata).reduce((n, [k, s]) => n + bytes(k) + bytes(String(s)), 0) > LIMITS.metadataBytes) return "invalid";
  // shareHistoryTime format and the identifier's shape are the server's to judge.
  return combine(identifierValidity(p.communicationIdentifier), has(p, "shareHistoryTime") ? "either" : "valid");
}

function retentionValidity(r: unknown, metadataVersion: boolean): Validity {
  if (!isObj(r) || !["threadCreationDate", "none"].includes(r.kind as string)) return "invalid";
  if (!opt(r, "deleteThreadAfterDays", Number.isInteger)) return "invalid";
  if (metadataVersion && r.kind === "threadCreationDate") {
    const d = r.deleteThreadAfterDays as number | undefined;
    if (d === undefined || d < LIMITS.retentionMinDays || d > LIMITS.retentionMaxDays) return "invalid";
  }
  return "valid";
}

function mapBytes(m: unknown): number {
  return isObj(m) ? Object.entries(m).reduce((n, [k, s]) => n + bytes(k) + bytes(String(s)), 0) : 0;
}

type BodyCheck = (body: unknown, apiVersion: string) => Validity;

const threadProps = (b: Record<string, unknown>, api: string): Validity => {
  const meta = api >= "2025-03-15";
  if (!opt(b, "topic", str(LIMITS.topicLength)) || !opt(b, "metadata", isStrMap)) return "invalid";
  if (meta && mapBytes(b.metadata) > LIMITS.metadataBytes) return "invalid";
  return has(b, "retentionPolicy") ? retentionValidity(b.retentionPolicy, meta) : "valid";
};

const CHECKS: Record<string, BodyCheck> = {
  createThread: (b, api) => {
    if (!isObj(b) || typeof b.topic !== "string") return "invalid";
    const parts = b.participants;
    if (has(b, "participants") && (!Array.isArray(parts) || parts.length > LIMITS.participantsPerBatch)) return "invalid";
    return combine(threadProps(b, api), ...((parts as unknown[] | undefined) ?? []).map((p) => participantValidity(p, api >= "2025-03-15")));
  },
  updateThread: (b, api) => (isObj(b) ? threadProps(b, api) : "invalid"),
  // Message metadata is ignored at 2021-03-07 (that version has none): only its shape is checked there.
  sendMessage: (b, api) => {
    if (!isObj(b) || typeof b.content !== "string" || bytes(b.content) > LIMITS.messageContentBytes) return "invalid";
    if (!opt(b, "senderDisplayName", str(LIMITS.displayNameLength)) || !opt(b, "metadata", isStrMap)) return "invalid";
    if (chatVersionHasMessageMetadata(api) && mapBytes(b.metadata) > LIMITS.messageMetadataBytes) return "invalid";
    return v(opt(b, "type", (t) => typeof t === "string" && ["text", "html"].includes(t.toLowerCase())));
  },
  updateMessage: (b, api) => {
    if (!isObj(b) || !opt(b, "content", (c) => typeof c === "string" && bytes(c) <= LIMITS.messageContentBytes)) return "invalid";
    return v(opt(b, "metadata", isStrMap) && (!chatVersionHasMessageMetadata(api) || mapBytes(b.metadata) <= LIMITS.messageMetadataBytes));
  },
  addParticipants: (b, api) => {
    if (!isObj(b) || !Array.isArray(b.participants) || b.participants.length === 0 || b.participants.length > LIMITS.participantsPerBatch) return "invalid";
    return combine(...b.participants.map((p) => participantValidity(p, api >= "2025-03-15")));
  },
  removeParticipant: (b) => identifierValidity(b),
  typing: (b) => v(isObj(b) && opt(b, "senderDisplayName", str(LIMITS.displayNameLength))),
  sendReadReceipt: (b) => v(isObj(b) && typeof b.chatMessageId === "string" && b.chatMessageId.length >= 1 && b.chatMessageId.length <= 64),
  createUser: (b, api) => {
    if (!isObj(b)) return "invalid";
    // customId exists from identity 2025-06-30 (1 to 256 printable characters); before, it is an unknown field.
    const customIdOk = (c: unknown) => typeof c === "string" && c.length >= 1 && c.length <= 256 && !/\p{C}/u.test(c);
    if (api >= "2025-06-30" && !opt(b, "customId", customIdOk)) return "invalid";
    const scopes = b.createTokenWithScopes;
    if (has(b, "createTokenWithScopes") && (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every((s) => TOKEN_SCOPES.includes(s as never)))) return "invalid";
    return v(opt(b, "expiresInMinutes", (m) => Number.isInteger(m) && (m as number) >= 60 && (m as number) <= 1440));
  },
  issueAccessToken: (b) => {
    if (!isObj(b) || !Array.isArray(b.scopes) || b.scopes.length === 0 || !b.scopes.every((s) => TOKEN_SCOPES.includes(s as never))) return "invalid";
    return v(opt(b, "expiresInMinutes", (m) => Number.isInteger(m) && (m as number) >= 60 && (m as number) <= 1440));
  },
  /** No body schema: any JSON (or none) will do. */
  any: () => "valid",
};

// ---------- endpoints ----------

interface PathIds {
  thread: string;
  message: string;
  user: string;
}

export interface Endpoint {
  name: string;
  method: string;
  api: "chat" | "identity" | "natter";
  path: (ids: PathIds) => string;
  /** Which ids the path holds. */
  uses: ("thread" | "message" | "user")[];
  /** Name in CHECKS; absent: the method has no body (GET). */
  check?: string;
  /** Query parameters the operation reads. */
  params?: ("maxPageSize" | "skip" | "startTime" | "syncState" | "q")[];
  /** A query parameter the valid request carries unless the case gives that parameter itself (name=value). */
  defaultParam?: string;
  syncState?: "messages" | "threads";
  validBody?: (w: FuzzWorld, slot: Slot) => unknown;
  /** Fields of the valid body that can be given a wrong value. */
  fields?: string[];
  /** The first api-version that has the operation (older ones answer 400). */
  minVersion?: string;
}

const idModel = (id: string) => ({ rawId: id, communicationUser: { id } });

export const ENDPOINTS: Endpoint[] = [
  { name: "createThread", method: "POST", api: "chat", path: () => "/chat/threads", uses: [], check: "createThread",
    validBody: (w) => ({ topic: "fuzz", participants: [{ communicationIdentifier: idModel(w.other.userId), displayName: "Other" }] }),
    fields: ["topic", "participants", "metadata", "retentionPolicy", "participants.0", "participants.0.communicationIdentifier", "participants.0.displayName", "participants.0.shareHistoryTime"] },
  { name: "listThreads", method: "GET", api: "chat", path: () => "/chat/threads", uses: [], params: ["maxPageSize", "startTime", "syncState"], syncState: "threads" },
  { name: "deleteThread", method: "DELETE", api: "chat", path: (i) => `/chat/threads/${i.thread}`, uses: ["thread"], check: "any" },
  { name: "getThread", method: "GET", api: "chat", path: (i) => `/chat/threads/${i.thread}`, uses: ["thread"] },
  { name: "updateThread", method: "PATCH", api: "chat", path: (i) => `/chat/threads/${i.thread}`, uses: ["thread"], check: "updateThread",
    validBody: () => ({ topic: "renamed" }), fields: ["topic", "metadata", "retentionPolicy", "retentionPolicy.kind", "retentionPolicy.deleteThreadAfterDays"] },
  { name: "sendMessage", method: "POST", api: "chat", path: (i) => `/chat/threads/${i.thread}/messages`, uses: ["thread"], check: "sendMessage",
    validBody: () => ({ content: "hi <b>there</b>", type: "html", senderDisplayName: "Fuzz", metadata: { k: "v" } }), fields: ["content", "type", "senderDisplayName", "metadata", "metadata.k"] },
  { name: "listMessages", method: "GET", api: "chat", path: (i) => `/chat/threads/${i.thread}/messages`, uses: ["thread"], params: ["maxPageSize", "startTime", "syncState"], syncState: "messages" },
  { name: "getMessage", method: "GET", api: "chat", path: (i) => `/chat/threads/${i.thread}/messages/${i.message}`, uses: ["thread", "message"] },
  { name: "updateMessage", method: "PATCH", api: "chat", path: (i) => `/chat/threads/${i.thread}/messages/${i.message}`, uses: ["thread", "message"], check: "updateMessage",
    validBody: () => ({ content: "edited", metadata: { a: "b" } }), fields: ["content", "metadata", "metadata.a"] },
  { name: "deleteMessage", method: "DELETE", api: "chat", path: (i) => `/chat/threads/${i.thread}/messages/${i.message}`, uses: ["thread", "message"], check: "any" },
  { name: "listParticipants", method: "GET", api: "chat", path: (i) => `/chat/threads/${i.thread}/participants`, uses: ["thread"], params: ["maxPageSize", "skip"] },
  { name: "addParticipants", method: "POST", api: "chat", path: (i) => `/chat/threads/${i.thread}/participants/:add`, uses: ["thread"], check: "addParticipants",
    validBody: (w) => ({ participants: [{ communicationIdentifier: idModel(w.other.userId) }] }),
    fields: ["participants", "participants.0", "participants.0.communicationIdentifier", "participants.0.communicationIdentifier.rawId", "participants.0.communicationIdentifier.communicationUser", "participants.0.metadata"] },
  { name: "removeParticipant", method: "POST", api: "chat", path: (i) => `/chat/threads/${i.thread}/participants/:remove`, uses: ["thread"], check: "removeParticipant",
    validBody: (w) => idModel(w.other.userId), fields: ["rawId", "communicationUser", "communicationUser.id", "kind", "phoneNumber", "microsoftTeamsUser"] },
  { name: "typing", method: "POST", api: "chat", path: (i) => `/chat/threads/${i.thread}/typing`, uses: ["thread"], check: "typing",
    validBody: () => ({ senderDisplayName: "Fuzz" }), fields: ["senderDisplayName"] },
  { name: "sendReadReceipt", method: "POST", api: "chat", path: (i) => `/chat/threads/${i.thread}/readReceipts`, uses: ["thread"], check: "sendReadReceipt",
    validBody: (_w, s) => ({ chatMessageId: s.messageId }), fields: ["chatMessageId"] },
  // Natter extensions (docs/extensions.md): their own api-version only.
  { name: "searchMessages", method: "GET", api: "natter", path: () => "/natter/chat/search/messages", uses: [], params: ["q", "maxPageSize", "startTime", "syncState"], defaultParam: "q=hello" },
  { name: "listMessagesAround", method: "GET", api: "natter", path: (i) => `/natter/chat/threads/${i.thread}/messages/around/${i.message}`, uses: ["thread", "message"], params: ["maxPageSize"] },
  { name: "listReadReceipts", method: "GET", api: "chat", path: (i) => `/chat/threads/${i.thread}/readReceipts`, uses: ["thread"], params: ["maxPageSize", "skip"] },
  { name: "createUser", method: "POST", api: "identity", path: () => "/identities", uses: [], check: "createUser",
    validBody: () => ({ createTokenWithScopes: ["chat"], expiresInMinutes: 60, customId: `fuzz-${Math.random()}` }),
    fields: ["createTokenWithScopes", "createTokenWithScopes.0", "expiresInMinutes", "customId"] },
  { name: "issueAccessToken", method: "POST", api: "identity", path: (i) => `/identities/${i.user}/:issueAccessToken`, uses: ["user"], check: "issueAccessToken",
    validBody: () => ({ scopes: ["chat", "voip"] }), fields: ["scopes", "scopes.0", "expiresInMinutes"] },
  { name: "revokeAccessTokens", method: "POST", api: "identity", path: (i) => `/identities/${i.user}/:revokeAccessTokens`, uses: ["user"], check: "any" },
  { name: "deleteUser", method: "DELETE", api: "identity", path: (i) => `/identities/${i.user}`, uses: ["user"], check: "any" },
  { name: "getIdentity", method: "GET", api: "identity", path: (i) => `/identities/${i.user}`, uses: ["user"], minVersion: "2025-06-30" },
];

/** Index of the endpoint's first api-version in its API's list (0 when every version has it). */
export function firstVersionIndex(e: Endpoint): number {
  const versions: readonly string[] = e.api === "chat" ? CHAT_API_VERSIONS : e.api === "natter" ? [NATTER_EXTENSIONS_API_VERSION] : IDENTITY_API_VERSIONS;
  return e.minVersion === undefined ? 0 : versions.indexOf(e.minVersion);
}

// ---------- generated parts ----------

/** A path segment for an id: the real one in some spelling, an unknown one, or garbage. */
export type IdPart =
  | { kind: "real"; spelling: "encoded" | "raw" | "allEncoded" | "lowerHex" }
  | { kind: "unknown" }
  | { kind: "garbage"; text: string };

const GARBAGE_SEGMENTS = [
  "%", "%zz", "%00", "%0", "..", ".", "%2e%2e", "%2E%2E%2F", "a%2Fb", "%2F", "%5C", "%F0%9F%98%80", "😀", "ü", "%C3%28", "%ED%A0%80",
  "%E0%A4%A", "19%3Aa%40thread.v2%00", "19%3Aa%00b%40thread.v2", "1%002", "%25", "+", "%20", "%0d%0aX-Injected:%201", "null", "undefined", "-1", "0", "1e999",
  "19:abc@thread.v2", "8%3Aacs%3Afakeid", "%u0041", "%%", "x".repeat(5000), "%41".repeat(1500), "🦜".repeat(300),
];

const idPartArb: fc.Arbitrary<IdPart> = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom("encoded", "raw", "allEncoded", "lowerHex").map((spelling) => ({ kind: "real" as const, spelling: spelling as "encoded" })) },
  { weight: 2, arbitrary: fc.constant({ kind: "unknown" as const }) },
  { weight: 3, arbitrary: fc.constantFrom(...GARBAGE_SEGMENTS).map((text) => ({ kind: "garbage" as const, text })) },
  { weight: 1, arbitrary: fc.constantFrom("%00", "19%3Aa%00b%40thread.v2", "1%002").map((text) => ({ kind: "garbage" as const, text })) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 30 }).map((s) => ({ kind: "garbage" as const, text: encodeURIComponent(s).replace(/%2F/g, "/") })) },
  { weight: 1, arbitrary: fc.string({ unit: "binary-ascii", maxLength: 12 }).map((text) => ({ kind: "garbage" as const, text })) },
);

export type ParamPart = { name: string; value: string; valid: Validity };

const maxPageSizeArb = fc.oneof(
  fc.integer({ min: 1, max: 200 }).map((n) => ({ value: String(n), valid: "valid" as Validity })),
  fc.constantFrom("201", "999999999").map((value) => ({ value, valid: "valid" as Validity })),
  fc.constantFrom("-1", "0", "abc", "1e9", "1.5", "", "1000000000", "%zz", "0x10", "%205", "5%20", "%D9%A3", "5&maxPageSize=6").map((value) => ({ value, valid: "invalid" as Validity })),
);
const skipArb = fc.oneof(
  fc.integer({ min: 0, max: 1000 }).map((n) => ({ value: String(n), valid: "valid" as Validity })),
  fc.constantFrom("-1", "abc", "1e3", "", "99999999999").map((value) => ({ value, valid: "invalid" as Validity })),
);
const startTimeArb = fc.oneof(
  fc.date({ min: new Date(0), max: new Date(4_000_000_000_000), noInvalidDate: true }).map((d) => ({ value: encodeURIComponent(d.toISOString()), valid: "valid" as Validity })),
  fc.constantFrom("garbage", "", "0", "2024-13-45T99:99:99Z", "2024-01-01", "2024-01-01T00:00:00", "%zz", "1e400", "9".repeat(400), "2024-01-01T00:00:00.0000000000000000001Z%00")
    .map((value) => ({ value, valid: "invalid" as Validity })),
  fc.string({ maxLength: 40 }).map((s) => ({ value: encodeURIComponent(s), valid: "either" as Validity })),
);
const syncStateArb = fc.oneof(
  fc.constantFrom("garbage", "", "%zz", "AAAA", "e30", Buffer.from("{\"v\":\"x\"}").toString("base64url"), Buffer.from("{\"a\":1,\"i\":5}").toString("base64url"),
    Buffer.from("[]").toString("base64url"), Buffer.from("null").toString("base64url"), Buffer.from("{\"v\":1e400}").toString("base64url"),
    Buffer.from("{\"__proto__\":{\"v\":1}}").toString("base64url"), "x".repeat(4000),
    // listThreads cursors this service never makes (PostgreSQL answered 500 to them: BIGINT and TEXT refuse them).
    Buffer.from("{\"a\":1.5,\"c\":1,\"i\":\"x\"}").toString("base64url"), Buffer.from("{\"a\":1e30,\"c\":1,\"i\":\"x\"}").toString("base64url"),
    Buffer.from("{\"a\":1,\"c\":1e30,\"i\":\"x\"}").toString("base64url"),
    Buffer.from("{\"a\":1,\"c\":1,\"i\":\"a\\u0000b\"}").toString("base64url"), Buffer.from("{\"v\":1.5}").toString("base64url"))
    .map((value) => ({ value, valid: "invalid" as Validity })),
  fc.string({ maxLength: 60 }).map((s) => ({ value: encodeURIComponent(s), valid: "either" as Validity })),
  fc.integer().map((n) => ({ value: Buffer.from(JSON.stringify({ v: n })).toString("base64url"), valid: "either" as Validity })),
);

/** Search text: words, syntax a user types by accident, and what must be refused (blank, NUL, too long, no word). */
const qArb = fc.oneof(
  fc.constantFrom("hello", "pine*", "%22exact%20words%22", "%EC%97%AC%EB%9F%AC%EB%B6%84", "AND", "NEAR(x", "a%3Ab", "%22unclosed", "x".repeat(1000))
    .map((value) => ({ value, valid: "valid" as Validity })),
  fc.constantFrom("", "%20%20", "%00", "a%00b", "x".repeat(1001), "%21%21%21", "*", "a%20".repeat(65)).map((value) => ({ value, valid: "invalid" as Validity })),
  fc.string({ maxLength: 40 }).map((s) => ({ value: encodeURIComponent(s), valid: "either" as Validity })),
);

const paramArb: fc.Arbitrary<ParamPart> = fc.oneof(
  qArb.map((p) => ({ name: "q", ...p })),
  maxPageSizeArb.map((p) => ({ name: "maxPageSize", ...p })),
  skipArb.map((p) => ({ name: "skip", ...p })),
  startTimeArb.map((p) => ({ name: "startTime", ...p })),
  syncStateArb.map((p) => ({ name: "syncState", ...p })),
  fc.tuple(fc.constantFrom("foo", "%zz", "", "a[b]", "__proto__", "constructor", "x".repeat(2000)), fc.string({ maxLength: 10 }))
    .map(([name, value]) => ({ name, value: encodeURIComponent(value), valid: "valid" as Validity })),
);

/** api-version: a supported one for the endpoint's API, or something else. */
export type VersionPart = { kind: "supported"; index: number } | { kind: "missing" } | { kind: "other"; raw: string };
const versionArb: fc.Arbitrary<VersionPart> = fc.oneof(
  { weight: 8, arbitrary: fc.nat(10).map((index) => ({ kind: "supported" as const, index })) },
  { weight: 1, arbitrary: fc.constant({ kind: "missing" as const }) },
  { weight: 3, arbitrary: fc.oneof(
    fc.constantFrom("", "2024-03-07x", "%zz", "2024-03-07&api-version=2025-03-15", "2023-10-01", "2025-03-15", "x".repeat(3000), "%00", "2024-03-07%00", "2024%2D03%2D07", "2020-01-01", " 2024-03-07")
      .map((raw) => ({ kind: "other" as const, raw })),
    fc.string({ maxLength: 20 }).map((s) => ({ kind: "other" as const, raw: encodeURIComponent(s) })),
  ) },
);

export type AuthPart =
  | { kind: "valid"; style: "plain" | "lowercase" | "spaces" | "trailing" }
  | { kind: "none" }
  | { kind: "bad"; header: string }
  | { kind: "forged" }
  | { kind: "algNone" }
  | { kind: "crossed" } // a bearer token on identity, an HMAC header on chat
  | { kind: "staleDate" }
  | { kind: "hmacGarbage"; header: string };

const authArb: fc.Arbitrary<AuthPart> = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom("plain", "plain", "plain", "lowercase", "spaces", "trailing").map((style) => ({ kind: "valid" as const, style: style as "plain" })) },
  { weight: 1, arbitrary: fc.constant({ kind: "none" as const }) },
  { weight: 2, arbitrary: fc.oneof(
    fc.constantFrom("Bearer", "Bearer ", "Bearer a.b.c", "Bearer a b", "Basic Zm9vOmJhcg==", "Bearer " + "A".repeat(8000), "Bearer ....", "Bearer e30.e30.", "Bearer %zz",
      `Bearer ${Buffer.from("{\"alg\":\"HS256\",\"crit\":[\"x\"]}").toString("base64url")}.e30.AAAA`, "HMAC-SHA256 SignedHeaders=&Signature=", "Negotiate x", "\u00e9\u00e8")
      .map((header) => ({ kind: "bad" as const, header })),
    fc.string({ unit: "binary-ascii", maxLength: 60 }).map((s) => ({ kind: "bad" as const, header: `Bearer ${s}` })),
  ) },
  { weight: 1, arbitrary: fc.constantFrom({ kind: "forged" as const }, { kind: "algNone" as const }, { kind: "crossed" as const }, { kind: "staleDate" as const }) },
  { weight: 1, arbitrary: fc.constantFrom("HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=AAAA", "HMAC-SHA256 SignedHeaders=&Signature=",
    "HMAC-SHA256 SignedHeaders=nope&Signature=%%%", "HMAC-SHA256 Signature=x", "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256;authorization&Signature=" + "A".repeat(44))
    .map((header) => ({ kind: "hmacGarbage" as const, header })) },
);

const CONTENT_TYPES: [string | null, Validity][] = [
  ["application/json", "valid"], ["application/json; charset=utf-8", "valid"], ["Application/JSON", "valid"], ["application/merge-patch+json", "valid"],
  ["text/json", "valid"], ["application/json;charset=UTF-8", "valid"], [null, "valid"],
  ["application/json; charset=latin1", "either"], ["application/json; foo=bar", "either"], ["application/json ; charset=utf-8", "either"], ["application/json;", "either"],
  ["text/plain", "invalid"], ["application/x-www-form-urlencoded", "invalid"], ["multipart/form-data; boundary=x", "invalid"], ["application/xml", "invalid"],
  ["", "invalid"], ["*/*", "invalid"], ["application/jsonx", "invalid"], ["application/problem+json", "invalid"], ["json", "invalid"], ["application/json, text/plain", "either"],
];
const contentTypeArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant(0) },
  { weight: 4, arbitrary: fc.nat(CONTENT_TYPES.length - 1) },
);

export type HeaderPart = { name: string; value: string; valid: Validity; onlyFor?: string };
const headerArb: fc.Arbitrary<HeaderPart> = fc.oneof(
  fc.constantFrom<HeaderPart>(
    { name: "repeatability-request-id", value: "", valid: "invalid", onlyFor: "createThread" },
    { name: "repeatability-request-id", value: "x".repeat(257), valid: "invalid", onlyFor: "createThread" },
    { name: "repeatability-request-id", value: "x".repeat(10_000), valid: "invalid", onlyFor: "createThread" },
    { name: "repeatability-request-id", value: "\u00e9\u00ff\u0080", valid: "valid" },
    { name: "repeatability-request-id", value: "%00", valid: "valid" },
    { name: "repeatability-first-sent", value: "yesterday", valid: "valid" },
    { name: "x-ms-client-request-id", value: "x".repeat(5000), valid: "valid" },
    { name: "x-ms-client-request-id", value: "../../etc/passwd", valid: "valid" },
    { name: "x-ms-client-request-id", value: "\u00e9", valid: "valid" },
    { name: "accept", value: "text/html", valid: "valid" },
    { name: "accept", value: "application/xml;q=0", valid: "valid" },
    { name: "accept-encoding", value: "br, gzip;q=1e9", valid: "valid" },
    { name: "x-ms-date", value: "not a date", valid: "either" },
    { name: "x-ms-content-sha256", value: "AAAA", valid: "either" },
    { name: "origin", value: "https://evil.example", valid: "valid" },
    { name: "x-forwarded-for", value: "1.2.3.4, ::1, garbage", valid: "valid" },
    { name: "expect", value: "100-continue", valid: "either" },
    { name: "x-junk", value: "x".repeat(20_000), valid: "invalid" }, // over the 16 KiB header limit → 431
    { name: "content-encoding", value: "gzip", valid: "either" },
    { name: "x-\u00e9", value: "bad header name", valid: "invalid" },
  ),
  fc.uuid().map((value) => ({ name: "repeatability-request-id", value, valid: "valid" as Validity })),
  fc.tuple(fc.constantFrom("x-custom", "if-match", "range", "cookie"), fc.string({ unit: "binary-ascii", maxLength: 30 }))
    .map(([name, value]) => ({ name, value: value.replace(/[\r\n]/g, ""), valid: "either" as Validity })),
);

/** A body: derived from the endpoint's valid body, or raw bytes. `check`: judge the parsed JSON. */
export type BodyPart =
  | { kind: "valid" }
  | { kind: "none" }
  | { kind: "wrongValue"; field: number; value: unknown }
  | { kind: "hugeString"; field: number; size: number }
  | { kind: "json"; value: unknown }
  | { kind: "text"; text: string }
  | { kind: "bytes"; bytes: number[] }
  | { kind: "template"; index: number; inner: number };

const DEEP = 10_000;
const nestedArrays = "[".repeat(DEEP) + "]".repeat(DEEP);
/** Raw JSON texts; `$` is replaced by one of INNER (a nasty value). */
const TEMPLATES = [
  "$", "{\"content\":$}", "{\"topic\":$}", "{\"participants\":$}", "{\"metadata\":{\"k\":$}}", "{\"x\":$}", "{\"content\":\"ok\",\"metadata\":$}",
  "{\"scopes\":$}", "{\"createTokenWithScopes\":[\"chat\"],\"expiresInMinutes\":$}", "{\"chatMessageId\":$}", "{\"rawId\":$}",
  "{\"communicationUser\":{\"id\":$}}", "{\"participants\":[{\"communicationIdentifier\":$}]}", "{\"topic\":\"t\",\"retentionPolicy\":{\"kind\":\"threadCreationDate\",\"deleteThreadAfterDays\":$}}",
  "{\"senderDisplayName\":$}", "{\"topic\":\"t\",\"participants\":[{\"communicationIdentifier\":{\"rawId\":\"4:+1\"},\"shareHistoryTime\":$}]}",
  "{\"__proto__\":{\"content\":$},\"constructor\":{\"prototype\":{\"x\":1}}}", "{\"content\":\"a\",\"content\":$}",
  // Every stored text field (a NUL in any of them was a 500 on PostgreSQL).
  "{\"content\":\"ok\",\"senderDisplayName\":$}", "{\"metadata\":{\"a\\u0000b\":$}}",
  "{\"topic\":\"t\",\"participants\":[{\"communicationIdentifier\":{\"rawId\":\"4:+1\"},\"displayName\":$}]}",
  "{\"participants\":[{\"communicationIdentifier\":{\"rawId\":\"4:+1\"},\"metadata\":{\"k\":$}}]}",
];
const INNER = [
  nestedArrays, "[".repeat(DEEP), "{\"a\":".repeat(DEEP) + "1" + "}".repeat(DEEP), "1e308", "-1e308", "1e400", "123456789012345678901234567890", "-0", "0.0000001",
  "\"\\ud800\"", "\"\\udc00x\\ud800\"", "\"a\\u0000b\"", "\"\\u202e\\u200b\"", "\"<script>alert(1)</script>\"", "null", "true", "[]", "{}", "\"\"",
  "\"chat\"", "[\"chat\",\"chat\"]", "[\"voip.join\"]", "60", "1440", "30", "90", "\"2024-01-01T00:00:00Z\"", "\"2024-02-30T25:61:00Z\"",
  "\"8:acs:fakeid\"", "\"8:acs:a_b\"", "{\"rawId\":\"4:+14255550123\",\"phoneNumber\":{\"value\":\"+14255550123\"}}",
  "{\"rawId\":\"8:acs:x_y\",\"communicationUser\":{\"id\":\"8:acs:z_w\"}}", "\"" + "x".repeat(30_000) + "\"",
];

export function bodyArb(): fc.Arbitrary<BodyPart> {
  return fc.oneof(
    { weight: 10, arbitrary: fc.constant({ kind: "valid" as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: "none" as const }) },
    { weight: 6, arbitrary: fc.record({ kind: fc.constant("wrongValue" as const), field: fc.nat(20), value: fc.jsonValue({ maxDepth: 3 }) }) },
    // A NUL inside any field of the valid body (PostgreSQL cannot store U+0000 in TEXT: it was a 500 there).
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("wrongValue" as const), field: fc.nat(20), value: fc.constantFrom("a\u0000b", "\u0000", "1\u00002") }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("hugeString" as const), field: fc.nat(20), size: fc.constantFrom(257, 513, 28 * 1024 + 1, 200_000, 1_100_000) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("json" as const), value: fc.jsonValue({ maxDepth: 4 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("json" as const), value: fc.dictionary(
      fc.constantFrom("topic", "content", "participants", "metadata", "retentionPolicy", "type", "senderDisplayName", "chatMessageId", "rawId",
        "communicationUser", "scopes", "createTokenWithScopes", "expiresInMinutes", "kind", "__proto__", "constructor", "prototype"),
      fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("text" as const), text: fc.string({ unit: "binary", maxLength: 80 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("bytes" as const), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 60 }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant("template" as const), index: fc.nat(TEMPLATES.length - 1), inner: fc.nat(INNER.length - 1) }) },
  );
}

export interface FuzzCase {
  mode: "endpoint" | "randomPath";
  endpoint: number;
  slot: number;
  thread: IdPart;
  message: IdPart;
  user: IdPart;
  version: VersionPart;
  params: ParamPart[];
  auth: AuthPart;
  contentType: number;
  headers: HeaderPart[];
  body: BodyPart;
  chunked: boolean;
  /** Occasionally a method the route does not have. */
  method?: string;
  trailingSlash: boolean;
  /** randomPath mode: segments of the path. */
  segments: string[];
}

const SEGMENTS = [
  "chat", "threads", "messages", "participants", ":add", ":remove", "typing", "readReceipts", "identities", ":issueAccessToken", ":revokeAccessTokens",
  "teamsUser", ":exchangeAccessToken", "config", "realTimeNotifications", "healthz", "metrics", "demo", "users", "sign-in", "assets", "index.html", "realtime",
  "", "..", ".", "%2e%2e", "%2F", "%zz", "%", "%00", "😀", "%F0%9F%98%80", "x".repeat(3000), "19%3Aabc%40thread.v2", "%3Aadd", "::add",
];

export function fuzzCaseArb(slots: number): fc.Arbitrary<FuzzCase> {
  return fc.record({
    mode: fc.oneof({ weight: 9, arbitrary: fc.constant("endpoint" as const) }, { weight: 1, arbitrary: fc.constant("randomPath" as const) }),
    endpoint: fc.nat(ENDPOINTS.length - 1),
    slot: fc.nat(slots - 1),
    thread: idPartArb,
    message: idPartArb,
    user: idPartArb,
    version: versionArb,
    params: fc.array(paramArb, { maxLength: 3 }),
    auth: authArb,
    contentType: contentTypeArb,
    headers: fc.array(headerArb, { maxLength: 2 }),
    body: bodyArb(),
    chunked: fc.boolean().map((b) => b && Math.random() < 0.2),
    method: fc.option(fc.constantFrom("PUT", "HEAD", "OPTIONS", "TRACE", "GET", "POST", "DELETE", "PATCH", "QUERY", "get", "FOO", "CONNECT"), { freq: 15 }).map((m) => m ?? undefined),
    trailingSlash: fc.boolean().map((b) => b && Math.random() < 0.1),
    segments: fc.array(fc.oneof(fc.constantFrom(...SEGMENTS), fc.string({ unit: "binary-ascii", maxLength: 8 }).map(encodeURIComponent)), { minLength: 1, maxLength: 6 }),
  });
}

// ---------- resolving a case into bytes ----------

export interface Resolved {
  endpoint: Endpoint;
  request: RawRequest;
  /** Whether a 2xx is allowed. */
  validity: Validity;
  /** Short description for reports. */
  label: string;
}

function idSegment(part: IdPart, real: string): { text: string; valid: Validity } {
  switch (part.kind) {
    case "real":
      switch (part.spelling) {
        case "encoded": return { text: encodeURIComponent(real), valid: "valid" };
        case "raw": return { text: real, valid: "valid" };
        case "lowerHex": return { text: encodeURIComponent(real).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()), valid: "valid" };
        case "allEncoded": return { text: [...Buffer.from(real)].map((b) => `%${b.toString(16).padStart(2, "0").toUpperCase()}`).join(""), valid: "valid" };
      }
      break;
    case "unknown": {
      const unknown = real.startsWith("19:") ? `19:${"0".repeat(32)}@thread.v2` : real.startsWith("8:") ? real.replace(/_[^_]*$/, "_00000000-0000-4000-8000-000000000000") : "1";
      return { text: encodeURIComponent(unknown), valid: "invalid" };
    }
    case "garbage":
      // An empty segment can make the path another route's (…/messages/ is listMessages): not judged.
      return { text: part.text, valid: part.text === encodeURIComponent(real) || part.text === real ? "valid" : part.text === "" ? "either" : "invalid" };
  }
  return { text: "", valid: "invalid" };
}

function setPath(obj: unknown, path: string, value: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(obj)) as Record<string, unknown>;
  const keys = path.split(".");
  let at: Record<string, unknown> = copy;
  for (const k of keys.slice(0, -1)) {
    if (!isObj(at[k]) && !Array.isArray(at[k])) at[k] = {};
    at = at[k] as Record<string, unknown>;
  }
  at[keys[keys.length - 1]] = value;
  return copy;
}

function bodyBytes(c: FuzzCase, e: Endpoint, w: FuzzWorld, slot: Slot): Buffer | undefined {
  const valid = e.validBody?.(w, slot) ?? {};
  const fields = e.fields ?? ["x"];
  const b = c.body;
  switch (b.kind) {
    case "valid": return e.validBody ? Buffer.from(JSON.stringify(valid)) : undefined;
    case "none": return undefined;
    case "wrongValue": return Buffer.from(JSON.stringify(setPath(valid, fields[b.field % fields.length], b.value)));
    case "hugeString": return Buffer.from(JSON.stringify(setPath(valid, fields[b.field % fields.length], "x".repeat(b.size))));
    case "json": return Buffer.from(JSON.stringify(b.value) ?? "");
    case "text": return Buffer.from(b.text, "utf8");
    case "bytes": return Buffer.from(b.bytes);
    case "template": return Buffer.from(TEMPLATES[b.index].replace("$", () => INNER[b.inner]));
  }
}

/** What the server will make of the body bytes: undefined = no body; "bad" = not JSON. */
function parseLikeServer(raw: Buffer | undefined): { value: unknown } | "bad" | undefined {
  if (raw === undefined || raw.length === 0) return undefined;
  try {
    // The server's parser (BOM stripped, __proto__ and constructor.prototype keys dropped): the oracle judges fields, not parsing.
    return { value: secureJson.parse(raw.toString("utf8"), undefined, { protoAction: "remove", constructorAction: "remove" }) };
  } catch {
    return "bad";
  }
}

function signHmac(w: FuzzWorld, method: string, target: string, host: string, body: Buffer, date = new Date()): { auth: string; date: string; hash: string } {
  const q = target.indexOf("?");
  const path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? "" : new URLSearchParams(target.slice(q + 1)).toString();
  const hash = createHash("sha256").update(body).digest("base64");
  const dateText = date.toUTCString();
  const toSign = `${method}\n${path}${query ? `?${query}` : ""}\n${dateText};${host};${hash}`;
  const sig = createHmac("sha256", Buffer.from(w.natter.accessKey, "base64")).update(toSign, "utf8").digest("base64");
  return { auth: `HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=${sig}`, date: dateText, hash };
}

const forge = (t: string) => { const [h, p] = t.split("."); return `${h}.${p}.${randomBytes(32).toString("base64url")}`; };
const algNone = (t: string) => `${Buffer.from("{\"alg\":\"none\",\"typ\":\"JWT\"}").toString("base64url")}.${t.split(".")[1]}.`;

export function resolveCase(w: FuzzWorld, c: FuzzCase): Resolved {
  const picked = ENDPOINTS[c.endpoint];
  let e = picked;
  const method = c.method ?? picked.method;
  const slot = w.slots[c.slot % w.slots.length];
  const parts: Validity[] = [];
  const label: string[] = [];
  // path
  let path: string;
  if (c.mode === "randomPath") {
    path = "/" + c.segments.join("/");
    parts.push("either");
    label.push(`path ${path.slice(0, 80)}`);
  } else {
    const ids = { thread: idSegment(c.thread, slot.threadId), message: idSegment(c.message, slot.messageId), user: idSegment(c.user, w.victims[c.slot % w.victims.length]) };
    for (const u of picked.uses) parts.push(ids[u].valid);
    const texts = { thread: ids.thread.text, message: ids.message.text, user: ids.user.text };
    path = picked.path(texts);
    if (method !== picked.method && method !== "OPTIONS") {
      // Another method on the same path may be another operation (GET /chat/threads lists what POST creates;
      // HEAD is GET without the body): then that operation's rules apply. Otherwise no route matches.
      const same = ENDPOINTS.find((o) => o.method === (method === "HEAD" ? "GET" : method) && o.path(texts) === path);
      if (same) e = same;
      else parts.push("invalid");
    }
    if (c.trailingSlash) path += "/";
    label.push(`${e.name} ids=${e.uses.map((u) => `${u}:${c[u].kind}${c[u].kind === "garbage" ? `(${(c[u] as { text: string }).text.slice(0, 20)})` : ""}`).join(",")}`);
  }
  // query
  const versions: readonly string[] = e.api === "chat" ? CHAT_API_VERSIONS : e.api === "natter" ? [NATTER_EXTENSIONS_API_VERSION] : IDENTITY_API_VERSIONS;
  const query: string[] = [];
  let apiVersion = "";
  if (c.version.kind === "supported") {
    apiVersion = versions[c.version.index % versions.length];
    query.push(`api-version=${apiVersion}`);
  } else if (c.version.kind === "other") {
    query.push(`api-version=${c.version.raw}`);
    // Judged as the server reads it: decoded, and only when given once.
    const given = new URLSearchParams(`api-version=${c.version.raw}`).getAll("api-version");
    const ok = given.length === 1 && versions.includes(given[0]);
    if (ok) apiVersion = given[0];
    parts.push(ok ? "valid" : "invalid");
  } else parts.push("invalid");
  if (e.minVersion !== undefined && apiVersion !== "" && apiVersion < e.minVersion) parts.push("invalid");
  const seen = new Set<string>();
  for (const p of c.params) {
    query.push(`${p.name}=${p.value}`);
    if (e.params?.includes(p.name as "skip")) parts.push(seen.has(p.name) || p.value.includes("&") ? "invalid" : p.valid);
    seen.add(p.name);
  }
  if (e.defaultParam && !c.params.some((p) => `${p.name}=` === e.defaultParam!.slice(0, p.name.length + 1))) query.push(e.defaultParam);
  const target = `${path}${query.length > 0 ? `?${query.join("&")}` : ""}`;
  label.push(`v=${c.version.kind === "supported" ? "ok" : c.version.kind === "other" ? c.version.raw.slice(0, 20) : "none"} params=${c.params.map((p) => `${p.name}=${p.value.slice(0, 20)}`).join("&")}`);
  // body
  const hasBody = !["GET", "HEAD", "TRACE"].includes(method);
  const body = hasBody ? bodyBytes(c, e, w, slot) : undefined;
  const headers: [string, string][] = [];
  const [contentType, ctValid] = CONTENT_TYPES[c.contentType % CONTENT_TYPES.length];
  if (contentType !== null) headers.push(["Content-Type", contentType]);
  if (hasBody && c.mode === "endpoint") {
    // No content type is fine only without a body.
    parts.push(contentType !== null ? ctValid : v(body === undefined || body.length === 0));
    const parsed = parseLikeServer(body);
    if (parsed === "bad") parts.push("invalid");
    else parts.push(CHECKS[e.check ?? "any"](parsed === undefined ? {} : parsed.value, apiVersion));
  }
  label.push(`ct=${contentType ?? "-"} body=${c.body.kind}${body ? `(${body.length}B: ${body.subarray(0, 60).toString("utf8").replace(/\s+/g, " ")})` : ""}`);
  // authentication
  const a = c.auth;
  const host = `127.0.0.1:${w.port}`;
  const isHmac = e.api === "identity" && c.mode === "endpoint";
  if (a.kind === "valid") {
    if (isHmac) {
      const s = signHmac(w, method, target, host, body ?? Buffer.alloc(0));
      headers.push(["Authorization", s.auth], ["x-ms-date", s.date], ["x-ms-content-sha256", s.hash]);
    } else {
      const token = w.user.token;
      const value = a.style === "lowercase" ? `bearer ${token}` : a.style === "spaces" ? `Bearer    ${token}` : a.style === "trailing" ? `Bearer ${token}  ` : `Bearer ${token}`;
      headers.push(["Authorization", value]);
    }
  } else {
    parts.push("invalid");
    if (a.kind === "bad" || a.kind === "hmacGarbage") headers.push(["Authorization", a.header]);
    else if (a.kind === "forged") headers.push(["Authorization", `Bearer ${forge(w.user.token)}`]);
    else if (a.kind === "algNone") headers.push(["Authorization", `Bearer ${algNone(w.user.token)}`]);
    else if (a.kind === "crossed") {
      if (isHmac) headers.push(["Authorization", `Bearer ${w.user.token}`]);
      else { const s = signHmac(w, method, target, host, body ?? Buffer.alloc(0)); headers.push(["Authorization", s.auth], ["x-ms-date", s.date], ["x-ms-content-sha256", s.hash]); }
    } else if (a.kind === "staleDate") {
      const s = signHmac(w, method, target, host, body ?? Buffer.alloc(0), new Date(Date.now() - 20 * 60_000));
      headers.push(["Authorization", isHmac ? s.auth : `Bearer ${forge(w.user.token)}`], ["x-ms-date", s.date], ["x-ms-content-sha256", s.hash]);
    }
  }
  label.push(`auth=${a.kind}`);
  // extra headers
  for (const h of c.headers) {
    // One of each name (repeats are joined by Node, which would blur validity); signed headers stay as signed.
    if (headers.some(([k]) => k.toLowerCase() === h.name)) continue;
    headers.push([h.name, h.value]);
    if (h.onlyFor === undefined || h.onlyFor === e.name) parts.push(h.valid);
    label.push(`hdr ${h.name}=${h.value.slice(0, 20)}`);
  }
  if (c.chunked) label.push("chunked");
  // A CORS preflight is answered whatever the body.
  const validity = method === "OPTIONS" || c.mode === "randomPath" ? "either" : combine(...parts);
  return { endpoint: e, request: { method, target, headers, body, chunked: c.chunked }, validity, label: label.join(" | ") };
}

// ---------- the properties ----------

export interface Outcome {
  status: number | "no answer";
  violations: string[];
}

/** Checks one answer against the properties (without the healthz check). */
export function checkAnswer(r: Resolved, res: RawResponse | Error): string[] {
  if (res instanceof Error) return [`no answer: ${res.message}`];
  const out: string[] = [];
  if (res.status >= 500) out.push(`status ${res.status}`);
  if (res.headers["x-content-type-options"] !== "nosniff") out.push(`status ${res.status} without x-content-type-options: nosniff`);
  if (res.status >= 300) {
    if (res.headers["content-type"] !== "application/json; charset=utf-8") out.push(`status ${res.status} with content-type ${res.headers["content-type"]}`);
    if (r.request.method !== "HEAD") {
      let body: { error?: { code?: unknown; message?: unknown } } | undefined;
      try {
        body = JSON.parse(res.body.toString("utf8"));
      } catch {
        body = undefined;
      }
      if (typeof body?.error?.code !== "string" || typeof body?.error?.message !== "string") out.push(`status ${res.status} without the ACS error body: ${res.body.subarray(0, 200).toString("utf8")}`);
    }
  } else if (res.status >= 200 && r.validity === "invalid") {
    out.push(`status ${res.status} for an invalid request`);
  }
  return out;
}

/** Runs one case: sends it, checks the answer, and repairs the world if the request destroyed something. */
export async function runCase(w: FuzzWorld, c: FuzzCase): Promise<Outcome & { label: string }> {
  const resolved = resolveCase(w, c);
  let res: RawResponse | Error;
  try {
    res = await rawRequest(w.port, resolved.request);
  } catch (error) {
    res = error as Error;
  }
  const violations = checkAnswer(resolved, res);
  if (!(res instanceof Error) && res.status >= 200 && res.status < 300 && c.mode === "endpoint") await refresh(w, resolved.endpoint, c.slot % w.slots.length);
  return { status: res instanceof Error ? "no answer" : res.status, violations, label: resolved.label };
}

/** The node still answers /healthz with 200. */
export async function healthy(w: FuzzWorld): Promise<boolean> {
  try {
    const res = await rawRequest(w.port, { method: "GET", target: "/healthz", headers: [] }, 5_000);
    return res.status === 200;
  } catch {
    return false;
  }
}
