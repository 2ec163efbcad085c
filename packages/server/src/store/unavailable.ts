// "The Store cannot be reached right now": the one test shared by the stores (a PostgreSQL store marks its
// broken connections with it) and the HTTP layer (which answers 503 with Retry-After instead of 500).

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
