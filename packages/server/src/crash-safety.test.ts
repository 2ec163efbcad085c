// Crash safety: SIGKILL the service at random moments while 8 clients send, restart, and check that every
// message that got a 201 is there exactly once, sequence ids have no gap or double, and the database passes
// SQLite's integrity check. 20 rounds.
import { after, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { createUserOverHttp, spawnNatter } from "./test-support/natter-process.js";

const ROUNDS = 20;
const CLIENTS = 8;
const V = "api-version=2024-03-07";
const data = mkdtempSync(join(tmpdir(), "natter-crash-"));
after(() => rmSync(data, { recursive: true, force: true }));

interface Message {
  id: string;
  type: string;
  sequenceId: string;
  content?: { message?: string };
}

async function listAll(baseUrl: string, token: string, threadId: string): Promise<Message[]> {
  const all: Message[] = [];
  let next: string | undefined = `/chat/threads/${encodeURIComponent(threadId)}/messages?${V}&maxPageSize=200`;
  while (next) {
    const res = await fetch(new URL(next, baseUrl), { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const page = (await res.json()) as { value: Message[]; nextLink?: string };
    all.push(...page.value);
    next = page.nextLink;
  }
  return all;
}

it(`survives ${ROUNDS} SIGKILLs during concurrent sends without losing or doubling a message`, async () => {
  const args = ["--data", data, "--port", "0", "--https-port", "0"];
  let node = await spawnNatter(args);
  const users = await Promise.all(Array.from({ length: CLIENTS }, () => createUserOverHttp(node.httpUrl, node.accessKey)));
  const created = await fetch(new URL(`/chat/threads?${V}`, node.httpUrl), {
    method: "POST",
    headers: { authorization: `Bearer ${users[0].token}`, "content-type": "application/json" },
    body: JSON.stringify({ topic: "crash", participants: users.slice(1).map((u) => ({ communicationIdentifier: { rawId: u.id, communicationUser: { id: u.id } } })) }),
  });
  const threadId = ((await created.json()) as { chatThread: { id: string } }).chatThread.id;
  const acknowledged = new Map<string, string>(); // content -> id answered with 201
  let attempt = 0;

  for (let round = 0; round < ROUNDS; round++) {
    const url = new URL(`/chat/threads/${encodeURIComponent(threadId)}/messages?${V}`, node.httpUrl);
    let running = true;
    const clients = users.map(async (user, c) => {
      while (running) {
        const content = `r${round}-c${c}-${attempt++}`;
        try {
          const res = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${user.token}`, "content-type": "application/json" }, body: JSON.stringify({ content }) });
          if (res.status === 201) acknowledged.set(content, ((await res.json()) as { id: string }).id);
          else await res.body?.cancel();
        } catch {
          return; // the server died mid-request: the outcome of this one is unknown
        }
      }
    });
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 350));
    node.child.kill("SIGKILL");
    await node.exited;
    running = false;
    await Promise.all(clients);

    const db = new Database(join(data, "natter.db"));
    assert.equal(db.pragma("integrity_check", { simple: true }), "ok", `integrity after round ${round}`);
    db.close();

    node = await spawnNatter(args);
    const messages = await listAll(node.httpUrl, users[0].token, threadId);
    const sequences = messages.map((m) => Number(m.sequenceId)).sort((a, b) => a - b);
    assert.deepEqual(sequences, sequences.map((_, i) => i + 1), `sequence ids are 1..n without gaps or doubles after round ${round}`);
    const byContent = new Map<string, string[]>();
    for (const m of messages) if (m.type === "text") byContent.set(m.content!.message!, [...(byContent.get(m.content!.message!) ?? []), m.id]);
    for (const [content, id] of acknowledged) {
      assert.deepEqual(byContent.get(content), [id], `${content} answered 201 (id ${id}) and must be stored exactly once`);
    }
    for (const [content, ids] of byContent) assert.equal(ids.length, 1, `${content} is stored once`);
  }
  assert.ok(acknowledged.size > ROUNDS, `messages were acknowledged (${acknowledged.size})`);
  node.child.kill("SIGTERM");
  assert.equal(await node.exited, 0);
});
