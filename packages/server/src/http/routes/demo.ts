// Natter's demo sign-in (not part of ACS): POST /demo/sign-in issues a chat token for a display name, and
// GET /demo/users lists the directory. On by default only when bound to loopback (see --demo-auth).
import type { FastifyInstance } from "fastify";
import { JSON_CONTENT_TYPE } from "@natter/wire";
import type { DirectoryService } from "../../domain/directory-service.js";
import type { TokenService } from "../../auth/tokens.js";
import { caller } from "../plugins/request-context.js";
import { intParam } from "../paging.js";

const signInSchema = {
  type: "object",
  required: ["displayName"],
  properties: { displayName: { type: "string", maxLength: 256 } },
} as const;

export function demoRoutes(app: FastifyInstance, directory: DirectoryService, tokens: TokenService): void {
  // Demo sign-in: POST /demo/sign-in { displayName } → { userId, displayName, token, expiresOn }
  app.post<{ Body: { displayName: string } }>("/demo/sign-in", { config: { limit: "createUser" }, schema: { body: signInSchema } }, async (request, reply) => {
    const { user, profile } = await directory.signIn(request.body.displayName);
    const issued = await tokens.issue(user.id, ["chat"], 1440, user.tokenGeneration);
    return reply.type(JSON_CONTENT_TYPE).send({ userId: user.id, displayName: profile.displayName, token: issued.token, expiresOn: issued.expiresOn.toISOString() });
  });

  // User directory: GET /demo/users?maxPageSize=&after= (any signed-in user)
  app.get("/demo/users", { config: { auth: "bearer" } }, async (request, reply) => {
    caller(request);
    const query = request.query as Record<string, unknown>;
    const limit = intParam(query, "maxPageSize", 1) ?? 200;
    const after = typeof query.after === "string" ? query.after : undefined;
    const profiles = await directory.list(limit, after);
    return reply.type(JSON_CONTENT_TYPE).send({ value: profiles.map((p) => ({ userId: p.userId, displayName: p.displayName })) });
  });
}
