// The beta chat SDK that Azure's UI library 1.28.0-beta.2 ships with (@azure/communication-chat 1.6.0-beta.7,
// api-version 2024-06-05-preview), unmodified, against one Natter node over HTTPS (issue #21 item 4): the compact
// REST scenario (what the UI library needs to chat: history, send, read receipts, typing, participants), then
// inline images: uploadImage, a message with the image attached, listing it with its URL, viewing the image at
// that URL as the UI library does (fetch with the user's token), and deleteImage.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { AzureCommunicationTokenCredential } from "@azure/communication-common";
import { ChatClient } from "azure-chat-beta";
import { startTestNatter } from "@natter/server/testing";
import type { TestNatter } from "@natter/server/testing";
import { AZURE_IDENTITY_131 } from "./clients.js";
import type { IdentityClientLike, UserIdentifier } from "./clients.js";
import { collect, expectRestError, rawIdOf } from "./helpers.js";

interface User {
  id: UserIdentifier;
  rawId: string;
  token: string;
}

/** A 1×1 PNG (signature, IHDR, IDAT, IEND). */
const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d4948445200000001000000010806000000" + "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e221bc330000000049454e44ae426082",
  "hex",
);

describe("@azure/communication-chat 1.6.0-beta.7 (api-version 2024-06-05-preview)", () => {
  let natter: TestNatter;
  let identity: IdentityClientLike;
  let alice: User;
  let bob: User;
  let carol: User;

  async function newUser(): Promise<User> {
    const { user, token } = await identity.createUserAndToken(["chat"]);
    return { id: user, rawId: user.communicationUserId, token };
  }
  const chat = (user: User) => new ChatClient(natter.endpoint, new AzureCommunicationTokenCredential(user.token));

  before(async () => {
    natter = await startTestNatter();
    identity = AZURE_IDENTITY_131.create(natter.connectionString);
    [alice, bob, carol] = await Promise.all([newUser(), newUser(), newUser()]);
  });
  after(async () => natter?.stop());

  it("chats: thread, messages, read receipts, typing, participants, topic, delete", async () => {
    const aliceChat = chat(alice);
    const bobChat = chat(bob);
    const created = await aliceChat.createChatThread({ topic: "beta" }, { participants: [{ id: bob.id, displayName: "Bob", metadata: { role: "guest" } }], metadata: { app: "ui" } });
    assert.equal(created.invalidParticipants, undefined);
    const threadId = created.chatThread!.id;
    assert.equal(rawIdOf(created.chatThread!.createdBy), alice.rawId);
    const t = aliceChat.getChatThreadClient(threadId);
    const bt = bobChat.getChatThreadClient(threadId);

    const { id } = await t.sendMessage({ content: "<p>hello</p>" }, { senderDisplayName: "Alice", type: "html", metadata: { k: "v" } });
    const got = await bt.getMessage(id);
    assert.equal(got.content?.message, "<p>hello</p>");
    assert.equal(got.type, "html");
    assert.deepEqual(got.metadata, { k: "v" });
    assert.equal(got.sender?.kind, "communicationUser");
    assert.equal(rawIdOf(got.sender), alice.rawId);
    assert.equal(got.policyViolation, undefined);
    const listed = await collect(bt.listMessages());
    assert.ok(listed.some((m) => m.id === id));
    const added = listed.find((m) => m.type === "participantAdded");
    assert.ok(added?.content?.participants?.some((p) => rawIdOf(p.id) === bob.rawId));

    await t.updateMessage(id, { content: "<p>hello again</p>" });
    assert.equal((await t.getMessage(id)).content?.message, "<p>hello again</p>");

    const members = await collect(t.listParticipants());
    assert.deepEqual(members.map((p) => rawIdOf(p.id)).sort(), [alice.rawId, bob.rawId].sort());
    assert.deepEqual(members.find((p) => rawIdOf(p.id) === bob.rawId)?.metadata, { role: "guest" });
    assert.equal((await t.addParticipants({ participants: [{ id: carol.id, displayName: "Carol" }] })).invalidParticipants, undefined);
    await t.removeParticipant(carol.id);
    assert.equal((await collect(t.listParticipants())).length, 2);

    await bt.sendReadReceipt({ chatMessageId: id });
    const receipts = await collect(t.listReadReceipts());
    assert.ok(receipts.some((r) => r.chatMessageId === id && rawIdOf(r.sender) === bob.rawId), "bob's read receipt is listed");
    assert.equal(await bt.sendTypingNotification({ senderDisplayName: "Bob" }), true);

    await t.updateTopic("renamed");
    const props = await bt.getProperties();
    assert.equal(props.topic, "renamed");
    assert.deepEqual(props.metadata, { app: "ui" });
    assert.equal(props.messagingPolicy, undefined);
    assert.ok((await collect(bobChat.listChatThreads())).some((x) => x.id === threadId));

    await t.deleteMessage(id);
    assert.ok((await t.getMessage(id)).deletedOn instanceof Date);
    await aliceChat.deleteChatThread(threadId);
    await expectRestError(t.getProperties(), 404);
  });

  it("inline images: uploadImage, send with the attachment, list it, view it at its URL, deleteImage", async () => {
    const created = await chat(alice).createChatThread({ topic: "images" }, { participants: [{ id: bob.id }] });
    const t = chat(alice).getChatThreadClient(created.chatThread!.id);
    const bt = chat(bob).getChatThreadClient(created.chatThread!.id);

    const uploaded = await t.uploadImage(PNG.buffer.slice(PNG.byteOffset, PNG.byteOffset + PNG.byteLength), "dot.png");
    assert.equal(typeof uploaded.id, "string");
    assert.equal(uploaded.attachmentType, "image");
    assert.equal(uploaded.name, "dot.png");

    const { id } = await t.sendMessage(
      { content: `<p>see</p><img id="${uploaded.id}">` },
      { type: "html", attachments: [{ id: uploaded.id, attachmentType: "image", name: "dot.png" }] },
    );
    const listed = (await collect(bt.listMessages())).find((m) => m.id === id);
    const attachment = listed?.content?.attachments?.[0];
    assert.ok(attachment, "the listed message carries its attachment");
    assert.equal(attachment.id, uploaded.id);
    assert.equal(attachment.attachmentType, "image");
    assert.equal(attachment.name, "dot.png");
    assert.ok(attachment.url?.startsWith(natter.endpoint.replace(/\/$/, "")), `url on the endpoint: ${attachment.url}`);
    assert.ok(attachment.previewUrl);

    // The UI library fetches the URL with the user's token.
    const view = await fetch(attachment.url!, { headers: { authorization: `Bearer ${bob.token}` } });
    assert.equal(view.status, 200);
    assert.equal(view.headers.get("content-type"), "image/png");
    assert.equal(Buffer.compare(Buffer.from(await view.arrayBuffer()), PNG), 0);
    const outsider = await fetch(attachment.previewUrl!, { headers: { authorization: `Bearer ${carol.token}` } });
    assert.equal(outsider.status, 403);

    await expectRestError(bt.deleteImage(uploaded.id), 403);
    await t.deleteImage(uploaded.id);
    assert.equal((await fetch(attachment.url!, { headers: { authorization: `Bearer ${bob.token}` } })).status, 404);
    await expectRestError(t.deleteImage(uploaded.id), 404);
  });
});
