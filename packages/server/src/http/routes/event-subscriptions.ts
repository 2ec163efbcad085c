// Event subscriptions (server-side events, docs/events.md), HMAC-signed with the access key like the Identity
// API, in Event Grid's shapes: CreateOrUpdate, Get, List and Delete of /eventSubscriptions, plus Natter's dead-letter
// list and redelivery, and the validationUrl an endpoint may open instead of echoing the validation code.
import type { FastifyInstance, FastifyRequest } from "fastify";
import { validationError } from "../../domain/errors.js";
import type { EventSubscriptions } from "../../events/event-subscriptions.js";
import { toWireDeadLetter } from "../../events/event-subscriptions.js";

const hmac = { auth: "hmac" as const };
type NameParams = { name: string };

function pageSize(value: unknown): number {
  if (value === undefined) return 100;
  const n = Number(value);
  if (typeof value !== "string" || !/^\d{1,4}$/.test(value) || n < 1 || n > 1000) throw validationError("maxPageSize must be an integer from 1 to 1000.", "maxPageSize");
  return n;
}

function afterSeq(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !/^\d{1,15}$/.test(value)) throw validationError("after must be a sequence number from a previous page.", "after");
  return Number(value);
}

/** The dead-letter page, with a nextLink when it is full. */
function deadLetterPage(request: FastifyRequest, items: ReturnType<typeof toWireDeadLetter>[], limit: number) {
  const page: Record<string, unknown> = { value: items };
  if (items.length === limit) {
    const url = new URL(request.url, "http://x");
    url.searchParams.set("after", String(items[items.length - 1].sequence));
    page.nextLink = `${url.pathname}${url.search}`;
  }
  return page;
}

export function eventSubscriptionRoutes(app: FastifyInstance, subscriptions: EventSubscriptions): void {
  // CreateOrUpdate: PUT /eventSubscriptions/{name}
  app.put<{ Params: NameParams }>("/eventSubscriptions/:name", { config: hmac }, async (request, reply) => {
    const base = `${request.protocol}://${request.host}`;
    const result = await subscriptions.put(request.params.name, request.body, base);
    return reply.code(result.status).send(result.body);
  });

  // Get: GET /eventSubscriptions/{name}
  app.get<{ Params: NameParams }>("/eventSubscriptions/:name", { config: hmac }, async (request) => subscriptions.get(request.params.name));

  // List: GET /eventSubscriptions
  app.get("/eventSubscriptions", { config: hmac }, async () => ({ value: await subscriptions.list() }));

  // Delete: DELETE /eventSubscriptions/{name} (200 when it existed, 204 when not, as ARM answers)
  app.delete<{ Params: NameParams }>("/eventSubscriptions/:name", { config: hmac }, async (request, reply) => {
    const existed = await subscriptions.delete(request.params.name);
    return reply.code(existed ? 200 : 204).send();
  });

  // Natter: GET /eventSubscriptions/{name}/deadLetters and GET /eventDeadLetters (every subscription's)
  app.get<{ Params: NameParams; Querystring: Record<string, unknown> }>("/eventSubscriptions/:name/deadLetters", { config: hmac }, async (request) => {
    const limit = pageSize(request.query.maxPageSize);
    const items = (await subscriptions.deadLetters(request.params.name, limit, afterSeq(request.query.after))).map(toWireDeadLetter);
    return deadLetterPage(request, items, limit);
  });
  app.get<{ Querystring: Record<string, unknown> }>("/eventDeadLetters", { config: hmac }, async (request) => {
    const limit = pageSize(request.query.maxPageSize);
    const items = (await subscriptions.deadLetters(undefined, limit, afterSeq(request.query.after))).map(toWireDeadLetter);
    return deadLetterPage(request, items, limit);
  });

  // Natter: POST /eventSubscriptions/{name}/redeliverDeadLetters → { redelivered: n }
  app.post<{ Params: NameParams }>("/eventSubscriptions/:name/redeliverDeadLetters", { config: hmac }, async (request) => ({
    redelivered: await subscriptions.redeliver(request.params.name),
  }));

  // The validationUrl of a SubscriptionValidationEvent (no key: the code is the credential).
  app.get<{ Params: NameParams; Querystring: { code?: string } }>("/eventSubscriptions/:name/validate", { config: { auth: "none" } }, async (request, reply) => {
    const ok = typeof request.query.code === "string" && (await subscriptions.confirmValidation(request.params.name, request.query.code));
    if (!ok) throw validationError("The validation code is not valid for this event subscription (or it was already used).", "code");
    return reply.type("text/plain; charset=utf-8").send("Webhook successfully validated as a subscription endpoint.");
  });
}
