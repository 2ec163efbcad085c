// `natter events …`: a client of a running server's event subscription API (HMAC-signed with the access key, as
// the Identity API is). Like the SDKs it uses only @natter/communication-common, never the server's code.
// Endpoint and key: --connection-string, or --endpoint with --access-key, or NATTER_CONNECTION_STRING /
// NATTER_ENDPOINT + NATTER_ACCESS_KEY.
import { parseArgs } from "node:util";
import { AzureKeyCredential, parseConnectionString, signRequestWithAccessKey } from "@natter/communication-common";

/** A failure of the command: `usage` (exit 2: the command line is wrong) or what the server answered (exit 1). */
export class EventsCliError extends Error {
  constructor(message: string, readonly usage = false) {
    super(message);
  }
}

export const EVENTS_USAGE = `Usage:
  natter events subscribe <name> --url <endpoint> [--types A,B] [--schema eventgrid|cloudevents] [--batch <n>]
  natter events list
  natter events delete <name>
  natter events dead-letters [<name>]
  natter events redeliver <name>
Server and key: --connection-string "endpoint=https://…;accesskey=…" (NATTER_CONNECTION_STRING),
  or --endpoint <url> --access-key <key> (NATTER_ENDPOINT, NATTER_ACCESS_KEY). Add --json for the raw answers.
Event types may omit "Microsoft.Communication." (ChatMessageReceived,ChatMessageReceivedInThread).`;

const API = "api-version=2025-02-15";

interface Target {
  endpoint: string;
  credential: AzureKeyCredential;
}

function target(values: Record<string, unknown>, env: Record<string, string | undefined>): Target {
  const connection = (values["connection-string"] as string | undefined) ?? env.NATTER_CONNECTION_STRING;
  const endpoint = (values.endpoint as string | undefined) ?? env.NATTER_ENDPOINT;
  const key = (values["access-key"] as string | undefined) ?? env.NATTER_ACCESS_KEY;
  if (values["connection-string"] === undefined && endpoint && key) return { endpoint, credential: new AzureKeyCredential(key) };
  if (connection) {
    try {
      const parsed = parseConnectionString(connection);
      return { endpoint: parsed.endpoint, credential: new AzureKeyCredential(parsed.credential.key) };
    } catch {
      throw new EventsCliError("the connection string must look like endpoint=https://host:port/;accesskey=<base64>", true);
    }
  }
  throw new EventsCliError("name the server: --connection-string \"endpoint=…;accesskey=…\" (or NATTER_CONNECTION_STRING), or --endpoint and --access-key", true);
}

async function call(t: Target, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> | undefined }> {
  const url = new URL(path, t.endpoint).toString();
  const text = body === undefined ? undefined : JSON.stringify(body);
  const signed = await signRequestWithAccessKey(t.credential, { method, url, body: text ?? "" });
  const { Host: _host, ...headers } = signed;
  let response: Response;
  try {
    response = await fetch(url, { method, body: text, headers: { ...headers, ...(text ? { "content-type": "application/json" } : {}) } });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const hint = cause?.code === "DEPTH_ZERO_SELF_SIGNED_CERT" || cause?.code === "SELF_SIGNED_CERT_IN_CHAIN"
      ? " (trust the server's certificate: NODE_EXTRA_CA_CERTS=$(natter cert))" : "";
    throw new EventsCliError(`cannot reach ${t.endpoint}: ${cause?.code ?? cause?.message ?? (error as Error).message}${hint}`);
  }
  const raw = await response.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
  } catch {
    json = undefined;
  }
  if (response.status >= 400) {
    const error = (json?.error ?? {}) as { code?: string; message?: string; target?: string };
    throw new EventsCliError(`${response.status} ${error.code ?? ""}: ${error.message ?? raw.slice(0, 200)}${error.target ? ` (${error.target})` : ""}`.replace(/ :/, ":"));
  }
  return { status: response.status, json };
}

const TYPE_PREFIX = "Microsoft.Communication.";
const fullType = (t: string) => (t.includes(".") ? t : `${TYPE_PREFIX}${t}`);
const shortType = (t: string) => (t.startsWith(TYPE_PREFIX) ? t.slice(TYPE_PREFIX.length) : t);

type Subscription = { name: string; properties: Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any

function describeSubscription(s: Subscription): string {
  const p = s.properties;
  const types = (p.filter?.includedEventTypes as string[] | null) ?? null;
  return `${s.name}  ${p.provisioningState}  ${p.destination?.properties?.endpointBaseUrl}  ${p.eventDeliverySchema}  ${types ? types.map(shortType).join(",") : "all event types"}`;
}

/** Runs `natter events <args>`, writing to `out`. */
export async function runEventsCommand(args: string[], env: Record<string, string | undefined>, out: (line: string) => void): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args, allowPositionals: true, strict: true,
      options: {
        "connection-string": { type: "string" }, endpoint: { type: "string" }, "access-key": { type: "string" },
        url: { type: "string" }, types: { type: "string" }, schema: { type: "string" }, batch: { type: "string" },
        json: { type: "boolean" }, help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw new EventsCliError(`${(error as Error).message.replace(/\. To specify a positional.*$/s, "")} (natter events --help shows the usage)`, true);
  }
  const { values, positionals } = parsed;
  const [sub, name, ...extra] = positionals;
  if (values.help || sub === undefined || sub === "help") return out(EVENTS_USAGE);
  if (extra.length) throw new EventsCliError(`unexpected argument '${extra[0]}' (natter events --help shows the usage)`, true);
  const needName = () => {
    if (!name) throw new EventsCliError(`natter events ${sub} needs a subscription name`, true);
    return encodeURIComponent(name);
  };
  const print = (json: unknown, text: string) => out(values.json ? JSON.stringify(json, null, 2) : text);
  switch (sub) {
    case "subscribe": {
      const n = needName();
      if (!values.url) throw new EventsCliError("natter events subscribe needs --url <endpoint>", true);
      const schema = values.schema === undefined ? undefined : values.schema.toLowerCase();
      if (schema !== undefined && schema !== "eventgrid" && schema !== "cloudevents") throw new EventsCliError("--schema takes eventgrid or cloudevents", true);
      const batch = values.batch === undefined ? undefined : Number(values.batch);
      if (batch !== undefined && !(Number.isInteger(batch) && batch >= 1)) throw new EventsCliError("--batch takes a positive integer", true);
      const t = target(values, env);
      const body = {
        properties: {
          destination: { endpointType: "WebHook", properties: { endpointUrl: values.url, ...(batch ? { maxEventsPerBatch: batch } : {}) } },
          filter: values.types ? { includedEventTypes: values.types.split(",").map((s) => s.trim()).filter(Boolean).map(fullType) } : {},
          eventDeliverySchema: schema === "cloudevents" ? "CloudEventSchemaV1_0" : "EventGridSchema",
        },
      };
      const { status, json } = await call(t, "PUT", `/eventSubscriptions/${n}?${API}`, body);
      const s = json as Subscription;
      const secret = s.properties.signingSecret as string | undefined;
      print(json, [
        `${status === 201 ? "Created" : "Updated"} ${describeSubscription(s)}`,
        ...(secret ? [`Signing secret (shown once; verify deliveries with it, see docs/events.md): ${secret}`] : []),
      ].join("\n"));
      return;
    }
    case "list": {
      const { json } = await call(target(values, env), "GET", `/eventSubscriptions?${API}`);
      const list = (json?.value ?? []) as Subscription[];
      print(json, list.length ? list.map(describeSubscription).join("\n") : "No event subscriptions.");
      return;
    }
    case "delete": {
      const { status } = await call(target(values, env), "DELETE", `/eventSubscriptions/${needName()}?${API}`);
      print({ deleted: status === 200 }, status === 200 ? `Deleted ${name}` : `No event subscription named ${name}`);
      return;
    }
    case "dead-letters": {
      const t = target(values, env);
      const all: Record<string, unknown>[] = [];
      let path: string | undefined = name ? `/eventSubscriptions/${encodeURIComponent(name)}/deadLetters?${API}` : `/eventDeadLetters?${API}`;
      while (path) {
        const { json } = await call(t, "GET", path);
        all.push(...((json?.value ?? []) as Record<string, unknown>[]));
        path = json?.nextLink as string | undefined;
      }
      print({ value: all }, all.length
        ? all.map((d) => `${d.subscription}  ${d.eventId}  ${shortType(String((d.event as { eventType?: string })?.eventType ?? ""))}  ${d.deadLetterReason}  ${d.lastDeliveryOutcome ?? ""}  ${d.deadLetteredAt}`).join("\n")
        : "No dead letters.");
      return;
    }
    case "redeliver": {
      const { json } = await call(target(values, env), "POST", `/eventSubscriptions/${needName()}/redeliverDeadLetters?${API}`);
      print(json, `Redelivering ${json?.redelivered} dead letter(s) of ${name}`);
      return;
    }
    default:
      throw new EventsCliError(`unknown events command '${sub}' (natter events --help shows the usage)`, true);
  }
}
