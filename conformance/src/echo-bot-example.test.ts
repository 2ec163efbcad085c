// examples/echo-bot, run as a user would run it (`node bot.mjs` against a real server): it subscribes itself to
// server-side events, a user sends "/echo hi" through the chat SDK, and the bot's answer comes back through the SDK.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ChatClient } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";
import { createTestUser, startTestNatter, waitUntil, type TestNatter } from "@natter/server/testing";

const BOT = fileURLToPath(new URL("../../examples/echo-bot/bot.mjs", import.meta.url));

let natter: TestNatter;
let bot: ChildProcess | undefined;
let botOutput = "";

/** Starts the example as a child process; resolves with what it prints when it is subscribed. */
function startBot(env: Record<string, string>): Promise<{ userId: string; url: string }> {
  const child = spawn(process.execPath, [BOT], { env: { ...process.env, PORT: "0", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  bot = child;
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      botOutput += d;
      const m = /echo-bot ready (\{.*\})/.exec(botOutput);
      if (m) resolve(JSON.parse(m[1]));
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`the bot exited with ${code}: ${botOutput}`)));
  });
}

before(async () => {
  natter = await startTestNatter();
});
after(async () => {
  if (bot && bot.exitCode === null) {
    const exited = new Promise((r) => bot!.once("exit", r));
    bot.kill("SIGTERM");
    await exited;
  }
  await natter.stop();
});

describe("examples/echo-bot", () => {
  it("answers /echo in a thread through the SDK, with signed, verified deliveries", async () => {
    const ready = await startBot({ NATTER_CONNECTION_STRING: natter.connectionString });
    assert.match(ready.userId, /^8:acs:/);
    const alice = await createTestUser(natter);
    const client = new ChatClient(natter.endpoint, new AzureCommunicationTokenCredential(alice.token));
    const created = await client.createChatThread({ topic: "echo" }, { participants: [{ id: { communicationUserId: ready.userId }, displayName: "Echo bot" }] });
    const thread = client.getChatThreadClient(created.chatThread!.id);
    await thread.sendMessage({ content: "/echo hi there" });
    await thread.sendMessage({ content: "no command here" });

    const fromBot = async () => {
      const found = [];
      for await (const m of thread.listMessages()) {
        if (m.type === "text" && m.sender && "communicationUserId" in m.sender && m.sender.communicationUserId === ready.userId) found.push(m);
      }
      return found;
    };
    await waitUntil(async () => (await fromBot()).length > 0, 30_000, () => `the bot's answer (bot output: ${botOutput})`, 200);
    const answers = await fromBot();
    assert.equal(answers[0].content?.message, "hi there");
    assert.equal(answers[0].senderDisplayName, "Echo bot");
    // A message after the one it answers, to know the bot has seen the other one too, and that it stays silent.
    await thread.sendMessage({ content: "/echo done" });
    await waitUntil(async () => (await fromBot()).some((m) => m.content?.message === "done"), 30_000, () => `the second answer (bot output: ${botOutput})`, 200);
    assert.deepEqual((await fromBot()).map((m) => m.content?.message).sort(), ["done", "hi there"]);
  });
});
