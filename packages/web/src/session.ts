// The signed-in user, kept in localStorage so a reload keeps the session, and Natter's demo sign-in:
// POST /demo/sign-in stands in for the application's own token service (the ACS pattern: the app's
// backend authenticates the user and issues a chat token; the browser never holds an access key).

/** What the demo token service returns, and what we persist. */
export interface Session {
  userId: string;
  displayName: string;
  token: string;
  /** ISO time. */
  expiresOn: string;
}

/** A user of the directory. */
export interface DirectoryUser {
  userId: string;
  displayName: string;
}

const SESSION_KEY = "natter.session";
const RECENT_KEY = "natter.recentNames";

/** The page's own origin: the app, the REST API and the realtime endpoint share it. */
export const ENDPOINT = `${window.location.origin}/`;

/** Bearer tokens over plain http are refused by the SDK unless explicitly allowed (the http listener). */
export const INSECURE = window.location.protocol === "http:";

function isSession(value: unknown): value is Session {
  const v = value as Partial<Session> | null;
  return !!v && typeof v.userId === "string" && typeof v.displayName === "string" && typeof v.token === "string" && typeof v.expiresOn === "string";
}

/** The stored session, if any and not expired. */
export function loadSession(): Session | undefined {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(SESSION_KEY) ?? "null");
    if (isSession(parsed) && Date.parse(parsed.expiresOn) > Date.now()) return parsed;
  } catch {
    // unreadable: treat as signed out
  }
  return undefined;
}

export function saveSession(session: Session): void {
  localStorage.setItem(SESSION_KEY, JSON.stringify(session));
  const recent = loadRecentNames().filter((n) => n !== session.displayName);
  localStorage.setItem(RECENT_KEY, JSON.stringify([session.displayName, ...recent].slice(0, 6)));
}

export function clearSession(): void {
  localStorage.removeItem(SESSION_KEY);
}

/** Display names signed in with on this browser before (quick pick on the sign-in screen). */
export function loadRecentNames(): string[] {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(RECENT_KEY) ?? "[]");
    return Array.isArray(parsed) ? parsed.filter((n): n is string => typeof n === "string") : [];
  } catch {
    return [];
  }
}

async function errorText(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { error?: { message?: string } };
    if (body.error?.message) return body.error.message;
  } catch {
    // not JSON
  }
  if (response.status === 404) return "Demo sign-in is turned off on this server (start it with --demo-auth on).";
  return `Sign-in failed (HTTP ${response.status}).`;
}

/** Demo sign-in: the user behind a display name (created on first use) and a chat token for it. */
export async function signIn(displayName: string, signal?: AbortSignal): Promise<Session> {
  const response = await fetch(new URL("demo/sign-in", ENDPOINT), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ displayName }),
    signal,
  });
  if (!response.ok) throw new Error(await errorText(response));
  const session = (await response.json()) as Session;
  if (!isSession(session)) throw new Error("Unexpected sign-in response.");
  return session;
}

/** The user directory (every user who signed in with the demo sign-in). */
export async function listUsers(token: string): Promise<DirectoryUser[]> {
  const users: DirectoryUser[] = [];
  let after: string | undefined;
  for (let page = 0; page < 10; page++) {
    const url = new URL("demo/users", ENDPOINT);
    url.searchParams.set("maxPageSize", "200");
    if (after) url.searchParams.set("after", after);
    const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    if (!response.ok) throw new Error(`Could not load the user directory (HTTP ${response.status}).`);
    const body = (await response.json()) as { value: DirectoryUser[] };
    users.push(...body.value);
    if (body.value.length < 200) break;
    after = body.value[body.value.length - 1].displayName;
  }
  return users;
}
