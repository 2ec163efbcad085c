// The quick start of Azure's chat SDK README (1.5.2; seed 000_668050760b69ba2b), run as written against Natter
// with Natter's SDK. Each README block is copied as literally as possible; the only changes are the import
// lines (@azure/* → @natter/*) and the placeholders ('<ENDPOINT>', '<USER_ACCESS_TOKEN>', user ids), which
// are filled from a test server and the identity client. One deviation, needed under `strict` with Azure's
// own typings as well: `createChatThreadResult.chatThread.id` is written `chatThread!.id` (chatThread is
// optional in both SDKs' CreateChatThreadResult).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startTestNatter } from "@natter/server/testing";
import type { TestNatter } from "@natter/server/testing";
import { CommunicationIdentityClient } from "@natter/communication-identity";
// ---- the README's imports, with the package names changed ----
import { ChatClient } from "@natter/communication-chat";
import type { SendMessageOptions, ChatMessage, ChatMessageReceivedEvent } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";

let natter: TestNatter;
let ENDPOINT: string;
let USER_ACCESS_TOKEN: string;
let CLIENT_USER_ID: string;
let USER_ID: string;
let NEW_PARTICIPANT_USER_ID: string;

before(async () => {
  natter = await startTestNatter();
  ENDPOINT = natter.endpoint;
  const identityClient = new CommunicationIdentityClient(natter.connectionString);
  const me = await identityClient.createUserAndToken(["chat"]);
  USER_ACCESS_TOKEN = me.token;
  CLIENT_USER_ID = me.user.communicationUserId;
  USER_ID = (await identityClient.createUser()).communicationUserId;
  NEW_PARTICIPANT_USER_ID = (await identityClient.createUser()).communicationUserId;
});

after(async () => {
  await natter?.stop();
});

const withTimeout = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms).unref()),
  ]);

test("the README quick start runs as written (client, thread, messages, participants)", async () => {
  // ---- "ChatClient 초기화" (initialize a ChatClient) ----
  // Your unique Azure Communication service endpoint
  const endpointUrl = ENDPOINT;
  const userAccessToken = USER_ACCESS_TOKEN;
  const tokenCredential = new AzureCommunicationTokenCredential(userAccessToken);
  const chatClient = new ChatClient(endpointUrl, tokenCredential);

  // ---- "두 명의 사용자가 있는 스레드 만들기" (create a thread with two users) ----
  const createChatThreadRequest = {
    topic: "Hello, World!",
  };
  const createChatThreadOptions = {
    participants: [
      {
        id: { communicationUserId: USER_ID },
        displayName: "Geeta",
      },
    ],
  };
  const createChatThreadResult = await chatClient.createChatThread(createChatThreadRequest, createChatThreadOptions);
  const threadId = createChatThreadResult.chatThread!.id;

  assert.equal(typeof threadId, "string");
  assert.ok(threadId.length > 0);
  assert.equal(createChatThreadResult.chatThread!.topic, "Hello, World!");
  assert.equal(createChatThreadResult.invalidParticipants, undefined);

  // ---- "ChatThreadClient 만들기" (get a ChatThreadClient) ----
  const chatThreadClient = chatClient.getChatThreadClient(threadId);
  assert.equal(chatThreadClient.threadId, threadId);

  // ---- "스레드에 메시지 보내기" (send a message to the thread) ----
  const sendMessageRequest = {
    content: "Hello Geeta! Can you share the deck for the conference?",
  };
  const sendMessageOptions: SendMessageOptions = {
    senderDisplayName: "Jack",
    type: "text",
  };
  const sendChatMessageResult = await chatThreadClient.sendMessage(sendMessageRequest, sendMessageOptions);
  const messageId = sendChatMessageResult.id;

  assert.equal(typeof messageId, "string");
  assert.ok(messageId.length > 0);

  // ---- "스레드에서 메시지 받기" (receive messages: polling with listMessages) ----
  const received: ChatMessage[] = [];
  for await (const chatMessage of chatThreadClient.listMessages()) {
    // your code here
    received.push(chatMessage);
  }

  const sent = received.find((m) => m.id === messageId);
  assert.ok(sent, `the sent message ${messageId} is listed`);
  assert.equal(sent.type, "text");
  assert.equal(sent.content?.message, "Hello Geeta! Can you share the deck for the conference?");
  assert.equal(sent.senderDisplayName, "Jack");
  assert.deepEqual(sent.sender, { kind: "communicationUser", communicationUserId: CLIENT_USER_ID });
  assert.ok(sent.createdOn instanceof Date);
  // Creating the thread with the other user also produced the thread's system messages.
  assert.ok(received.some((m) => m.type === "participantAdded"), "a participantAdded system message is listed");
  assert.ok(received.some((m) => m.type === "topicUpdated"), "a topicUpdated system message is listed");

  // ---- "스레드에 사용자 추가" (add a user to the thread) ----
  const addParticipantsRequest = {
    participants: [
      {
        id: { communicationUserId: NEW_PARTICIPANT_USER_ID },
        displayName: "Jane",
      },
    ],
  };

  await chatThreadClient.addParticipants(addParticipantsRequest);

  const afterAdd = new Map<string, string | undefined>();
  for await (const participant of chatThreadClient.listParticipants()) {
    afterAdd.set((participant.id as { communicationUserId: string }).communicationUserId, participant.displayName);
  }
  assert.equal(afterAdd.size, 3, "the creator, Geeta and Jane");
  assert.equal(afterAdd.get(USER_ID), "Geeta");
  assert.equal(afterAdd.get(NEW_PARTICIPANT_USER_ID), "Jane");
  assert.ok(afterAdd.has(CLIENT_USER_ID));

  // ---- "스레드에서 사용자 제거" (remove a user from the thread; MEMBER_ID is the participant added above) ----
  const MEMBER_ID = NEW_PARTICIPANT_USER_ID;
  await chatThreadClient.removeParticipant({ communicationUserId: MEMBER_ID });

  const afterRemove: string[] = [];
  for await (const participant of chatThreadClient.listParticipants()) {
    afterRemove.push((participant.id as { communicationUserId: string }).communicationUserId);
  }
  assert.deepEqual(afterRemove.sort(), [CLIENT_USER_ID, USER_ID].sort());
});

test("the README's connection-state subscriptions compile and register before startRealtimeNotifications", async () => {
  const chatClient = new ChatClient(ENDPOINT, new AzureCommunicationTokenCredential(USER_ACCESS_TOKEN));
  const log: string[] = [];

  // ---- "실시간 알림의 연결 상태 구독" (subscribe to the realtime connection state) ----
  // subscribe to realTimeNotificationConnected event
  chatClient.on("realTimeNotificationConnected", () => {
    console.log("Real time notification is now connected!");
    // your code here
    log.push("connected");
  });

  // subscribe to realTimeNotificationDisconnected event
  chatClient.on("realTimeNotificationDisconnected", () => {
    console.log("Real time notification is now disconnected!");
    // your code here
    log.push("disconnected");
  });

  // Starting connects and says so; stopping says it is disconnected.
  await chatClient.startRealtimeNotifications();
  assert.deepEqual(log, ["connected"]);
  await chatClient.stopRealtimeNotifications();
});

test(
  "the README's realtime block delivers chatMessageReceived",
  async () => {
    const chatClient = new ChatClient(ENDPOINT, new AzureCommunicationTokenCredential(USER_ACCESS_TOKEN));
    const { chatThread } = await chatClient.createChatThread({ topic: "realtime" });
    const chatThreadClient = chatClient.getChatThreadClient(chatThread!.id);
    let gotIt!: (e: ChatMessageReceivedEvent) => void;
    const delivered = new Promise<ChatMessageReceivedEvent>((resolve) => (gotIt = resolve));

    try {
      // ---- "스레드에서 메시지 받기" (receive messages: realtime signaling) ----
      // open notifications channel
      await chatClient.startRealtimeNotifications();
      // subscribe to new notification
      chatClient.on("chatMessageReceived", (e) => {
        console.log("Notification chatMessageReceived!");
        // your code here
        gotIt(e);
      });

      const { id } = await chatThreadClient.sendMessage({ content: "realtime hello" }, { senderDisplayName: "Jack", type: "text" });
      const event = await withTimeout(delivered, 5_000, "chatMessageReceived");
      assert.equal(event.id, id);
      assert.equal(event.threadId, chatThread!.id);
      assert.equal(event.message, "realtime hello");
      assert.equal(event.senderDisplayName, "Jack");
    } finally {
      await chatClient.stopRealtimeNotifications();
    }
  },
);
