// Startup check shared by the Redis-backed implementations: wait for connections to be ready, or fail fast
// with an error that names the server (never its password) and the last connection error.
import type { Redis } from "ioredis";

/** The URL without its password, for error messages. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "<invalid Redis URL>";
  }
}

/** Remembers the last 'error' of each connection, for waitUntilReady's message. */
export function trackLastError(connection: Redis): () => Error | undefined {
  let last: Error | undefined;
  connection.on("error", (error: Error) => {
    last = error;
  });
  return () => last;
}

const readyOnce = (connection: Redis) =>
  new Promise<void>((resolve, reject) => {
    if (connection.status === "ready") return resolve();
    const onReady = () => {
      connection.off("end", onEnd);
      resolve();
    };
    const onEnd = () => {
      connection.off("ready", onReady);
      reject(new Error("connection closed"));
    };
    connection.once("ready", onReady);
    connection.once("end", onEnd);
  });

/**
 * Resolves when every connection is ready. Otherwise, after `timeoutMs`, rejects with
 * "Redis at <url> is not reachable: <last connection error>" (the caller should then close the connections,
 * or ioredis keeps retrying in the background and the process does not exit).
 */
export async function waitUntilReady(url: string, connections: Redis[], timeoutMs: number, lastError: () => Error | undefined): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([Promise.all(connections.map(readyOnce)), timeout]);
  } catch (error) {
    const cause = lastError() ?? (error instanceof Error ? error : new Error(String(error)));
    throw new Error(`Redis at ${redactRedisUrl(url)} is not reachable: ${cause.message}`, { cause });
  } finally {
    clearTimeout(timer);
  }
}
