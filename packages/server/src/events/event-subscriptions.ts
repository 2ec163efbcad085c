// Managing event subscriptions (REST, CLI and --events-subscription): create/update with Event Grid's endpoint
// validation handshake, read, list, delete, dead letters and redelivery. The delivery itself is delivery-engine.ts.
import { randomUUID, createHmac } from "node:crypto";
import { ChatError, badRequest, notFound } from "../domain/errors.js";
import type { EventDeliveryRecord, EventSubscriptionRecord, Store } from "../store/store.js";
import type { DeliveryEngine } from "./delivery-engine.js";
import type { SubscriptionDefinition } from "./subscription.js";
import { checkEndpointUrl, checkEventTypes, checkSchema, checkSubscriptionName, newSigningSecret, parseSubscriptionBody, toWireSubscription, DEFAULTS } from "./subscription.js";

export interface HandshakeOptions {
  /** Timeout of the validation request (ms); Event Grid's is 30 s. */
  handshakeTimeoutMs: number;
  /** How long a create waits for the endpoint to open the validationUrl when it did not echo the code (ms). */
  manualValidationMs: number;
}

export const DEFAULT_HANDSHAKE_OPTIONS: HandshakeOptions = { handshakeTimeoutMs: 30_000, manualValidationMs: 30_000 };

/** A subscription given at start (--events-subscription): name=url[,types=A|B][,schema=…][,secret=whsec_…]. */
export interface ConfiguredSubscription {
  name: string;
  url: string;
  types?: string[];
  schema?: string;
  secret?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The dead letter as the API shows it. */
export function toWireDeadLetter(d: EventDeliveryRecord): Record<string, unknown> {
  return {
    subscription: d.subscription, sequence: d.seq, eventId: d.eventId, threadId: d.threadId, position: d.position,
    deliveryAttempts: d.attempts, deadLetterReason: d.reason, lastDeliveryOutcome: d.lastError,
    deadLetteredAt: new Date(d.at).toISOString(), event: d.event,
  };
}

export class EventSubscriptions {
  constructor(
    private readonly store: Store,
    private readonly engine: DeliveryEngine,
    private readonly accessKey: Uint8Array,
    private readonly now: () => number = Date.now,
    private readonly options: HandshakeOptions = DEFAULT_HANDSHAKE_OPTIONS,
  ) {}

  get topic(): string {
    return this.engine.payloads.topic;
  }

  /** CreateOrUpdate: PUT /eventSubscriptions/{name}. 201 with the signing secret on creation, 200 on update. */
  async put(name: string, body: unknown, validationBase: string): Promise<{ status: 200 | 201; body: Record<string, unknown> }> {
    checkSubscriptionName(name);
    const def = parseSubscriptionBody(body, this.engine.payloads.eventTypes);
    const existing = await this.store.getEventSubscription(name);
    const now = this.now();
    if (existing) {
      const old = existing.definition as SubscriptionDefinition;
      // Event Grid validates again only when the endpoint (or how it is spoken to) changes; a subscription left
      // unvalidated (its node stopped during the handshake) is validated now.
      const validate = old.endpointUrl !== def.endpointUrl || old.schema !== def.schema || existing.state !== "Succeeded";
      if (validate) await this.handshake(name, def, validationBase, false);
      await this.store.updateEventSubscription(name, { definition: def, updatedAt: now, state: "Succeeded" });
      await this.engine.refresh();
      const updated = (await this.store.getEventSubscription(name))!;
      return { status: 200, body: toWireSubscription(updated, this.topic) };
    }
    const record: EventSubscriptionRecord = {
      name, definition: def, secret: newSigningSecret(), state: "AwaitingManualAction", createdAt: now, updatedAt: now,
      // Like Event Grid, a subscription gets the events from its creation on.
      cursor: await this.store.headPosition(),
    };
    // Inserted before the handshake (inactive), so an endpoint may open the validationUrl before it answers.
    if (!(await this.store.insertEventSubscription(record))) throw new ChatError("conflict", `The event subscription '${name}' is being created by another request.`);
    try {
      await this.handshake(name, def, validationBase, true);
    } catch (error) {
      await this.store.deleteEventSubscription(name);
      throw error;
    }
    await this.store.updateEventSubscription(name, { state: "Succeeded", definition: def });
    await this.engine.refresh();
    const created = (await this.store.getEventSubscription(name))!;
    return { status: 201, body: toWireSubscription(created, this.topic, created.secret) };
  }

  async get(name: string): Promise<Record<string, unknown>> {
    const record = await this.store.getEventSubscription(checkSubscriptionName(name));
    if (!record) throw notFound(`The event subscription '${name}' does not exist.`);
    return toWireSubscription(record, this.topic);
  }

  async list(): Promise<Record<string, unknown>[]> {
    return (await this.store.listEventSubscriptions()).map((r) => toWireSubscription(r, this.topic));
  }

  /** Delete: this node stops at once, the others at their next refresh (under a second). */
  async delete(name: string): Promise<boolean> {
    checkSubscriptionName(name);
    // The row first: a lease taken from now on fails, so no refresh running meanwhile can start a worker again.
    const existed = await this.store.deleteEventSubscription(name);
    this.engine.forget(name);
    return existed;
  }

  async deadLetters(name: string | undefined, limit: number, after?: number): Promise<EventDeliveryRecord[]> {
    if (name !== undefined && !(await this.store.getEventSubscription(checkSubscriptionName(name)))) throw notFound(`The event subscription '${name}' does not exist.`);
    return this.store.listDeadLetters(name, limit, after);
  }

  async redeliver(name: string): Promise<number> {
    if (!(await this.store.getEventSubscription(checkSubscriptionName(name)))) throw notFound(`The event subscription '${name}' does not exist.`);
    const count = await this.store.redeliverDeadLetters(name, this.now());
    this.engine.queueChanged(name);
    return count;
  }

  /** GET validationUrl: the endpoint confirms it wants the events. Any node may answer it (the state is in the Store). */
  async confirmValidation(name: string, code: string): Promise<boolean> {
    const record = await this.store.getEventSubscription(name);
    const def = record?.definition as SubscriptionDefinition | undefined;
    if (!record || !def?.pendingValidationCode || def.pendingValidationCode !== code) return false;
    const { pendingValidationCode: _code, ...rest } = def;
    await this.store.updateEventSubscription(name, { definition: rest, state: "Succeeded" });
    return true;
  }

  /**
   * The subscriptions of --events-subscription, applied at every start: created when missing (without a
   * handshake: the operator vouches for the endpoint), updated when changed. The secret is the one given, or one
   * derived from the access key and the name, so every node and every restart agrees (docs/events.md).
   */
  async applyConfigured(list: ConfiguredSubscription[]): Promise<void> {
    for (const c of list) {
      const def: SubscriptionDefinition = {
        endpointUrl: checkEndpointUrl(c.url, `--events-subscription ${c.name} url`),
        maxEventsPerBatch: DEFAULTS.maxEventsPerBatch, preferredBatchSizeInKilobytes: DEFAULTS.preferredBatchSizeInKilobytes,
        includedEventTypes: checkEventTypes(c.types, `--events-subscription ${c.name} types`, this.engine.payloads.eventTypes),
        subjectBeginsWith: "", subjectEndsWith: "", isSubjectCaseSensitive: false,
        schema: checkSchema(c.schema, `--events-subscription ${c.name} schema`),
        maxDeliveryAttempts: DEFAULTS.maxDeliveryAttempts, eventTimeToLiveInMinutes: DEFAULTS.eventTimeToLiveInMinutes,
        labels: [], origin: "config",
      };
      const now = this.now();
      const secret = c.secret ?? configuredSecret(this.accessKey, c.name);
      const inserted = await this.store.insertEventSubscription({
        name: checkSubscriptionName(c.name), definition: def, secret, state: "Succeeded",
        createdAt: now, updatedAt: now, cursor: await this.store.headPosition(),
      });
      if (!inserted) {
        // Re-applied at every start: a changed URL, filter or secret= takes effect (the cursor is kept).
        const existing = (await this.store.getEventSubscription(c.name))!;
        if (JSON.stringify(existing.definition) !== JSON.stringify(def) || existing.secret !== secret) {
          await this.store.updateEventSubscription(c.name, { definition: def, secret, state: "Succeeded", updatedAt: now });
        }
      }
    }
  }

  private async handshake(name: string, def: SubscriptionDefinition, validationBase: string, creating: boolean): Promise<void> {
    const target = "properties.destination.properties.endpointUrl";
    const fail = (why: string) => badRequest(`Webhook validation handshake failed for ${new URL(def.endpointUrl).origin}${new URL(def.endpointUrl).pathname}: ${why}`, target);
    const signal = AbortSignal.timeout(this.options.handshakeTimeoutMs);
    if (def.schema === "CloudEventSchemaV1_0") {
      // CloudEvents webhook abuse protection (CloudEvents HTTP webhook spec §4): OPTIONS with WebHook-Request-Origin.
      let response: Response;
      try {
        response = await fetch(def.endpointUrl, { method: "OPTIONS", headers: { "WebHook-Request-Origin": "eventgrid.azure.net", "WebHook-Request-Rate": "120" }, redirect: "manual", signal });
      } catch (error) {
        throw fail(`the OPTIONS request failed (${describeError(error)}).`);
      }
      await response.body?.cancel().catch(() => {});
      if (response.status !== 200) throw fail(`the OPTIONS request got HTTP ${response.status}, expected 200 with WebHook-Allowed-Origin.`);
      const allowed = response.headers.get("webhook-allowed-origin");
      if (allowed === null) throw fail("the OPTIONS answer has no WebHook-Allowed-Origin header.");
      if (!allowed.split(",").map((s) => s.trim()).some((o) => o === "*" || o === "eventgrid.azure.net")) throw fail(`WebHook-Allowed-Origin '${allowed.slice(0, 100)}' does not allow eventgrid.azure.net.`);
      return;
    }
    const code = randomUUID().toUpperCase();
    if (creating) await this.store.updateEventSubscription(name, { definition: { ...def, pendingValidationCode: code } });
    const validationUrl = `${validationBase.replace(/\/$/, "")}/eventSubscriptions/${name}/validate?code=${encodeURIComponent(code)}`;
    const event = [{
      id: randomUUID(), topic: this.topic, subject: "", eventType: "Microsoft.EventGrid.SubscriptionValidationEvent",
      eventTime: new Date(this.now()).toISOString(), metadataVersion: "1", dataVersion: "2",
      data: { validationCode: code, validationUrl },
    }];
    let response: Response;
    try {
      response = await fetch(def.endpointUrl, {
        method: "POST", body: JSON.stringify(event), redirect: "manual", signal,
        headers: { "content-type": "application/json; charset=utf-8", "aeg-event-type": "SubscriptionValidation", "aeg-subscription-name": name.toUpperCase(), "aeg-delivery-count": "0", "aeg-data-version": "2", "aeg-metadata-version": "1" },
      });
    } catch (error) {
      throw fail(`the SubscriptionValidationEvent POST failed (${describeError(error)}).`);
    }
    let answer: unknown;
    const text = await response.text().catch(() => "");
    try {
      answer = text ? JSON.parse(text) : undefined;
    } catch {
      answer = undefined;
    }
    if (response.status < 200 || response.status > 299) throw fail(`the SubscriptionValidationEvent POST got HTTP ${response.status}.`);
    const echoed = (answer as { validationResponse?: unknown } | undefined)?.validationResponse;
    if (echoed !== undefined) {
      if (typeof echoed === "string" && echoed.toUpperCase() === code) return;
      throw fail("the validationResponse does not match the validationCode.");
    }
    if (!creating) throw fail("the endpoint did not answer with validationResponse (validationUrl is accepted only when a subscription is created).");
    // No code in the answer: wait for the endpoint to open the validationUrl (Event Grid's manual validation).
    const deadline = this.now() + this.options.manualValidationMs;
    while (this.now() < deadline) {
      const record = await this.store.getEventSubscription(name);
      if (record?.state === "Succeeded") return;
      await sleep(100);
    }
    throw fail(`the endpoint neither answered with validationResponse nor opened the validationUrl within ${Math.round(this.options.manualValidationMs / 1000)} s.`);
  }
}

function describeError(error: unknown): string {
  const e = error as { name?: string; cause?: { code?: string; message?: string }; message?: string };
  if (e.name === "TimeoutError") return "timed out";
  return String(e.cause?.code ?? e.cause?.message ?? e.message ?? error).slice(0, 200);
}

/** The signing secret of a --events-subscription without secret=: HMAC-SHA256(access key, "natter events <name>"). */
export function configuredSecret(accessKey: Uint8Array, name: string): string {
  return `whsec_${createHmac("sha256", accessKey).update(`natter events ${name}`).digest("base64")}`;
}
