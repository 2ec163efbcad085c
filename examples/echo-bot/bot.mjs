// Echo bot: answers "/echo <text>" with "<text>" in every thread it takes part in.
// It receives Natter's server-side events (ACS's Event Grid schema) on a plain node:http webhook, checks each
// delivery's Standard Webhooks signature, and answers through the chat SDK, as an ACS + Event Grid bot would.
//
//   NATTER_CONNECTION_STRING="endpoint=https://…;accesskey=…" node bot.mjs
//
// Environment: NATTER_CONNECTION_STRING (required); BOT_USER_ID (reuse an identity; default: a new one);
// HOST, PORT (where it listens; default 127.0.0.1:8080); PUBLIC_URL (the URL Natter posts to; default
// http://HOST:PORT/); SUBSCRIPTION_NAME (default echo-bot). At start it (re)creates its event subscription, which
// hands out the signing secret, and prints `echo-bot ready {"userId": …, "url": …}`. Add the bot's user to a
// thread (as any participant) and it answers there.
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";
import { ChatClient } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential, parseConnectionString, signRequestWithAccessKey } from "@natter/communication-common";
import { CommunicationIdentityClient } from "@natter/communication-identity";

const connectionString = process.env.NATTER_CONNECTION_STRING;
if (!connectionString) throw new Error("Set NATTER_CONNECTION_STRING (printed by `natter serve`).");
const host = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 8080);
const subscriptionName = process.env.SUBSCRIPTION_NAME ?? "echo-bot";
const { endpoint, credential } = parseConnectionString(connectionString);

// The bot is an ordinary user of the chat: its own identity, and tokens renewed before they expire.
const identity = new CommunicationIdentityClient(connectionString);
const bot = process.env.BOT_USER_ID ? { communicationUserId: process.env.BOT_USER_ID } : await identity.createUser();
const tokens = new AzureCommunicationTokenCredential({
  tokenRefresher: async () => (await identity.getToken(bot, ["chat"])).token,
  refreshProactively: true,
});
const chat = new ChatClient(endpoint, tokens);

let webhook; // the signature checker, once the subscription has handed out its secret
const answered = new Set(); // event ids already answered: a retried delivery carries the same id

async function onEvent(event) {
  if (event.eventType !== "Microsoft.Communication.ChatMessageReceived" || answered.has(event.id)) return;
  const { messageBody, threadId, senderCommunicationIdentifier: sender } = event.data;
  const command = /^\/echo\s+([\s\S]+)$/.exec(messageBody.trim());
  if (!command || sender.rawId === bot.communicationUserId) return;
  await chat.getChatThreadClient(threadId).sendMessage({ content: command[1] }, { senderDisplayName: "Echo bot" });
  answered.add(event.id);
  if (answered.size > 10_000) answered.delete(answered.values().next().value);
}

const server = createServer(async (request, response) => {
  const reply = (status, body) => response.writeHead(status, { "content-type": "application/json" }).end(body && JSON.stringify(body));
  if (request.method !== "POST") return reply(405);
  const chunks = [];
  for await (const chunk of request) chunks.push(chunk);
  const body = Buffer.concat(chunks).toString("utf8");
  let events;
  try {
    events = JSON.parse(body);
  } catch {
    return reply(400, { error: "not JSON" });
  }
  // Event Grid's handshake when the subscription is created: echo the code (it comes before the secret exists).
  const validation = events.find?.((e) => e.eventType === "Microsoft.EventGrid.SubscriptionValidationEvent");
  if (validation) return reply(200, { validationResponse: validation.data.validationCode });
  if (!webhook) return reply(503); // not subscribed yet: Natter retries
  try {
    webhook.verify(body, request.headers); // webhook-id, webhook-timestamp, webhook-signature
  } catch {
    return reply(401, { error: "bad signature" });
  }
  try {
    for (const event of events) await onEvent(event);
    reply(200);
  } catch (error) {
    console.error("echo-bot: answer failed, Natter will retry:", error.message);
    reply(500);
  }
});
await new Promise((resolve) => server.listen(port, host, resolve));
const url = process.env.PUBLIC_URL ?? `http://${host}:${server.address().port}/`;

/** An access-key (HMAC) signed call to Natter's event subscription API, as the Identity API is called. */
async function manage(method, path, body) {
  const target = new URL(`${path}?api-version=2025-02-15`, endpoint).toString();
  const text = body === undefined ? undefined : JSON.stringify(body);
  const { Host: _host, ...headers } = await signRequestWithAccessKey(credential, { method, url: target, body: text });
  const res = await fetch(target, { method, headers: { ...headers, ...(text ? { "content-type": "application/json" } : {}) }, body: text });
  const answer = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${answer}`);
  return answer ? JSON.parse(answer) : undefined;
}

// The secret is handed out when a subscription is created, so start from a fresh one.
await manage("DELETE", `/eventSubscriptions/${subscriptionName}`);
const created = await manage("PUT", `/eventSubscriptions/${subscriptionName}`, {
  properties: {
    destination: { endpointType: "WebHook", properties: { endpointUrl: url, maxEventsPerBatch: 1 } },
    // Only messages other participants send to the bot.
    filter: { includedEventTypes: ["Microsoft.Communication.ChatMessageReceived"], subjectEndsWith: `/recipient/${bot.communicationUserId}` },
    eventDeliverySchema: "EventGridSchema",
  },
});
webhook = new Webhook(created.properties.signingSecret);
console.log(`echo-bot ready ${JSON.stringify({ userId: bot.communicationUserId, url })}`);

for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => server.close(() => process.exit(0)));
