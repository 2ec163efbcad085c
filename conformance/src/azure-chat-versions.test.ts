// Every earlier minor version of @azure/communication-chat (1.0.1 … 1.4.0, api-versions 2021-03-07,
// 2021-09-07 and 2023-11-07), unmodified, against one Natter node over HTTPS: a compact REST scenario each
// (create a thread with a participant; send, list, get, update and delete a message; list, add and remove
// participants; read receipts; typing; topic; list threads; delete the thread). Each step deserializes the
// identifiers of its response with that SDK's own common package, so a field its api-version does not define
// (such as `kind` before 2023-11-07) fails here. 1.5.4 and 1.6.0 run the full suite in their own files.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestNatter } from "@natter/server/testing";
import type { TestNatter } from "@natter/server/testing";
import { AZURE_CHAT_OLDER, AZURE_IDENTITY_131 } from "./clients.js";
import type { ChatClientLike, ChatClientUnderTest, IdentifierKindLike, IdentityClientLike, UserIdentifier } from "./clients.js";
import { collect, expectRestError, rawIdOf } from "./helpers.js";

interface User {
  id: UserIdentifier;
  rawId: string;
  token: string;
}

/** The SDK returned a communication user with this raw id (its kind, and the id the SDK parsed). */
function assertUser(identifier: IdentifierKindLike | object | undefined, user: User, what: string): void {
  assert.equal((identifier as IdentifierKindLike | undefined)?.kind, "communicationUser", `${what}: kind`);
  assert.equal(rawIdOf(identifier), user.rawId, `${what}: id`);
}

describe("older Azure chat SDKs (compact REST scenario)", () => {
  let natter: TestNatter;
  let identity: IdentityClientLike;

  before(async () => {
    natter = await startTestNatter();
    identity = AZURE_IDENTITY_131.create(natter.connectionString);
  });
  after(async () => natter?.stop());

  async function newUser(): Promise<User> {
    const { user, token } = await identity.createUserAndToken(["chat"]);
    return { id: user, rawId: user.communicationUserId, token };
  }

  for (const client of AZURE_CHAT_OLDER) {
    it(`${client.name} (api-version ${client.apiVersion})`, async () => {
      await scenario(client, natter, newUser);
    });
  }
});

async function scenario(client: ChatClientUnderTest, natter: TestNatter, newUser: () => Promise<User>): Promise<void> {
  const [alice, bob, carol] = await Promise.all([newUser(), newUser(), newUser()]);
  const chat = (user: User): ChatClientLike => new client.ChatClient(natter.endpoint, client.credential(user.token));
  const aliceChat = chat(alice);
  const bobChat = chat(bob);

  // createChatThread with a participant; the thread's createdBy is the creator.
  const created = await aliceChat.createChatThread({ topic: "old sdk" }, { participants: [{ id: bob.id, displayName: "Bob" }] });
  assert.equal(created.invalidParticipants, undefined);
  const threadId = created.chatThread!.id;
  assertUser(created.chatThread!.createdBy, alice, "createChatThread createdBy");
  const t = aliceChat.getChatThreadClient(threadId);
  const bt = bobChat.getChatThreadClient(threadId);

  // Messages: send, get, list (with the system messages, whose participants and initiator are identifiers).
  const { id } = await t.sendMessage({ content: "hello" }, { senderDisplayName: "Alice" });
  const got = await bt.getMessage(id);
  assert.equal(got.content?.message, "hello");
  assert.equal(got.type, "text");
  assert.equal(got.senderDisplayName, "Alice");
  assertUser(got.sender, alice, "getMessage sender");
  const listed = await collect(bt.listMessages());
  assert.ok(listed.some((m) => m.id === id));
  const added = listed.find((m) => m.type === "participantAdded");
  assert.ok(added, "the creation lists a participantAdded system message");
  assert.ok(added.content?.participants?.some((p) => rawIdOf(p.id) === bob.rawId), "participantAdded names bob");
  assertUser(added.content?.initiator, alice, "participantAdded initiator");

  // Update and delete.
  await t.updateMessage(id, { content: "hello again" });
  const edited = await t.getMessage(id);
  assert.equal(edited.content?.message, "hello again");
  assert.ok(edited.editedOn instanceof Date);
  await t.deleteMessage(id);
  assert.ok((await t.getMessage(id)).deletedOn instanceof Date);

  // Participants: list, add, remove.
  const members = await collect(t.listParticipants());
  assert.deepEqual(members.map((p) => rawIdOf(p.id)).sort(), [alice.rawId, bob.rawId].sort());
  assertUser(members.find((p) => rawIdOf(p.id) === bob.rawId)!.id, bob, "listParticipants id");
  const addResult = await t.addParticipants({ participants: [{ id: carol.id, displayName: "Carol" }] });
  assert.equal(addResult.invalidParticipants, undefined);
  assert.equal((await collect(t.listParticipants())).length, 3);
  await t.removeParticipant(carol.id);
  assert.deepEqual((await collect(t.listParticipants())).map((p) => rawIdOf(p.id)).sort(), [alice.rawId, bob.rawId].sort());

  // Read receipts and typing.
  const { id: second } = await t.sendMessage({ content: "read me" });
  await bt.sendReadReceipt({ chatMessageId: second });
  const receipts = await collect(t.listReadReceipts());
  const receipt = receipts.find((r) => r.chatMessageId === second);
  assert.ok(receipt, "bob's read receipt is listed");
  assertUser(receipt.sender, bob, "read receipt sender");
  assert.equal(await bt.sendTypingNotification(), true);

  // Topic, list threads, delete.
  await t.updateTopic("renamed");
  const props = await bt.getProperties();
  assert.equal(props.topic, "renamed");
  assertUser(props.createdBy, alice, "getProperties createdBy");
  assert.ok((await collect(bobChat.listChatThreads())).some((x) => x.id === threadId && x.topic === "renamed"));
  await aliceChat.deleteChatThread(threadId);
  // 1.0.x (core-http) maps only the status codes its spec lists; a 404 reaches the caller with the raw body as
  // its message and no code, as it would from ACS. Later SDKs parse the ACS error body.
  if (client.apiVersion === "2021-03-07") {
    const gone = (await t.getProperties().then(() => undefined, (error: unknown) => error)) as { name?: string; statusCode?: number } | undefined;
    assert.equal(gone?.name, "RestError");
    assert.equal(gone.statusCode, 404);
  } else {
    await expectRestError(t.getProperties(), 404);
  }
}
