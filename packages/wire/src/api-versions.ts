// The api-versions Natter accepts, per API. Anything else gets the ACS "unsupported api-version" error.

/** Chat REST api-versions: 1.5.4 of the Azure SDK sends 2024-03-07, 1.6.0 sends 2025-03-15. */
export const CHAT_API_VERSIONS = ["2021-09-07", "2023-11-07", "2024-03-07", "2025-03-15"] as const;
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
