// Identity operations (HMAC-signed admin calls): CreateUser (optionally with a token), IssueAccessToken,
// RevokeAccessTokens, DeleteUser, and the Teams token exchange (not supported: no Entra ID here).
import type { FastifyInstance } from "fastify";
import { JSON_CONTENT_TYPE, TOKEN_DEFAULT_MINUTES, TOKEN_MAX_MINUTES, TOKEN_MIN_MINUTES, TOKEN_SCOPES, createIdentityRequestSchema, issueAccessTokenRequestSchema } from "@natter/wire";
import type { CommunicationIdentityAccessTokenResult, CommunicationIdentityTokenScope } from "@natter/wire";
import type { IdentityService } from "../../domain/identity-service.js";
import { ChatError, validationError } from "../../domain/errors.js";
import { acsUserIdFromPath } from "../../domain/identifiers.js";
import type { TokenService } from "../../auth/tokens.js";

const identity = (limit: string) => ({ api: "identity" as const, auth: "hmac" as const, limit });
type IdParams = { id: string };

function checkScopes(scopes: unknown, target: string): CommunicationIdentityTokenScope[] {
  if (!Array.isArray(scopes) || scopes.length === 0) throw validationError("Invalid scopes - Scopes field is required.", target);
  for (const s of scopes) {
    if (!TOKEN_SCOPES.includes(s as CommunicationIdentityTokenScope)) throw validationError(`Invalid scopes - '${String(s).slice(0, 40)}' is not a valid scope.`, target);
  }
  return [...new Set(scopes as CommunicationIdentityTokenScope[])];
}

function checkMinutes(minutes: number | undefined): number {
  if (minutes === undefined) return TOKEN_DEFAULT_MINUTES;
  if (minutes < TOKEN_MIN_MINUTES || minutes > TOKEN_MAX_MINUTES) {
    throw validationError(`ExpiresInMinutes must be between ${TOKEN_MIN_MINUTES} and ${TOKEN_MAX_MINUTES}.`, "ExpiresInMinutes");
  }
  return minutes;
}

export function identityRoutes(app: FastifyInstance, identityService: IdentityService, tokens: TokenService): void {
  // CreateUser: POST /identities
  app.post<{ Body: { createTokenWithScopes?: string[]; expiresInMinutes?: number } | undefined }>(
    "/identities",
    { config: identity("createUser"), schema: { body: createIdentityRequestSchema } },
    async (request, reply) => {
      const body = request.body ?? {};
      const scopes = body.createTokenWithScopes !== undefined ? checkScopes(body.createTokenWithScopes, "CreateTokenWithScopes") : undefined;
      const minutes = checkMinutes(body.expiresInMinutes);
      const user = await identityService.createUser();
      const result: CommunicationIdentityAccessTokenResult = { identity: { id: user.id } };
      if (scopes && scopes.length > 0) {
        const issued = await tokens.issue(user.id, scopes, minutes, user.tokenGeneration);
        result.accessToken = { token: issued.token, expiresOn: issued.expiresOn.toISOString() };
      }
      return reply.status(201).type(JSON_CONTENT_TYPE).send(result);
    },
  );

  // IssueAccessToken: POST /identities/{id}/:issueAccessToken
  app.post<{ Params: IdParams; Body: { scopes?: string[]; expiresInMinutes?: number } | undefined }>(
    "/identities/:id/::issueAccessToken",
    { config: identity("issueToken"), schema: { body: issueAccessTokenRequestSchema } },
    async (request, reply) => {
      const body = request.body ?? {};
      const scopes = checkScopes(body.scopes, "Scopes");
      const minutes = checkMinutes(body.expiresInMinutes);
      const user = await identityService.requireUser(acsUserIdFromPath(request.params.id));
      const issued = await tokens.issue(user.id, scopes, minutes, user.tokenGeneration);
      return reply.status(200).type(JSON_CONTENT_TYPE).send({ token: issued.token, expiresOn: issued.expiresOn.toISOString() });
    },
  );

  // RevokeAccessTokens: POST /identities/{id}/:revokeAccessTokens
  app.post<{ Params: IdParams }>("/identities/:id/::revokeAccessTokens", { config: identity("revokeTokens") }, async (request, reply) => {
    await identityService.revokeTokens(acsUserIdFromPath(request.params.id));
    return reply.status(204).send();
  });

  // DeleteUser: DELETE /identities/{id}
  app.delete<{ Params: IdParams }>("/identities/:id", { config: identity("deleteUser") }, async (request, reply) => {
    await identityService.deleteUser(acsUserIdFromPath(request.params.id));
    return reply.status(204).send();
  });

  // ExchangeTeamsUserAccessToken: POST /teamsUser/:exchangeAccessToken
  app.post("/teamsUser/::exchangeAccessToken", { config: identity("exchangeToken") }, async () => {
    throw new ChatError("badRequest", "Teams user token exchange needs Microsoft Entra ID and is not supported by Natter.");
  });
}
