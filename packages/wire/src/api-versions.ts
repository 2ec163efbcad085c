// The api-versions Natter accepts, per API. Anything else gets the ACS "unsupported api-version" error.

/**
 * Chat REST api-versions and the @azure/communication-chat releases that send them: 1.0.x sends 2021-03-07,
 * 1.1.x–1.3.x 2021-09-07, 1.4.x 2023-11-07, 1.5.x 2024-03-07, 1.6.x 2025-03-15. Response shapes follow the
 * version of the request (see the chatVersionHas* functions): older SDKs reject fields their models lack.
 */
export const CHAT_API_VERSIONS = ["2021-03-07", "2021-09-07", "2023-11-07", "2024-03-07", "2025-03-15"] as const;
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

/** Versions whose chat models carry thread metadata, retention policy and participant metadata. */
export function chatVersionHasThreadMetadata(version: string): boolean {
  return version >= "2025-03-15";
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
