// The api-versions Natter accepts, per API. Anything else gets the ACS "unsupported api-version" error.

/**
 * Chat REST api-versions and the @azure/communication-chat releases that send them: 1.0.x sends 2021-03-07,
 * 1.1.x–1.3.x 2021-09-07, 1.4.x 2023-11-07, 1.5.x 2024-03-07, 1.6.x 2025-03-15; the beta 1.6.0-beta.7 (with UI library
 * 1.28.0-beta.2) sends the preview 2024-06-05-preview, whose predecessor is 2024-03-15-preview. Response shapes follow the version of the request (see the chatVersionHas* functions):
 * older SDKs reject fields their models lack.
 */
export const CHAT_API_VERSIONS = [
  "2021-03-07",
  "2021-09-07",
  "2023-11-07",
  "2024-03-07",
  "2024-03-15-preview",
  "2024-06-05-preview",
  "2025-03-15",
] as const;
export type ChatApiVersion = (typeof CHAT_API_VERSIONS)[number];

/**
 * Identity REST api-versions: @azure/communication-identity 1.3.x sends 2023-10-01; 2025-06-30 (the current
 * stable one, sent by the newer SDKs) adds customId and GET /identities/{id}.
 */
export const IDENTITY_API_VERSIONS = [
  "2021-03-07",
  "2022-06-01",
  "2022-10-01",
  "2023-08-01",
  "2023-10-01",
  "2025-06-30",
] as const;
export type IdentityApiVersion = (typeof IDENTITY_API_VERSIONS)[number];

/** The api-version the realtime configuration call of Azure's signaling client uses. */
export const REALTIME_CONFIG_API_VERSION = "2024-09-01";

/** Identity versions with customId on create and GET /identities/{id} (id, customId, lastTokenIssuedAt). */
export function identityVersionHasCustomId(version: string): boolean {
  return version >= "2025-06-30";
}

/** Chat versions whose thread properties always carry a retention policy (`{"kind":"none"}` when none was set). */
export function chatVersionEchoesRetention(version: string): boolean {
  return version >= "2025-03-15";
}

/** The chat previews Natter serves: they add message attachments and chat images (POST .../images). */
const CHAT_PREVIEWS: readonly string[] = ["2024-03-15-preview", "2024-06-05-preview"];

/**
 * Versions whose chat models carry thread metadata, retention policy and participant metadata: 2025-03-15 on,
 * and both previews (their swaggers define the three, as 2025-03-15 does later).
 */
export function chatVersionHasThreadMetadata(version: string): boolean {
  return version >= "2025-03-15" || CHAT_PREVIEWS.includes(version);
}

/**
 * Versions with message attachments (`attachments` on send, update and in ChatMessageContent) and the image
 * operations (upload, view, delete under /chat/threads/{id}/images): the two previews only. No stable version
 * defines them, so other versions never see an attachment and get UnsupportedApiVersion for the image paths.
 */
export function chatVersionHasAttachments(version: string): boolean {
  return CHAT_PREVIEWS.includes(version);
}

/**
 * Versions whose ChatMessage has `policyViolation` and ChatThreadProperties has `messagingPolicy`
 * (2024-06-05-preview only). Both are optional; Natter moderates nothing and has no text-only threads, so it
 * never sends them, and a version without them never could.
 */
export function chatVersionHasMessagingPolicy(version: string): boolean {
  return version === "2024-06-05-preview";
}

/**
 * Versions whose CommunicationIdentifierModel has `kind` (chat 2023-11-07 on). Before it, a model carries only
 * rawId and one nested object, and @azure/communication-common 1.x rejects a model with any other property.
 */
export function chatVersionHasIdentifierKind(version: string): boolean {
  return version >= "2023-11-07";
}

/** Versions whose CommunicationIdentifierModel has `microsoftTeamsApp` (chat 2024-03-07 on). */
export function chatVersionHasTeamsAppIdentifier(version: string): boolean {
  return version >= "2024-03-07";
}

/** Versions with message metadata and a typing-notification body (chat 2021-09-07 on; 2021-03-07 has neither). */
export function chatVersionHasMessageMetadata(version: string): boolean {
  return version >= "2021-09-07";
}

/**
 * Natter's extensions beyond ACS (unread counts, mentions, search, messages around one; docs/extensions.md). They
 * live under the path prefix `/natter/` and accept only this api-version, so no response at an ACS api-version
 * ever changes.
 */
export const NATTER_EXTENSIONS_API_VERSION = "2026-12-01-natter";
/** Path prefix of every extension route. */
export const NATTER_EXTENSIONS_PREFIX = "/natter";
