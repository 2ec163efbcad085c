// Identity REST bodies (api-version 2023-10-01 and earlier).

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
}

export interface CommunicationIdentityAccessTokenResult {
  identity: CommunicationIdentity;
  accessToken?: CommunicationIdentityAccessToken;
}

/** Token lifetime bounds in minutes and the default. */
export const TOKEN_MIN_MINUTES = 60;
export const TOKEN_MAX_MINUTES = 1440;
export const TOKEN_DEFAULT_MINUTES = 1440;
