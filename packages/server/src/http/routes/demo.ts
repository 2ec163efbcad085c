// Natter's demo sign-in (not part of ACS): POST /demo/sign-in issues a chat token for a display name, and
// GET /demo/users lists the directory. On by default only when bound to loopback (see --demo-auth).
// Both answer same-origin requests only (never CORS): a page of another origin, a file:// page or a DNS
// rebinding page must not sign in as anyone, since the sign-in needs no credential.
import { isIP } from "node:net";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { JSON_CONTENT_TYPE } from "@natter/wire";
import type { DirectoryService } from "../../domain/directory-service.js";
import type { TokenService } from "../../auth/tokens.js";
import { ChatError } from "../../domain/errors.js";
import { caller } from "../plugins/request-context.js";
import { intParam } from "../paging.js";

const signInSchema = {
  type: "object",
  required: ["displayName"],
  properties: { displayName: { type: "string", maxLength: 256 } },
} as const;

/** Path prefix of the demo endpoints (the CORS plugin leaves them out). */
export const DEMO_PREFIX = "/demo/";

/**
 * A Host a browser can only send when it really connected to us: localhost, an IP address (a DNS rebinding
 * page arrives with its own domain name in Host), or a name configured with --demo-hosts.
 */
function hostAllowed(hostname: string, extraHosts: readonly string[]): boolean {
  if (hostname === "localhost" || extraHosts.includes(hostname)) return true;
  return isIP(hostname.replace(/^\[(.*)\]$/, "$1")) !== 0;
}

/**
 * Refuses (403) anything but a same-origin browser request or a non-browser client (no Origin, no
 * Sec-Fetch-Site) that names an allowed Host.
 */
export function checkSameOrigin(request: FastifyRequest, extraHosts: readonly string[]): void {
  const refuse = (why: string) => new ChatError("forbidden", `The demo sign-in answers same-origin requests only (${why}).`);
  const host = request.headers.host;
  let own: URL;
  try {
    own = new URL(`${request.protocol}://${host ?? ""}`);
  } catch {
    throw refuse("malformed Host");
  }
  if (!host || own.username !== "" || own.pathname !== "/" || !hostAllowed(own.hostname, extraHosts)) throw refuse("Host not allowed: use localhost or an IP address, or list the name with --demo-hosts");
  const site = request.headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin" && site !== "none") throw refuse(`Sec-Fetch-Site: ${String(site).slice(0, 20)}`);
  const origin = request.headers.origin;
  if (origin !== undefined) {
    let from: string | undefined;
    try {
      from = new URL(origin).origin;
    } catch {
      // refused below
    }
    if (origin === "null" || from === undefined || from === "null" || from !== own.origin) throw refuse("cross-origin");
  }
}

export function demoRoutes(app: FastifyInstance, directory: DirectoryService, tokens: TokenService, extraHosts: readonly string[] = []): void {
  // Before the body is read, authentication and rate limits: a refused request costs nothing and counts nowhere.
  const sameOrigin = async (request: FastifyRequest) => checkSameOrigin(request, extraHosts);

  // Demo sign-in: POST /demo/sign-in { displayName } → { userId, displayName, token, expiresOn }
  app.post<{ Body: { displayName: string } }>(
    "/demo/sign-in",
    { config: { limit: "demoSignIn", cors: false }, onRequest: sameOrigin, schema: { body: signInSchema } },
    async (request, reply) => {
      const { user, profile } = await directory.signIn(request.body.displayName);
      const issued = await tokens.issue(user.id, ["chat"], 1440, user.tokenGeneration);
      return reply.type(JSON_CONTENT_TYPE).send({ userId: user.id, displayName: profile.displayName, token: issued.token, expiresOn: issued.expiresOn.toISOString() });
    },
  );

  // User directory: GET /demo/users?maxPageSize=&after= (any signed-in user)
  app.get("/demo/users", { config: { auth: "bearer", cors: false }, onRequest: sameOrigin }, async (request, reply) => {
    caller(request);
    const query = request.query as Record<string, unknown>;
    const limit = intParam(query, "maxPageSize", 1) ?? 200;
    const after = typeof query.after === "string" ? query.after : undefined;
    const profiles = await directory.list(limit, after);
    return reply.type(JSON_CONTENT_TYPE).send({ value: profiles.map((p) => ({ userId: p.userId, displayName: p.displayName })) });
  });
}
