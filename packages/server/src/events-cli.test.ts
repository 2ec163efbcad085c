// `natter events …` as a child process against a running server (real HTTP, HMAC-signed): subscribe, list,
// dead-letters, redeliver and delete, with the server named by a connection string, flags or the environment.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { NATTER_BIN } from "./test-support/natter-process.js";
import type { TestNatter } from "./test-support/test-natter.js";
import { createTestUser, startTestNatter } from "./test-support/test-natter.js";
import type { WebhookReceiver } from "./test-support/webhook-receiver.js";
import { eventsOf, startWebhookReceiver } from "./test-support/webhook-receiver.js";
import { waitUntil } from "./test-support/cluster.js";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function natter(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(process.execPath, [NATTER_BIN, ...args], {
    env: { ...process.env, NATTER_CONNECTION_STRING: "", NATTER_ENDPOINT: "", NATTER_ACCESS_KEY: "", ...env }, stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

describe("natter events", () => {
  let server: TestNatter;
  let receiver: WebhookReceiver;
  let cs: string;
  before(async () => {
    server = await startTestNatter({}, { events: { retryMinMs: 100, retryMaxMs: 400, refreshMs: 100, pollMs: 20 } });
    receiver = await startWebhookReceiver();
    cs = `endpoint=${server.httpUrl};accesskey=${server.accessKey}`;
  });
  after(async () => {
    await server.stop();
    await receiver.close();
  });

  it("subscribe prints the secret once; list, dead-letters, redeliver and delete work against the server", async () => {
    const sub = await natter(["events", "subscribe", "cli-1", "--url", receiver.url, "--types", "ChatMessageReceivedInThread", "--connection-string", cs]);
    assert.equal(sub.code, 0, sub.stderr);
    assert.match(sub.stdout, /^Created cli-1 {2}Succeeded {2}http:\/\/127\.0\.0\.1:\d+\/hook {2}EventGridSchema {2}ChatMessageReceivedInThread\n/);
    assert.match(sub.stdout, /Signing secret .*: whsec_[A-Za-z0-9+/=]{44}\n$/);

    // Flags instead of a connection string; then the environment.
    const listed = await natter(["events", "list", "--endpoint", server.httpUrl, "--access-key", server.accessKey]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^cli-1 {2}Succeeded .* ChatMessageReceivedInThread\n$/);
    const json = await natter(["events", "list", "--json"], { NATTER_CONNECTION_STRING: cs });
    assert.equal((JSON.parse(json.stdout) as { value: { name: string }[] }).value[0].name, "cli-1");

    // A dead letter: the receiver refuses one delivery with 400 (not retried).
    receiver.answer = () => ({ status: 400 });
    const alice = await createTestUser(server);
    const thread = await fetch(new URL("/chat/threads?api-version=2024-03-07", server.httpUrl), {
      method: "POST", headers: { authorization: `Bearer ${alice.token}`, "content-type": "application/json" }, body: JSON.stringify({ topic: "cli" }),
    }).then((r) => r.json() as Promise<{ chatThread: { id: string } }>);
    await fetch(new URL(`/chat/threads/${encodeURIComponent(thread.chatThread.id)}/messages?api-version=2024-03-07`, server.httpUrl), {
      method: "POST", headers: { authorization: `Bearer ${alice.token}`, "content-type": "application/json" }, body: JSON.stringify({ content: "refused" }),
    });
    let dead: Run | undefined;
    await waitUntil(async () => {
      dead = await natter(["events", "dead-letters", "cli-1", "--connection-string", cs]);
      return dead.stdout.includes("DeliveryFailed");
    }, 15_000, () => `dead-letters: ${dead?.stdout} ${dead?.stderr}`);
    assert.match(dead!.stdout, /^cli-1 {2}\S+ {2}ChatMessageReceivedInThread {2}DeliveryFailed {2}HTTP 400 {2}\d{4}-/);
    const all = await natter(["events", "dead-letters", "--connection-string", cs]);
    assert.equal(all.stdout, dead!.stdout, "all subscriptions' dead letters");

    receiver.answer = () => ({ status: 200 });
    receiver.deliveries.length = 0;
    const redeliver = await natter(["events", "redeliver", "cli-1", "--connection-string", cs]);
    assert.equal(redeliver.code, 0, redeliver.stderr);
    assert.equal(redeliver.stdout, "Redelivering 1 dead letter(s) of cli-1\n");
    await waitUntil(() => receiver.deliveries.length === 1, 15_000, () => "redelivery");
    assert.equal((eventsOf(receiver.deliveries[0])[0].data as { messageBody: string }).messageBody, "refused");
    assert.equal((await natter(["events", "dead-letters", "--connection-string", cs])).stdout, "No dead letters.\n");

    const deleted = await natter(["events", "delete", "cli-1", "--connection-string", cs]);
    assert.equal(deleted.stdout, "Deleted cli-1\n");
    assert.equal((await natter(["events", "delete", "cli-1", "--connection-string", cs])).stdout, "No event subscription named cli-1\n");
    assert.equal((await natter(["events", "list", "--connection-string", cs])).stdout, "No event subscriptions.\n");
  });

  it("mistakes end in one line: exit 2 for the command line, 1 for what the server refused", async () => {
    const noServer = await natter(["events", "list"]);
    assert.equal(noServer.code, 2);
    assert.match(noServer.stderr, /^natter: name the server: --connection-string/);
    const noUrl = await natter(["events", "subscribe", "x-1", "--connection-string", cs]);
    assert.equal(noUrl.code, 2);
    assert.match(noUrl.stderr, /needs --url/);
    const badType = await natter(["events", "subscribe", "bad-1", "--url", receiver.url, "--types", "Nope", "--connection-string", cs]);
    assert.equal(badType.code, 1);
    assert.match(badType.stderr, /^natter: 400 ValidationError: .*Nope.* \(properties\.filter\.includedEventTypes\)\n$/);
    const wrongKey = await natter(["events", "list", "--endpoint", server.httpUrl, "--access-key", Buffer.alloc(32, 3).toString("base64")]);
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.stderr, /^natter: 401 Unauthorized/);
    const help = await natter(["events", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /natter events subscribe <name> --url <endpoint>/);
    const unknown = await natter(["events", "frobnicate"]);
    assert.equal(unknown.code, 2);
  });
});
