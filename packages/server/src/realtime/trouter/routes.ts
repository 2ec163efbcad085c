// The HTTP half of the Trouter subset Azure's signaling client speaks: the realtime configuration (Chat
// gateway), allocation (/v4/a), the socket.io 0.9 handshake and the registrar. The WebSocket half is
// trouter.ts. Every URL handed out is built from the request's own scheme and Host, so the client comes back
// to the same listener it reached.
import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { JSON_CONTENT_TYPE } from "@natter/wire";
import type { RealTimeNotificationConfiguration } from "@natter/wire";
import type { TokenService } from "../../auth/tokens.js";
import type { Caller } from "../../domain/caller.js";
import { requireCapability } from "../../domain/caller.js";
import { ChatError } from "../../domain/errors.js";
import { caller } from "../../http/plugins/request-context.js";
import { CLOSE_TIMEOUT_SECONDS, CONNECTION_TTL_SECONDS, HEARTBEAT_SECONDS, TICKET_TTL_MS, TROUTER_PATHS, TicketSigner, tokenClaims } from "./protocol.js";

export interface TrouterRouteDeps {
  tokens: TokenService;
  /** The access key: session ids are signed with a key derived from it (see TicketSigner). */
  accessKey: Uint8Array;
  now?: () => number;
  /** Records that a user asked for realtime (see noteRealtimeRequested in trouter.ts). */
  realtimeRequested?: (userId: string) => Promise<void>;
}

/** The registrar's answer body: the client ignores it, but it must not be empty (see the registrar routes). */
const REGISTRAR_ACK = "{}";

const HOST = /^[A-Za-z0-9.-]+(?::[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?$/;

/** `https://host:port` of this request, from the listener's scheme and the Host header. */
export function requestOrigin(request: FastifyRequest): string {
  const host = request.headers.host;
  if (!host || !HOST.test(host)) throw new ChatError("badRequest", "The Host header is missing or invalid.");
  return `${request.protocol}://${host}`;
}

/**
 * The ACS token the signaling client sends as X-Skypetoken (never as Authorization) to Trouter and the registrar.
 * Like every chat endpoint, it needs a chat scope: a voip-only token gets 403 (as REST), never chat events.
 */
async function skypeCaller(tokens: TokenService, request: FastifyRequest): Promise<{ caller: Caller; token: string }> {
  const header = request.headers["x-skypetoken"];
  const token = typeof header === "string" ? header.replace(/^skypetoken=/i, "").trim() : "";
  if (!token) throw new ChatError("unauthorized", "An X-Skypetoken header with the access token is required.");
  const who = await tokens.verify(token);
  requireCapability(who, "participate");
  return { caller: who, token };
}

export function registerTrouterRoutes(app: FastifyInstance, deps: TrouterRouteDeps): void {
  const now = deps.now ?? Date.now;
  const signer = new TicketSigner(deps.accessKey);

  void app.register(async (scope) => {
    // /v4/a is POSTed with Content-Type text/plain and no body; the registrar's JSON uses the app's parser.
    scope.addContentTypeParser("*", { parseAs: "buffer" }, (_request, _body, done) => done(null, undefined));

    // GetRealTimeNotificationConfiguration: GET /chat/config/realTimeNotifications (the signaling client
    // joins the endpoint and the path by string concatenation: an endpoint ending in "/" gives "//chat/…").
    const config = async (request: FastifyRequest, reply: FastifyReply) => {
      const who = caller(request);
      requireCapability(who, "participate");
      const origin = requestOrigin(request);
      // Best effort: without it the user's first socket starts at the head, as before.
      await deps.realtimeRequested?.(who.userId).catch((error: unknown) => request.log.warn({ err: error }, "trouter: cannot record the realtime request"));
      const body: RealTimeNotificationConfiguration = {
        trouterServiceUrl: `${origin}${TROUTER_PATHS.trouter}`,
        registrarServiceUrl: `${origin}${TROUTER_PATHS.registrar}`,
        cloudType: "public",
      };
      return reply.type(JSON_CONTENT_TYPE).send(body);
    };
    for (const path of ["/chat/config/realTimeNotifications", "//chat/config/realTimeNotifications"]) {
      scope.get(path, { config: { api: "realtime", auth: "bearer" } }, config);
    }

    // Allocate: POST {trouterServiceUrl}/v4/a, and POST {socketio}v4/a on reconnects (socketio is the origin).
    const allocate = async (request: FastifyRequest, reply: FastifyReply) => {
      await skypeCaller(deps.tokens, request);
      const origin = requestOrigin(request);
      const id = randomUUID();
      return reply.type(JSON_CONTENT_TYPE).send({
        id,
        socketio: `${origin}/`,
        url: `${origin}${TROUTER_PATHS.trouter}/c/${id}/`,
        surl: `${origin}${TROUTER_PATHS.trouter}/s/${id}/`,
        ccid: id,
        ttl: String(CONNECTION_TTL_SECONDS),
        // Must be an object (the client calls Object.keys on it); never `scae: "1"` (switches to "v4c").
        connectparams: {},
      });
    };
    scope.post(`${TROUTER_PATHS.trouter}/v4/a`, allocate);
    scope.post("/v4/a", allocate);

    // socket.io 0.9 handshake: GET /socket.io/1/?…  (XMLHttpRequest with X-Skypetoken). The session id binds
    // the WebSocket that follows to this user: a browser WebSocket cannot carry the token.
    scope.get(TROUTER_PATHS.handshake, async (request, reply) => {
      const { caller: who, token } = await skypeCaller(deps.tokens, request);
      const claims = tokenClaims(token);
      const sid = signer.sign({ userId: who.userId, tokenExpiresAt: claims.expiresAt, generation: claims.generation, expiresAt: now() + TICKET_TTL_MS });
      return reply
        .header("cache-control", "no-store")
        .type("text/plain; charset=utf-8")
        .send(`${sid}:${HEARTBEAT_SECONDS}:${CLOSE_TIMEOUT_SECONDS}:websocket`);
    });

    // Registrar: POST {registrarServiceUrl}/v3/registrations. Delivery keys off the user bound at the
    // handshake, so a registration is only acknowledged (any 2xx will do).
    //
    // Both answers carry a (tiny) JSON body. The signaling client's RegistrarClient never reads the response
    // body of a 2xx, and Chromium ends a fetch whose response has an empty body that nobody reads with
    // net::ERR_ABORTED (Network.loadingFailed, and Playwright's requestfailed): with `202` and no body, every
    // browser running Azure's UI library showed a failed registrar request although the server had accepted it.
    // A non-empty body completes normally whether or not it is read (ui-library.test.ts checks this in Chromium).
    scope.post(`${TROUTER_PATHS.registrar}/v3/registrations`, async (request, reply) => {
      await skypeCaller(deps.tokens, request);
      const body = request.body as { registrationId?: unknown } | undefined;
      if (typeof body !== "object" || body === null || typeof body.registrationId !== "string") {
        throw new ChatError("badRequest", "registrationId is required.");
      }
      return reply.status(202).type(JSON_CONTENT_TYPE).send(REGISTRAR_ACK);
    });
    scope.delete<{ Params: { registrationId: string } }>(`${TROUTER_PATHS.registrar}/v3/registrations/:registrationId`, async (request, reply) => {
      await skypeCaller(deps.tokens, request);
      return reply.status(200).type(JSON_CONTENT_TYPE).send(REGISTRAR_ACK);
    });
  });
}
