// The chat previews (issue #21 item 4): 2024-03-15-preview and 2024-06-05-preview (chat SDK 1.6.0-beta.7, UI
// library 1.28.0-beta.2) are served with their shapes: identifiers with `kind`, thread and participant metadata,
// message attachments (images of the thread, by id, with view URLs) and the image operations (upload, view,
// delete), which only participants may use. Other versions never see an attachment and have no image paths.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { CHAT_LIMITS } from "@natter/wire";
import type { TestNatter } from "../test-support/test-natter.js";
import { createTestUser, startTestNatter } from "../test-support/test-natter.js";

const PREVIEWS = ["2024-03-15-preview", "2024-06-05-preview"] as const;
/** A 1×1 PNG. */
const PNG = Buffer.from("89504e470d0a1a0a0000000d4948445200000001000000010806000000" + "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e221bc330000000049454e44ae426082", "hex");

let natter: TestNatter;
let alice: { userId: string; token: string };
let bob: { userId: string; token: string };
let eve: { userId: string; token: string };

const identifier = (id: string) => ({ rawId: id, communicationUser: { id } });

interface Answer {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  bytes: Buffer;
}

async function call(token: string, method: string, path: string, version: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const url = new URL(path, natter.httpUrl);
  if (!url.searchParams.has("api-version")) url.searchParams.set("api-version", version);
  const raw = Buffer.isBuffer(body);
  const res = await fetch(url, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { "content-type": raw ? "application/octet-stream" : "application/json" } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : raw ? (body as Buffer) : JSON.stringify(body),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  const json = (res.headers.get("content-type") ?? "").includes("json") && bytes.length > 0;
  return { status: res.status, headers: res.headers, body: json ? JSON.parse(bytes.toString("utf8")) : undefined, bytes };
}

async function newThread(version: string, extra: Record<string, unknown> = {}): Promise<string> {
  const created = await call(alice.token, "POST", "/chat/threads", version, {
    topic: "previews", participants: [{ communicationIdentifier: identifier(bob.userId), metadata: { role: "guest" } }], ...extra,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.chatThread.id as string;
}
const threadPath = (id: string) => `/chat/threads/${encodeURIComponent(id)}`;

async function upload(token: string, threadId: string, version: string, bytes: Buffer = PNG, name?: string): Promise<Answer> {
  return call(token, "POST", `${threadPath(threadId)}/images`, version, bytes, name === undefined ? {} : { "image-filename": name });
}

before(async () => {
  natter = await startTestNatter();
  [alice, bob, eve] = await Promise.all([createTestUser(natter), createTestUser(natter), createTestUser(natter)]);
});
after(() => natter.stop());

describe("chat preview api-versions", () => {
  for (const version of PREVIEWS) {
    it(`${version}: messages, read receipts, typing, participants and thread properties are served in that version's shapes`, async () => {
      const threadId = await newThread(version, { metadata: { app: "ui" }, retentionPolicy: { kind: "threadCreationDate", deleteThreadAfterDays: 40 } });
      const sent = await call(alice.token, "POST", `${threadPath(threadId)}/messages`, version, { content: "<p>hi</p>", type: "html", metadata: { k: "v" } });
      assert.equal(sent.status, 201, JSON.stringify(sent.body));
      const list = await call(bob.token, "GET", `${threadPath(threadId)}/messages`, version);
      assert.equal(list.status, 200, JSON.stringify(list.body));
      const message = list.body.value.find((m: { id: string }) => m.id === sent.body.id);
      assert.deepEqual(message.content, { message: "<p>hi</p>" }, "no attachments on a message without any");
      assert.deepEqual(message.metadata, { k: "v" });
      assert.deepEqual(Object.keys(message.senderCommunicationIdentifier).sort(), ["communicationUser", "kind", "rawId"], "common 2023-11-15 model: kind");
      assert.equal(message.policyViolation, undefined, "Natter moderates nothing: no policyViolation");
      assert.equal((await call(bob.token, "POST", `${threadPath(threadId)}/readReceipts`, version, { chatMessageId: sent.body.id })).status, 200);
      const receipts = await call(alice.token, "GET", `${threadPath(threadId)}/readReceipts`, version);
      assert.equal(receipts.status, 200);
      assert.equal(receipts.body.value[0].chatMessageId, sent.body.id);
      assert.equal(receipts.body.value[0].senderCommunicationIdentifier.kind, "communicationUser");
      assert.equal((await call(bob.token, "POST", `${threadPath(threadId)}/typing`, version, { senderDisplayName: "Bob" })).status, 200);
      const participants = await call(alice.token, "GET", `${threadPath(threadId)}/participants`, version);
      assert.equal(participants.status, 200);
      assert.deepEqual(participants.body.value.find((p: { communicationIdentifier: { rawId: string } }) => p.communicationIdentifier.rawId === bob.userId).metadata, { role: "guest" });
      const props = await call(bob.token, "GET", threadPath(threadId), version);
      assert.equal(props.status, 200);
      assert.deepEqual(props.body.metadata, { app: "ui" });
      assert.deepEqual(props.body.retentionPolicy, { kind: "threadCreationDate", deleteThreadAfterDays: 40 });
      assert.equal(props.body.messagingPolicy, undefined, "no text-only policy: messagingPolicy is left out (textOnlyChat false)");
    });
  }

  it("an image is uploaded, attached to a message by id, listed with its URLs, viewed, and deleted (2024-06-05-preview)", async () => {
    const version = "2024-06-05-preview";
    const threadId = await newThread(version);
    const up = await upload(alice.token, threadId, version, PNG, "cat.png");
    assert.equal(up.status, 201, JSON.stringify(up.body));
    assert.deepEqual(Object.keys(up.body).sort(), ["attachmentType", "id", "name"]);
    assert.equal(up.body.attachmentType, "image");
    assert.equal(up.body.name, "cat.png");
    assert.match(up.body.id, /^[0-9a-f]{32}$/);
    assert.equal(up.headers.get("location"), `${threadPath(threadId)}/images/${up.body.id}`);

    const sent = await call(alice.token, "POST", `${threadPath(threadId)}/messages`, version, {
      content: `<p>look</p><img id="${up.body.id}">`, type: "html", attachments: [{ id: up.body.id, attachmentType: "image", name: "cat.png" }],
    });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    const got = await call(bob.token, "GET", `${threadPath(threadId)}/messages/${sent.body.id}`, version);
    const [attachment] = got.body.content.attachments;
    const base = `${natter.httpUrl.replace(/\/$/, "")}${threadPath(threadId)}/images/${up.body.id}/view`;
    assert.deepEqual(attachment, {
      id: up.body.id, attachmentType: "image", name: "cat.png", url: `${base}/original?api-version=${version}`, previewUrl: `${base}/small?api-version=${version}`,
    });
    const listed = await call(bob.token, "GET", `${threadPath(threadId)}/messages`, version);
    assert.deepEqual(listed.body.value.find((m: { id: string }) => m.id === sent.body.id).content.attachments, [attachment]);

    // Bob (a participant) views both sizes at the URLs the message gave; the bytes come back as stored.
    for (const url of [attachment.url, attachment.previewUrl]) {
      const view = await call(bob.token, "GET", url, version);
      assert.equal(view.status, 200);
      assert.equal(view.headers.get("content-type"), "image/png");
      assert.equal(Buffer.compare(view.bytes, PNG), 0);
    }

    // Other versions never see attachments.
    for (const other of ["2024-03-07", "2025-03-15", "2023-11-07"]) {
      const m = await call(bob.token, "GET", `${threadPath(threadId)}/messages/${sent.body.id}`, other);
      assert.equal(m.status, 200);
      assert.deepEqual(m.body.content, { message: `<p>look</p><img id="${up.body.id}">` }, `no attachments at ${other}`);
    }

    // Only the uploader deletes it; then it is gone.
    assert.equal((await call(bob.token, "DELETE", `${threadPath(threadId)}/images/${up.body.id}`, version)).status, 403);
    assert.equal((await call(alice.token, "DELETE", `${threadPath(threadId)}/images/${up.body.id}`, version)).status, 204);
    const gone = await call(bob.token, "GET", attachment.url, version);
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, "NotFound");
    assert.equal((await call(alice.token, "DELETE", `${threadPath(threadId)}/images/${up.body.id}`, version)).status, 404);
  });

  it("only participants upload, view and delete images; the limits and formats are enforced", async () => {
    const version = "2024-03-15-preview";
    const threadId = await newThread(version);
    const up = await upload(bob.token, threadId, version);
    assert.equal(up.status, 201);
    assert.equal(up.body.name, undefined, "no image-filename: no name");
    const image = `${threadPath(threadId)}/images/${up.body.id}`;
    const eveUpload = await upload(eve.token, threadId, version);
    assert.equal(eveUpload.status, 403);
    assert.equal(eveUpload.body.error.code, "Forbidden");
    assert.equal((await call(eve.token, "GET", `${image}/view/original`, version)).status, 403);
    assert.equal((await call(eve.token, "DELETE", image, version)).status, 403);
    assert.equal((await call(alice.token, "GET", `${image}/view/original`, version)).status, 200);

    // An image of one thread cannot be read through, or attached in, another thread.
    const otherThread = await newThread(version);
    assert.equal((await call(alice.token, "GET", `${threadPath(otherThread)}/images/${up.body.id}/view/original`, version)).status, 404);
    const foreign = await call(alice.token, "POST", `${threadPath(otherThread)}/messages`, version, { content: "x", attachments: [{ id: up.body.id, attachmentType: "image" }] });
    assert.equal(foreign.status, 400);
    assert.equal(foreign.body.error.code, "ValidationError");
    const file = await call(alice.token, "POST", `${threadPath(threadId)}/messages`, version, { content: "x", attachments: [{ id: up.body.id, attachmentType: "file" }] });
    assert.equal(file.status, 400);

    // Size: ACS's 20 MB; one byte more is 413. Not an image: 400. Empty: 400.
    const tooBig = Buffer.alloc(CHAT_LIMITS.imageBytes + 1);
    PNG.copy(tooBig);
    const big = await upload(alice.token, threadId, version, tooBig);
    assert.equal(big.status, 413);
    assert.equal(big.body.error.code, "RequestEntityTooLarge");
    const html = await upload(alice.token, threadId, version, Buffer.from("<script>alert(1)</script>"));
    assert.equal(html.status, 400);
    assert.equal((await upload(alice.token, threadId, version, Buffer.alloc(0))).status, 400);
    const atLimit = Buffer.alloc(CHAT_LIMITS.imageBytes);
    PNG.copy(atLimit);
    assert.equal((await upload(alice.token, threadId, version, atLimit)).status, 201, "exactly 20 MB is accepted");
  });

  it("image operations do not exist at other versions, and attachments sent there are ignored", async () => {
    const threadId = await newThread("2024-06-05-preview");
    for (const other of ["2025-03-15", "2024-03-07", "2021-09-07"]) {
      const res = await upload(alice.token, threadId, other);
      assert.equal(res.status, 400, other);
      assert.equal(res.body.error.code, "UnsupportedApiVersion");
    }
    const up = await upload(alice.token, threadId, "2024-06-05-preview");
    const sent = await call(alice.token, "POST", `${threadPath(threadId)}/messages`, "2025-03-15", { content: "x", attachments: [{ id: up.body.id, attachmentType: "image" }] });
    assert.equal(sent.status, 201);
    const got = await call(alice.token, "GET", `${threadPath(threadId)}/messages/${sent.body.id}`, "2024-06-05-preview");
    assert.equal(got.body.content.attachments, undefined, "sent at 2025-03-15: no attachment stored");
  });

  it("an edit replaces the attachments; deleting the message, the thread or a retention purge removes what they held", async () => {
    const version = "2024-06-05-preview";
    const threadId = await newThread(version);
    const first = await upload(alice.token, threadId, version, PNG, "a.png");
    const second = await upload(alice.token, threadId, version, PNG, "b.png");
    const sent = await call(alice.token, "POST", `${threadPath(threadId)}/messages`, version, { content: "x", attachments: [{ id: first.body.id, attachmentType: "image" }] });
    const path = `${threadPath(threadId)}/messages/${sent.body.id}`;
    assert.equal((await call(alice.token, "PATCH", path, version, { attachments: [{ id: second.body.id, attachmentType: "image" }] }, { "content-type": "application/merge-patch+json" })).status, 204);
    assert.deepEqual((await call(alice.token, "GET", path, version)).body.content.attachments.map((a: { name: string }) => a.name), ["b.png"]);
    assert.equal((await call(alice.token, "DELETE", path, version)).status, 204);
    assert.equal((await call(alice.token, "GET", path, version)).body.content.attachments, undefined, "a deleted message shows no attachment");

    assert.ok(await natter.store.getImage(threadId, first.body.id));
    assert.equal((await call(alice.token, "DELETE", threadPath(threadId), version)).status, 204);
    assert.equal(await natter.store.getImage(threadId, first.body.id), undefined, "deleting the thread deletes its images");

    const kept = await newThread(version, { retentionPolicy: { kind: "threadCreationDate", deleteThreadAfterDays: 30 } });
    const image = await upload(alice.token, kept, version);
    assert.ok(await natter.store.getImage(kept, image.body.id));
    await natter.store.updateThread(kept, { expiresAt: 1 });
    await natter.chat.runHousekeeping();
    assert.equal(await natter.store.getImage(kept, image.body.id), undefined, "a retention purge deletes the thread's images");
  });
});
