// JSON Schemas (draft-07, as Fastify's Ajv uses) of the request bodies Natter accepts. Unknown properties
// are allowed, as the ACS service ignores them; types, required fields and bounds are not negotiable.

const stringMap = {
  type: "object",
  additionalProperties: { type: "string" },
} as const;

const dateTime = { type: "string", minLength: 1, maxLength: 64 } as const;

export const identifierModelSchema = {
  type: "object",
  properties: {
    kind: { type: "string" },
    rawId: { type: "string", maxLength: 512 },
    communicationUser: { type: "object", required: ["id"], properties: { id: { type: "string" } } },
    phoneNumber: { type: "object", required: ["value"], properties: { value: { type: "string" }, isAnonymous: { type: "boolean" }, assertedId: { type: "string" } } },
    microsoftTeamsUser: { type: "object", required: ["userId"], properties: { userId: { type: "string" }, isAnonymous: { type: "boolean" }, cloud: { type: "string" } } },
    microsoftTeamsApp: { type: "object", required: ["appId"], properties: { appId: { type: "string" }, cloud: { type: "string" } } },
    teamsExtensionUser: {
      type: "object", required: ["userId", "tenantId", "resourceId"],
      properties: { userId: { type: "string" }, tenantId: { type: "string" }, resourceId: { type: "string" }, cloud: { type: "string" } },
    },
  },
} as const;

export const chatParticipantSchema = {
  type: "object",
  required: ["communicationIdentifier"],
  properties: {
    communicationIdentifier: identifierModelSchema,
    displayName: { type: "string" },
    shareHistoryTime: dateTime,
    metadata: stringMap,
  },
} as const;

export const retentionPolicySchema = {
  type: "object",
  required: ["kind"],
  properties: {
    kind: { type: "string", enum: ["threadCreationDate", "none"] },
    deleteThreadAfterDays: { type: "integer" },
  },
} as const;

export const createChatThreadRequestSchema = {
  type: "object",
  required: ["topic"],
  properties: {
    topic: { type: "string" },
    participants: { type: "array", items: chatParticipantSchema },
    metadata: stringMap,
    retentionPolicy: retentionPolicySchema,
  },
} as const;

export const updateChatThreadRequestSchema = {
  type: "object",
  properties: { topic: { type: "string" }, metadata: stringMap, retentionPolicy: retentionPolicySchema },
} as const;

/** A message attachment in a request (the previews): an image by the id UploadChatImage answered. */
const chatAttachmentSchema = {
  type: "object",
  required: ["id", "attachmentType"],
  properties: { id: { type: "string" }, attachmentType: { type: "string" }, name: { type: "string" } },
} as const;

export const sendChatMessageRequestSchema = {
  type: "object",
  required: ["content"],
  properties: {
    content: { type: "string" },
    senderDisplayName: { type: "string" },
    type: { type: "string" },
    metadata: stringMap,
    attachments: { type: "array", items: chatAttachmentSchema },
  },
} as const;

export const updateChatMessageRequestSchema = {
  type: "object",
  properties: { content: { type: "string" }, metadata: stringMap, attachments: { type: "array", items: chatAttachmentSchema } },
} as const;

export const addChatParticipantsRequestSchema = {
  type: "object",
  required: ["participants"],
  properties: { participants: { type: "array", items: chatParticipantSchema } },
} as const;

export const sendTypingNotificationRequestSchema = {
  type: "object",
  properties: { senderDisplayName: { type: "string" } },
} as const;

export const sendReadReceiptRequestSchema = {
  type: "object",
  required: ["chatMessageId"],
  properties: { chatMessageId: { type: "string", minLength: 1, maxLength: 64 } },
} as const;

export const createIdentityRequestSchema = {
  type: "object",
  properties: {
    createTokenWithScopes: { type: "array", items: { type: "string" } },
    expiresInMinutes: { type: "integer" },
  },
} as const;

export const issueAccessTokenRequestSchema = {
  type: "object",
  properties: {
    scopes: { type: "array", items: { type: "string" } },
    expiresInMinutes: { type: "integer" },
  },
} as const;
