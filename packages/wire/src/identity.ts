// Identity REST bodies (api-versions up to 2025-06-30; fields marked 2025-06-30 exist only from that version).

export type CommunicationIdentityTokenScope =
  | "chat"
  | "voip"
  | "chat.join"
  | "chat.join.limited"
  | "voip.join";

export const TOKEN_SCOPES: readonly CommunicationIdentityTokenScope[] = [
  "chat",
  "voip",
  "chat.join",
  "chat.join.limited",
  "voip.join",
];

/** POST /identities body (optional). */
export interface CommunicationIdentityCreateRequest {
  /** 2025-06-30: the caller's own key; creating again with the same customId returns the same identity. */
  customId?: string;
  createTokenWithScopes?: CommunicationIdentityTokenScope[];
  expiresInMinutes?: number;
}

/** POST /identities/{id}/:issueAccessToken body. */
export interface CommunicationIdentityAccessTokenRequest {
  scopes: CommunicationIdentityTokenScope[];
  expiresInMinutes?: number;
}

export interface CommunicationIdentityAccessToken {
  token: string;
  /** RFC 3339 date-time. */
  expiresOn: string;
}

export interface CommunicationIdentity {
  id: string;
  /** 2025-06-30: present when the identity was created with one. */
  customId?: string;
  /** 2025-06-30: RFC 3339 date-time of the last token issued for the identity; absent if none was. */
  lastTokenIssuedAt?: string;
}

/** Longest customId Natter accepts (ACS documents no limit; a bound keeps the unique index small). */
export const CUSTOM_ID_MAX_LENGTH = 256;

export interface CommunicationIdentityAccessTokenResult {
  identity: CommunicationIdentity;
  accessToken?: CommunicationIdentityAccessToken;
}

/** Token lifetime bounds in minutes and the default. */
export const TOKEN_MIN_MINUTES = 60;
export const TOKEN_MAX_MINUTES = 1440;
export const TOKEN_DEFAULT_MINUTES = 1440;
