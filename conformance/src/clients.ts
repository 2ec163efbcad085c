// The client adapters the conformance suites run against: the smallest structural view of a chat client
// (and an identity client) that the suites use. Any SDK with the public API of @azure/communication-chat
// fits it unchanged, so adding a client is one more entry in CHAT_CLIENTS plus a three-line test file.
import { ChatClient as AzureChatClient160 } from "@azure/communication-chat";
import { ChatClient as AzureChatClient101 } from "azure-chat-101";
import { ChatClient as AzureChatClient111 } from "azure-chat-111";
import { ChatClient as AzureChatClient121 } from "azure-chat-121";
import { ChatClient as AzureChatClient132 } from "azure-chat-132";
import { ChatClient as AzureChatClient140 } from "azure-chat-140";
import { ChatClient as AzureChatClient154 } from "azure-chat-154";
import { AzureCommunicationTokenCredential as AzureCommon1TokenCredential } from "azure-common-1";
import { ChatClient as NatterChatClient } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential as NatterTokenCredential } from "@natter/communication-common";
import { CommunicationIdentityClient as NatterIdentityClient } from "@natter/communication-identity";
import { AzureCommunicationTokenCredential } from "@azure/communication-common";
import { CommunicationIdentityClient } from "@azure/communication-identity";

// ---- the shapes the suites read (a subset of the SDK models; structural, so each SDK's own types fit) ----

/** A CommunicationIdentifierKind as the SDKs return it (communicationUser, or any other kind). */
export interface IdentifierKindLike {
  kind: string;
  communicationUserId?: string;
  rawId?: string;
}

/** A CommunicationIdentifier as the suites pass it in. */
export interface UserIdentifier {
  communicationUserId: string;
}

export interface ParticipantLike {
  id: UserIdentifier | IdentifierKindLike | object;
  displayName?: string;
  shareHistoryTime?: Date;
  metadata?: Record<string, string>;
}

export interface ParticipantInput {
  id: UserIdentifier;
  displayName?: string;
  shareHistoryTime?: Date;
  metadata?: Record<string, string>;
}

export interface ChatErrorLike {
  code: string;
  message: string;
  target?: string;
}

export type RetentionPolicyLike = { kind: "threadCreationDate"; deleteThreadAfterDays: number } | { kind: "none" };

export interface ThreadPropertiesLike {
  id: string;
  topic: string;
  createdOn: Date;
  createdBy?: IdentifierKindLike;
  deletedOn?: Date;
  metadata?: Record<string, string>;
  retentionPolicy?: RetentionPolicyLike;
}

export interface CreateThreadResultLike {
  chatThread?: ThreadPropertiesLike;
  invalidParticipants?: ChatErrorLike[];
}

export interface ThreadItemLike {
  id: string;
  topic: string;
  deletedOn?: Date;
  lastMessageReceivedOn?: Date;
}

export interface MessageContentLike {
  message?: string;
  topic?: string;
  participants?: ParticipantLike[];
  initiator?: IdentifierKindLike;
}

export interface ChatMessageLike {
  id: string;
  type: string;
  sequenceId: string;
  version: string;
  content?: MessageContentLike;
  senderDisplayName?: string;
  createdOn: Date;
  sender?: IdentifierKindLike;
  deletedOn?: Date;
  editedOn?: Date;
  metadata?: Record<string, string>;
}

export interface ReadReceiptLike {
  sender: IdentifierKindLike;
  chatMessageId: string;
  readOn: Date;
}

export interface PageSettingsLike {
  maxPageSize?: number;
  continuationToken?: string;
}

/** PagedAsyncIterableIterator, reduced to what the suites use. */
export interface PagedLike<T> extends AsyncIterable<T> {
  byPage(settings?: PageSettingsLike): AsyncIterableIterator<T[]>;
}

export interface ChatClientLike {
  getChatThreadClient(threadId: string): ChatThreadClientLike;
  createChatThread(
    request: { topic: string },
    options?: {
      participants?: ParticipantInput[];
      idempotencyToken?: string;
      metadata?: Record<string, string>;
      retentionPolicy?: RetentionPolicyLike;
    },
  ): Promise<CreateThreadResultLike>;
  listChatThreads(options?: { maxPageSize?: number; startTime?: Date }): PagedLike<ThreadItemLike>;
  deleteChatThread(threadId: string): Promise<void>;
}

export interface ChatThreadClientLike {
  readonly threadId: string;
  getProperties(): Promise<ThreadPropertiesLike>;
  updateTopic(topic: string): Promise<void>;
  /** 1.6 only. */
  updateProperties?(options: { topic?: string; metadata?: Record<string, string>; retentionPolicy?: RetentionPolicyLike }): Promise<void>;
  sendMessage(
    request: { content: string },
    options?: { senderDisplayName?: string; type?: "text" | "html"; metadata?: Record<string, string> },
  ): Promise<{ id: string }>;
  getMessage(messageId: string): Promise<ChatMessageLike>;
  listMessages(options?: { maxPageSize?: number; startTime?: Date }): PagedLike<ChatMessageLike>;
  updateMessage(messageId: string, options?: { content?: string; metadata?: Record<string, string> }): Promise<void>;
  deleteMessage(messageId: string): Promise<void>;
  listParticipants(options?: { maxPageSize?: number; skip?: number }): PagedLike<ParticipantLike>;
  addParticipants(request: { participants: ParticipantInput[] }): Promise<{ invalidParticipants?: ChatErrorLike[] }>;
  removeParticipant(participant: UserIdentifier): Promise<void>;
  sendTypingNotification(options?: { senderDisplayName?: string }): Promise<boolean>;
  sendReadReceipt(request: { chatMessageId: string }): Promise<void>;
  listReadReceipts(options?: { maxPageSize?: number; skip?: number }): PagedLike<ReadReceiptLike>;
}

/** What a CommunicationTokenCredential offers (Azure's and Natter's alike). */
export interface TokenCredentialLike {
  getToken(options?: object): Promise<{ token: string; expiresOnTimestamp: number }>;
  dispose(): void;
}

export interface ChatClientUnderTest {
  /** Shown in test names. */
  name: string;
  /** The chat api-version the client sends. */
  apiVersion: string;
  ChatClient: new (endpoint: string, credential: TokenCredentialLike) => ChatClientLike;
  /** The credential the client is used with, for a user access token. */
  credential(token: string): TokenCredentialLike;
  /** Thread metadata, retention policy, updateProperties (api-version 2025-03-15). */
  supportsV16Features: boolean;
}

/**
 * The newest release of every earlier minor version of @azure/communication-chat, each with the common package
 * major it depends on (1.x for chat 1.0 and 1.1, 2.x after). They run the compact scenario of
 * azure-chat-versions.test.ts; 1.5.4 and 1.6.0 run the full suite.
 */
export const AZURE_CHAT_OLDER: readonly ChatClientUnderTest[] = [
  {
    name: "@azure/communication-chat 1.0.1",
    apiVersion: "2021-03-07",
    // Its sendTypingNotification takes no senderDisplayName (2021-03-07 defines no typing body).
    ChatClient: AzureChatClient101 as unknown as ChatClientUnderTest["ChatClient"],
    credential: (token) => new AzureCommon1TokenCredential(token),
    supportsV16Features: false,
  },
  {
    name: "@azure/communication-chat 1.1.1",
    apiVersion: "2021-09-07",
    ChatClient: AzureChatClient111,
    credential: (token) => new AzureCommon1TokenCredential(token),
    supportsV16Features: false,
  },
  {
    name: "@azure/communication-chat 1.2.1",
    apiVersion: "2021-09-07",
    ChatClient: AzureChatClient121,
    credential: (token) => new AzureCommunicationTokenCredential(token),
    supportsV16Features: false,
  },
  {
    name: "@azure/communication-chat 1.3.2",
    apiVersion: "2021-09-07",
    ChatClient: AzureChatClient132,
    credential: (token) => new AzureCommunicationTokenCredential(token),
    supportsV16Features: false,
  },
  {
    name: "@azure/communication-chat 1.4.0",
    apiVersion: "2023-11-07",
    ChatClient: AzureChatClient140,
    credential: (token) => new AzureCommunicationTokenCredential(token),
    supportsV16Features: false,
  },
];

export const AZURE_CHAT_154: ChatClientUnderTest = {
  name: "@azure/communication-chat 1.5.4",
  apiVersion: "2024-03-07",
  ChatClient: AzureChatClient154,
  credential: (token) => new AzureCommunicationTokenCredential(token),
  supportsV16Features: false,
};

export const AZURE_CHAT_160: ChatClientUnderTest = {
  name: "@azure/communication-chat 1.6.0",
  apiVersion: "2025-03-15",
  ChatClient: AzureChatClient160,
  credential: (token) => new AzureCommunicationTokenCredential(token),
  supportsV16Features: true,
};

export const NATTER_CHAT: ChatClientUnderTest = {
  name: "@natter/communication-chat",
  apiVersion: "2025-03-15",
  ChatClient: NatterChatClient,
  credential: (token) => new NatterTokenCredential(token),
  supportsV16Features: true,
};

/** Every chat client the suite knows. */
export const CHAT_CLIENTS: readonly ChatClientUnderTest[] = [AZURE_CHAT_154, AZURE_CHAT_160, NATTER_CHAT];

// ---- identity ----

export type TokenScopeLike = "chat" | "voip" | "chat.join" | "chat.join.limited" | "voip.join";

export interface IdentityClientLike {
  createUser(): Promise<UserIdentifier>;
  createUserAndToken(scopes: TokenScopeLike[], options?: { tokenExpiresInMinutes?: number }): Promise<{ user: UserIdentifier; token: string; expiresOn: Date }>;
  getToken(user: UserIdentifier, scopes: TokenScopeLike[], options?: { tokenExpiresInMinutes?: number }): Promise<{ token: string; expiresOn: Date }>;
  revokeTokens(user: UserIdentifier): Promise<void>;
  deleteUser(user: UserIdentifier): Promise<void>;
}

export interface IdentityClientUnderTest {
  name: string;
  create(connectionString: string): IdentityClientLike;
  /** The credential chat clients use with a token of this identity client. */
  credential(token: string): TokenCredentialLike;
}

export const NATTER_IDENTITY: IdentityClientUnderTest = {
  name: "@natter/communication-identity",
  create: (connectionString) => new NatterIdentityClient(connectionString),
  credential: (token) => new NatterTokenCredential(token),
};

export const AZURE_IDENTITY_131: IdentityClientUnderTest = {
  name: "@azure/communication-identity 1.3.1",
  create: (connectionString) => new CommunicationIdentityClient(connectionString),
  credential: (token) => new AzureCommunicationTokenCredential(token),
};
