// "The Store cannot be reached right now": the one test shared by the stores (a PostgreSQL store marks its
// broken connections with it) and the HTTP layer (which answers 503 with Retry-After instead of 500).
// "The Store has no room to write": a full disk (or database size limit) is also a 503, and fails /healthz.

const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EPIPE", "ECONNABORTED",
  "57P01", "57P02", "57P03", // PostgreSQL admin_shutdown, crash_shutdown, cannot_connect_now
  "53300", // PostgreSQL too_many_connections
  "SQLITE_BUSY", "SQLITE_LOCKED",
]);
const UNAVAILABLE_MESSAGES = /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Connection ended|Client was closed|Query read timeout/i;

/**
 * True when `err` means the Store is unreachable or refusing work for now (refused, reset, terminated,
 * shutting down, out of connections, connect or query timeout, SQLite busy), also inside an AggregateError or
 * a `cause` chain. SQL errors (constraints, syntax) are not.
 */
export function isUnavailableError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && (UNAVAILABLE_CODES.has(code) || code.startsWith("08"))) return true; // 08: PostgreSQL connection exceptions
  if (err instanceof AggregateError && err.errors.some((e) => isUnavailableError(e))) return true;
  if (UNAVAILABLE_MESSAGES.test(err.message)) return true;
  return err.cause !== undefined && err.cause !== err && isUnavailableError(err.cause);
}

/** SQLite's database or disk is full, PostgreSQL's disk_full (53100), or the file system's ENOSPC. */
const FULL_CODES = new Set(["SQLITE_FULL", "53100", "ENOSPC"]);

/**
 * True when `err` means the Store cannot write for lack of space (also inside an AggregateError or a `cause`
 * chain). Not a broken connection: a PostgreSQL connection that reported it is still usable.
 */
export function isStorageFullError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && FULL_CODES.has(code)) return true;
  if (err instanceof AggregateError && err.errors.some((e) => isStorageFullError(e))) return true;
  return err.cause !== undefined && err.cause !== err && isStorageFullError(err.cause);
}
