// Identity operations (HMAC-signed admin calls): CreateUser (optionally with a token; from 2025-06-30 also
// under a customId), GetIdentity (2025-06-30), IssueAccessToken, RevokeAccessTokens, DeleteUser, and the
// Teams user token exchange and Teams Phone extension operations (not offered: they need Microsoft Entra ID).
import type { FastifyInstance } from "fastify";
import { JSON_CONTENT_TYPE, identityVersionHasCustomId, TOKEN_DEFAULT_MINUTES, TOKEN_MAX_MINUTES, TOKEN_MIN_MINUTES, TOKEN_SCOPES, createIdentityRequestSchema, issueAccessTokenRequestSchema } from "@natter/wire";
import type { CommunicationIdentity, CommunicationIdentityAccessTokenResult, CommunicationIdentityTokenScope } from "@natter/wire";
import type { IdentityService } from "../../domain/identity-service.js";
import { ChatError, validationError } from "../../domain/errors.js";
import { acsUserIdFromPath } from "../../domain/identifiers.js";
import type { TokenService } from "../../auth/tokens.js";
import type { UserRecord } from "../../store/store.js";
import { toWireTime } from "../mappers/chat.js";

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

/** The identity as an api-version shows it: before 2025-06-30 only its id. */
function toWireIdentity(user: UserRecord, apiVersion: string): CommunicationIdentity {
  const wire: CommunicationIdentity = { id: user.id };
  if (identityVersionHasCustomId(apiVersion)) {
    if (user.customId !== null) wire.customId = user.customId;
    if (user.lastTokenIssuedAt !== null) wire.lastTokenIssuedAt = toWireTime(user.lastTokenIssuedAt);
  }
  return wire;
}

const notOffered = () =>
  new ChatError("badRequest", "Teams Phone extension operations need Microsoft Entra ID and Teams; Natter does not offer them.");

export function identityRoutes(app: FastifyInstance, identityService: IdentityService, tokens: TokenService): void {
  // CreateUser: POST /identities
  app.post<{ Body: { customId?: unknown; createTokenWithScopes?: string[]; expiresInMinutes?: number } | undefined }>(
    "/identities",
    { config: identity("createUser"), schema: { body: createIdentityRequestSchema } },
    async (request, reply) => {
      const body = request.body ?? {};
      const scopes = body.createTokenWithScopes !== undefined ? checkScopes(body.createTokenWithScopes, "CreateTokenWithScopes") : undefined;
      const minutes = checkMinutes(body.expiresInMinutes);
      // Before 2025-06-30 customId is not part of the model: ignored, as ACS ignores unknown fields.
      // (Not in the body schema, so an older version accepts any value, as ACS ignores unknown fields.)
      const customId = identityVersionHasCustomId(request.apiVersion) ? body.customId : undefined;
      if (customId !== undefined && typeof customId !== "string") throw validationError("customId must be a string.", "CustomId");
      let user = customId !== undefined ? await identityService.createUserWithCustomId(customId) : await identityService.createUser();
      let accessToken: CommunicationIdentityAccessTokenResult["accessToken"];
      if (scopes && scopes.length > 0) {
        const issued = await tokens.issue(user.id, scopes, minutes, user.tokenGeneration);
        user = { ...user, lastTokenIssuedAt: await identityService.tokenIssued(user.id) };
        accessToken = { token: issued.token, expiresOn: issued.expiresOn.toISOString() };
      }
      // 201 also when a customId named an existing identity: the 2025-06-30 operation declares 201 only.
      const result: CommunicationIdentityAccessTokenResult = { identity: toWireIdentity(user, request.apiVersion) };
      if (accessToken) result.accessToken = accessToken;
      return reply.status(201).type(JSON_CONTENT_TYPE).send(result);
    },
  );

  // GetIdentity: GET /identities/{id} (2025-06-30)
  app.get<{ Params: IdParams }>("/identities/:id", { config: identity("getIdentity") }, async (request, reply) => {
    if (!identityVersionHasCustomId(request.apiVersion)) {
      throw new ChatError("unsupportedApiVersion", "GET /identities/{id} needs api-version 2025-06-30 or later.");
    }
    const user = await identityService.requireUser(acsUserIdFromPath(request.params.id));
    return reply.status(200).type(JSON_CONTENT_TYPE).send(toWireIdentity(user, request.apiVersion));
  });

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
      await identityService.tokenIssued(user.id);
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

  // Teams Phone extension (2025-06-30): ExchangeToken, and Get/Upsert/DeleteAssignment. Answered after
  // authentication, so an unsigned caller learns nothing more than with any other operation.
  app.post("/access/teamsExtension/::exchangeAccessToken", { config: identity("exchangeToken") }, async () => {
    throw notOffered();
  });
  for (const method of ["GET", "PUT", "DELETE"] as const) {
    app.route({
      method, url: "/access/teamsExtension/tenants/:tenantId/assignments/:objectId", config: identity("exchangeToken"),
      handler: async () => {
        throw notOffered();
      },
    });
  }
}
