// Short human-readable log lines for a terminal (`--log-format pretty`, the default when stdout is a TTY):
// pino's JSON records in, one line each out. A request is one line when it completes:
//   10:25:31 201 POST /chat/threads?api-version=2024-03-07 3.2 ms
// Other records: time, level, message, then their fields as compact JSON, and an error's stack.
import { Writable } from "node:stream";

const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
/** Fields every record has, or that a line already shows. */
const SHOWN = new Set(["level", "time", "pid", "hostname", "msg", "reqId", "req", "res", "responseTime", "err"]);
/** Requests waiting for their completion record, by request id (bounded: an aborted request never completes). */
const MAX_PENDING = 10_000;

interface LogRecord {
  level?: number;
  time?: number;
  msg?: string;
  reqId?: string;
  req?: { method?: string; url?: string };
  res?: { statusCode?: number };
  responseTime?: number;
  err?: { message?: string; stack?: string };
  [key: string]: unknown;
}

function clock(time: number | undefined): string {
  return new Date(time ?? Date.now()).toTimeString().slice(0, 8);
}

/** Formats one pino record, or returns undefined when it has nothing to show on its own (an incoming request). */
export function formatRecord(record: LogRecord, pending: Map<string, { method?: string; url?: string }>): string | undefined {
  if (record.msg === "incoming request" && record.req && record.reqId !== undefined) {
    if (pending.size >= MAX_PENDING) pending.delete(pending.keys().next().value!);
    pending.set(record.reqId, record.req);
    return undefined;
  }
  const time = clock(record.time);
  if (record.msg === "request completed" && record.res) {
    const req = record.reqId !== undefined ? pending.get(record.reqId) : undefined;
    if (record.reqId !== undefined) pending.delete(record.reqId);
    const ms = typeof record.responseTime === "number" ? ` ${record.responseTime.toFixed(1)} ms` : "";
    return `${time} ${record.res.statusCode ?? "-"} ${req?.method ?? "?"} ${req?.url ?? "?"}${ms}`;
  }
  const level = LEVELS[record.level ?? 30] ?? String(record.level);
  const extra = Object.fromEntries(Object.entries(record).filter(([k]) => !SHOWN.has(k)));
  const fields = Object.keys(extra).length ? ` ${JSON.stringify(extra)}` : "";
  const error = record.err ? `\n    ${(record.err.stack ?? record.err.message ?? "").replace(/\n/g, "\n    ")}` : "";
  return `${time} ${level.padEnd(5)} ${record.msg ?? ""}${fields}${error}`;
}

/** A stream for pino's `stream` option that writes pretty lines to `out`. */
export function prettyLogStream(out: NodeJS.WritableStream): Writable {
  const pending = new Map<string, { method?: string; url?: string }>();
  let buffered = "";
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, done) {
      buffered += chunk.toString();
      let newline: number;
      let text = "";
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (!line.trim()) continue;
        let record: LogRecord;
        try {
          record = JSON.parse(line) as LogRecord;
        } catch {
          text += line + "\n";
          continue;
        }
        const formatted = formatRecord(record, pending);
        if (formatted !== undefined) text += formatted + "\n";
      }
      if (text) out.write(text);
      done();
    },
  });
}
