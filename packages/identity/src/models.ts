// Public option and result types of the identity client, mirroring @azure/communication-identity 1.3.
import type { CommonClientOptions, CommunicationUserIdentifier, OperationOptions } from "@natter/communication-common";
import type { CommunicationIdentityTokenScope } from "@natter/wire";

/** The scope of a user access token: "chat", "voip", "chat.join", "chat.join.limited" or "voip.join". */
export type TokenScope = CommunicationIdentityTokenScope;

/** An access token for a user. */
export interface CommunicationAccessToken {
  /** The access token (a JWT). */
  token: string;
  /** When the token expires. */
  expiresOn: Date;
}

/** An issued token and the user it was issued for. */
export interface CommunicationUserToken extends CommunicationAccessToken {
  /** The user the token was issued for. */
  user: CommunicationUserIdentifier;
}

/** Options of {@link CommunicationIdentityClient}. */
export interface CommunicationIdentityClientOptions extends CommonClientOptions {
  /** Identity REST api-version to send. Default "2023-10-01". */
  apiVersion?: string;
}

/** Options of `getToken`. */
export interface GetTokenOptions extends OperationOptions {
  /** Token lifetime in minutes, 60..1440 (validated by the service). Default 1440. */
  tokenExpiresInMinutes?: number;
}

/** Options of `createUserAndToken`. */
export interface CreateUserAndTokenOptions extends OperationOptions {
  /** Token lifetime in minutes, 60..1440 (validated by the service). Default 1440. */
  tokenExpiresInMinutes?: number;
}

/** Options of `getTokenForTeamsUser`. */
export interface GetTokenForTeamsUserOptions extends OperationOptions {
  /** Entra ID access token of a Teams user. */
  teamsUserAadToken: string;
  /** Client id of the Entra application, checked against the token's appId claim. */
  clientId: string;
  /** Object id of the Teams user, checked against the token's oid claim. */
  userObjectId: string;
}
