// Event subscriptions as Event Grid shapes them: the body of PUT /eventSubscriptions/{name} (an ARM/Bicep
// `properties` block pastes in), its validation and defaults (Event Grid's), the filter, and the echoed JSON.
import { randomBytes } from "node:crypto";
import { validationError } from "../domain/errors.js";
import type { EventSubscriptionRecord } from "../store/store.js";

export type DeliverySchema = "EventGridSchema" | "CloudEventSchemaV1_0";
export const DELIVERY_SCHEMAS: readonly DeliverySchema[] = ["EventGridSchema", "CloudEventSchemaV1_0"];

/** What a subscription asks for, validated, with Event Grid's defaults filled in (stored as the record's definition). */
export interface SubscriptionDefinition {
  endpointUrl: string;
  maxEventsPerBatch: number;
  preferredBatchSizeInKilobytes: number;
  /** null: every event type. */
  includedEventTypes: string[] | null;
  subjectBeginsWith: string;
  subjectEndsWith: string;
  isSubjectCaseSensitive: boolean;
  schema: DeliverySchema;
  maxDeliveryAttempts: number;
  eventTimeToLiveInMinutes: number;
  labels: string[];
  /** "api" (REST/CLI) or "config" (--events-subscription, re-applied at every start). */
  origin: "api" | "config";
  /** While a create waits for its endpoint to open the validationUrl: the code it must bring. */
  pendingValidationCode?: string;
}

/** Event Grid's limits and defaults. */
export const LIMITS = {
  nameMin: 3, nameMax: 64, maxEventsPerBatch: 5000, preferredBatchSizeInKilobytes: 1024, maxDeliveryAttempts: 30,
  eventTimeToLiveInMinutes: 1440, subjectLength: 1024, includedEventTypes: 25, labels: 25, urlLength: 2048,
} as const;
export const DEFAULTS = { maxEventsPerBatch: 1, preferredBatchSizeInKilobytes: 64, maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 } as const;

const NAME = /^[A-Za-z0-9-]+$/;

/** Event Grid's rule for subscription names: 3 to 64 letters, digits and hyphens. */
export function checkSubscriptionName(name: string): string {
  if (name.length < LIMITS.nameMin || name.length > LIMITS.nameMax || !NAME.test(name)) {
    throw validationError(`The event subscription name must be ${LIMITS.nameMin} to ${LIMITS.nameMax} letters, digits or hyphens.`, "name");
  }
  return name;
}

/** A new Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function optionalObject(v: unknown, target: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw validationError(`${target} must be an object.`, target);
  return v;
}

function integer(v: unknown, target: string, min: number, max: number, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) throw validationError(`${target} must be an integer from ${min} to ${max}.`, target);
  return v;
}

function text(v: unknown, target: string, max: number): string {
  if (v === undefined || v === null) return "";
  if (typeof v !== "string" || v.length > max) throw validationError(`${target} must be a string of at most ${max} characters.`, target);
  return v;
}

/** An absolute http(s) URL without credentials. */
export function checkEndpointUrl(v: unknown, target: string): string {
  if (typeof v !== "string" || v.length === 0) throw validationError(`${target} is required: the webhook's http(s) URL.`, target);
  if (v.length > LIMITS.urlLength) throw validationError(`${target} must be at most ${LIMITS.urlLength} characters.`, target);
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw validationError(`${target} is not a valid URL.`, target);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw validationError(`${target} must be an http or https URL.`, target);
  if (url.username || url.password) throw validationError(`${target} must not carry credentials.`, target);
  return url.href;
}

/** The schema name from its Event Grid spelling (any case), or the CLI's short names. */
export function checkSchema(v: unknown, target: string): DeliverySchema {
  if (v === undefined || v === null) return "EventGridSchema";
  const s = typeof v === "string" ? v.toLowerCase() : "";
  if (s === "eventgridschema" || s === "eventgrid") return "EventGridSchema";
  if (s === "cloudeventschemav1_0" || s === "cloudevents") return "CloudEventSchemaV1_0";
  throw validationError(`${target} must be one of ${DELIVERY_SCHEMAS.join(", ")}.`, target);
}

export function checkEventTypes(v: unknown, target: string, known: readonly string[]): string[] | null {
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v)) throw validationError(`${target} must be an array of event types.`, target);
  if (v.length > LIMITS.includedEventTypes) throw validationError(`${target} takes at most ${LIMITS.includedEventTypes} event types.`, target);
  const out: string[] = [];
  for (const t of v) {
    const match = typeof t === "string" ? known.find((k) => k.toLowerCase() === t.toLowerCase()) : undefined;
    if (!match) throw validationError(`${target}: '${String(t).slice(0, 80)}' is not a chat event type (${known.length} known, see docs/events.md).`, target);
    if (!out.includes(match)) out.push(match);
  }
  return out.length ? out : null;
}

/**
 * Validates the body of PUT /eventSubscriptions/{name} (Event Grid's EventSubscription JSON) and fills Event Grid's
 * defaults. Unknown fields are ignored, as ARM does. Throws a 400 ValidationError naming the field.
 */
export function parseSubscriptionBody(body: unknown, knownTypes: readonly string[]): SubscriptionDefinition {
  if (!isObject(body)) throw validationError("The body must be an event subscription object with properties.", "properties");
  const p = optionalObject(body.properties, "properties");
  const destination = optionalObject(p.destination, "properties.destination");
  const endpointType = destination.endpointType ?? "WebHook";
  if (typeof endpointType !== "string" || endpointType.toLowerCase() !== "webhook") {
    throw validationError("properties.destination.endpointType must be WebHook (the only destination Natter delivers to).", "properties.destination.endpointType");
  }
  const dp = optionalObject(destination.properties, "properties.destination.properties");
  const filter = optionalObject(p.filter, "properties.filter");
  const retry = optionalObject(p.retryPolicy, "properties.retryPolicy");
  if (filter.advancedFilters !== undefined && filter.advancedFilters !== null && !(Array.isArray(filter.advancedFilters) && filter.advancedFilters.length === 0)) {
    throw validationError("properties.filter.advancedFilters are not supported; use includedEventTypes, subjectBeginsWith and subjectEndsWith.", "properties.filter.advancedFilters");
  }
  if (p.deadLetterDestination !== undefined && p.deadLetterDestination !== null) {
    throw validationError("properties.deadLetterDestination is not supported: dead letters are kept by Natter (GET /eventSubscriptions/{name}/deadLetters).", "properties.deadLetterDestination");
  }
  const labels = p.labels ?? [];
  if (!Array.isArray(labels) || labels.length > LIMITS.labels || labels.some((l) => typeof l !== "string" || l.length > 256)) {
    throw validationError(`properties.labels must be an array of at most ${LIMITS.labels} strings.`, "properties.labels");
  }
  const caseSensitive = filter.isSubjectCaseSensitive ?? false;
  if (typeof caseSensitive !== "boolean") throw validationError("properties.filter.isSubjectCaseSensitive must be a boolean.", "properties.filter.isSubjectCaseSensitive");
  return {
    endpointUrl: checkEndpointUrl(dp.endpointUrl, "properties.destination.properties.endpointUrl"),
    maxEventsPerBatch: integer(dp.maxEventsPerBatch, "properties.destination.properties.maxEventsPerBatch", 1, LIMITS.maxEventsPerBatch, DEFAULTS.maxEventsPerBatch),
    preferredBatchSizeInKilobytes: integer(dp.preferredBatchSizeInKilobytes, "properties.destination.properties.preferredBatchSizeInKilobytes", 1, LIMITS.preferredBatchSizeInKilobytes, DEFAULTS.preferredBatchSizeInKilobytes),
    includedEventTypes: checkEventTypes(filter.includedEventTypes, "properties.filter.includedEventTypes", knownTypes),
    subjectBeginsWith: text(filter.subjectBeginsWith, "properties.filter.subjectBeginsWith", LIMITS.subjectLength),
    subjectEndsWith: text(filter.subjectEndsWith, "properties.filter.subjectEndsWith", LIMITS.subjectLength),
    isSubjectCaseSensitive: caseSensitive,
    schema: checkSchema(p.eventDeliverySchema, "properties.eventDeliverySchema"),
    maxDeliveryAttempts: integer(retry.maxDeliveryAttempts, "properties.retryPolicy.maxDeliveryAttempts", 1, LIMITS.maxDeliveryAttempts, DEFAULTS.maxDeliveryAttempts),
    eventTimeToLiveInMinutes: integer(retry.eventTimeToLiveInMinutes, "properties.retryPolicy.eventTimeToLiveInMinutes", 1, LIMITS.eventTimeToLiveInMinutes, DEFAULTS.eventTimeToLiveInMinutes),
    labels: labels as string[],
    origin: "api",
  };
}

/** Whether an event passes the subscription's filter (Event Grid: subjects compare case-insensitively by default). */
export function matchesFilter(def: SubscriptionDefinition, eventType: string, subject: string): boolean {
  if (def.includedEventTypes && !def.includedEventTypes.includes(eventType)) return false;
  const fold = (s: string) => (def.isSubjectCaseSensitive ? s : s.toLowerCase());
  if (def.subjectBeginsWith && !fold(subject).startsWith(fold(def.subjectBeginsWith))) return false;
  if (def.subjectEndsWith && !fold(subject).endsWith(fold(def.subjectEndsWith))) return false;
  return true;
}

/** The endpoint URL without its query (Event Grid shows only `endpointBaseUrl`: the query may hold a secret). */
export function endpointBaseUrl(endpointUrl: string): string {
  const url = new URL(endpointUrl);
  return `${url.origin}${url.pathname}`;
}

/** The subscription as Event Grid's API returns it; `signingSecret` only when given (on creation). */
export function toWireSubscription(record: EventSubscriptionRecord, topic: string, signingSecret?: string): Record<string, unknown> {
  const def = record.definition as SubscriptionDefinition;
  return {
    id: `${topic}/providers/Microsoft.EventGrid/eventSubscriptions/${record.name}`,
    name: record.name,
    type: "Microsoft.EventGrid/eventSubscriptions",
    systemData: { createdAt: new Date(record.createdAt).toISOString(), lastModifiedAt: new Date(record.updatedAt).toISOString() },
    properties: {
      topic,
      provisioningState: record.state,
      destination: {
        endpointType: "WebHook",
        properties: {
          endpointBaseUrl: endpointBaseUrl(def.endpointUrl),
          maxEventsPerBatch: def.maxEventsPerBatch,
          preferredBatchSizeInKilobytes: def.preferredBatchSizeInKilobytes,
        },
      },
      filter: {
        includedEventTypes: def.includedEventTypes,
        subjectBeginsWith: def.subjectBeginsWith,
        subjectEndsWith: def.subjectEndsWith,
        isSubjectCaseSensitive: def.isSubjectCaseSensitive,
        enableAdvancedFilteringOnArrays: false,
        advancedFilters: [],
      },
      labels: def.labels,
      eventDeliverySchema: def.schema,
      retryPolicy: { maxDeliveryAttempts: def.maxDeliveryAttempts, eventTimeToLiveInMinutes: def.eventTimeToLiveInMinutes },
      ...(signingSecret ? { signingSecret } : {}),
    },
  };
}
