// Row → record mappers of the event-subscription tables, shared by SqliteStore and PostgresStore (both read
// the same column names; BIGINT columns already arrive as numbers from pg, see postgres-store.ts).
import type { EventDeliveryRecord, EventSubscriptionRecord } from "./store.js";

type Row = Record<string, unknown>;

export function toSubscription(r: Row): EventSubscriptionRecord {
  return {
    name: r.name as string, definition: JSON.parse(r.definition as string), secret: r.secret as string, state: r.state as string,
    createdAt: r.created_at as number, updatedAt: r.updated_at as number, cursor: r.cursor as number,
  };
}

export function toDelivery(r: Row): EventDeliveryRecord {
  return {
    subscription: r.subscription as string, seq: r.seq as number, eventId: r.event_id as string, threadId: r.thread_id as string,
    position: r.position as number, event: JSON.parse(r.event as string), attempts: r.attempts as number, at: r.at as number,
    reason: (r.reason as string | null) ?? null, lastError: (r.last_error as string | null) ?? null,
  };
}
