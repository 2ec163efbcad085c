// CommunicationIdentityClient: users and user access tokens over the ACS Identity REST API
// (api-version 2023-10-01), authenticated with an HMAC-signed access key or an Entra token credential.
import type {
  AbortSignalLike,
  AuthorizableRequest,
  CommunicationUserIdentifier,
  KeyCredential,
  OperationOptions,
  TokenCredential,
} from "@natter/communication-common";
import {
  HttpPipeline,
  isKeyCredential,
  isTokenCredential,
  parseClientArguments,
  signRequestWithAccessKey,
} from "@natter/communication-common";
import type {
  CommunicationIdentityAccessToken,
  CommunicationIdentityAccessTokenRequest,
  CommunicationIdentityAccessTokenResult,
  CommunicationIdentityCreateRequest,
} from "@natter/wire";
import type {
  CommunicationAccessToken,
  CommunicationIdentityClientOptions,
  CommunicationUserToken,
  CreateUserAndTokenOptions,
  GetTokenForTeamsUserOptions,
  GetTokenOptions,
  TokenScope,
} from "./models.js";

/** The identity api-version this client speaks by default (that of @azure/communication-identity 1.3.1). */
export const IDENTITY_DEFAULT_API_VERSION = "2023-10-01";
const SDK_VERSION = "0.1.0";
const ENTRA_SCOPE = "https://communication.azure.com//.default";

const isOptions = (value: unknown): value is CommunicationIdentityClientOptions =>
  !!value && typeof value === "object" && !isKeyCredential(value) && !isTokenCredential(value);

const toAccessToken = (wire: CommunicationIdentityAccessToken | undefined): CommunicationAccessToken => ({
  token: wire?.token as string,
  expiresOn: new Date(wire?.expiresOn as string),
});

/** Client for creating and deleting users and issuing and revoking their access tokens. */
export class CommunicationIdentityClient {
  private readonly endpoint: string;
  private readonly apiVersion: string;
  private readonly pipeline: HttpPipeline;

  /**
   * Creates a client from a connection string.
   * @param connectionString - `endpoint=https://host/;accesskey=<base64>`.
   * @param options - Client options.
   */
  constructor(connectionString: string, options?: CommunicationIdentityClientOptions);
  /**
   * Creates a client from an endpoint and an access key.
   * @param endpoint - Service origin, e.g. `https://localhost:8445/` (no path).
   * @param credential - The access key, e.g. an AzureKeyCredential.
   * @param options - Client options.
   */
  constructor(endpoint: string, credential: KeyCredential, options?: CommunicationIdentityClientOptions);
  /**
   * Creates a client from an endpoint and an Entra ID token credential.
   * @param endpoint - Service origin (no path).
   * @param credential - The token credential.
   * @param options - Client options.
   */
  constructor(endpoint: string, credential: TokenCredential, options?: CommunicationIdentityClientOptions);
  constructor(
    connectionStringOrEndpoint: string,
    credentialOrOptions?: KeyCredential | TokenCredential | CommunicationIdentityClientOptions,
    maybeOptions: CommunicationIdentityClientOptions = {},
  ) {
    const { url, credential } = parseClientArguments(connectionStringOrEndpoint, credentialOrOptions);
    const options = isOptions(credentialOrOptions) ? credentialOrOptions : maybeOptions;
    this.endpoint = url.replace(/\/+$/, "");
    this.apiVersion = options.apiVersion ?? IDENTITY_DEFAULT_API_VERSION;
    const allowInsecure = options.allowInsecureConnection ?? false;
    this.pipeline = new HttpPipeline({
      ...options,
      sdkName: "communication-identity",
      sdkVersion: SDK_VERSION,
      authorize: async (request: AuthorizableRequest, abortSignal?: AbortSignalLike) => {
        if (!allowInsecure && new URL(request.url).protocol !== "https:") {
          throw new Error(`Cannot connect to ${request.url} while allowInsecureConnection is false.`);
        }
        if (isKeyCredential(credential)) {
          const signed = await signRequestWithAccessKey(credential, request);
          request.headers["x-ms-date"] = signed["x-ms-date"];
          request.headers["x-ms-content-sha256"] = signed["x-ms-content-sha256"];
          request.headers["Authorization"] = signed.Authorization;
        } else {
          const token = await credential.getToken([ENTRA_SCOPE], { abortSignal });
          if (!token) throw new Error("The token credential returned no token.");
          request.headers["Authorization"] = `Bearer ${token.token}`;
        }
      },
    });
  }

  /**
   * Issues an access token for an existing user. `POST /identities/{id}/:issueAccessToken` → 200.
   * @param user - The user.
   * @param scopes - Scopes of the token.
   * @param options - Token lifetime and operation options.
   */
  async getToken(
    user: CommunicationUserIdentifier,
    scopes: TokenScope[],
    options: GetTokenOptions = {},
  ): Promise<CommunicationAccessToken> {
    const body: CommunicationIdentityAccessTokenRequest = { scopes };
    if (options.tokenExpiresInMinutes !== undefined) body.expiresInMinutes = options.tokenExpiresInMinutes;
    const response = await this.pipeline.send(
      { method: "POST", url: this.url(`/identities/${encodeURIComponent(user.communicationUserId)}/:issueAccessToken`), body, expectedStatus: [200] },
      options,
    );
    return toAccessToken(response.parsedBody as CommunicationIdentityAccessToken);
  }

  /**
   * Revokes all access tokens of a user. `POST /identities/{id}/:revokeAccessTokens` → 204.
   * @param user - The user.
   * @param options - Operation options.
   */
  async revokeTokens(user: CommunicationUserIdentifier, options: OperationOptions = {}): Promise<void> {
    await this.pipeline.send(
      { method: "POST", url: this.url(`/identities/${encodeURIComponent(user.communicationUserId)}/:revokeAccessTokens`), expectedStatus: [204] },
      options,
    );
  }

  /**
   * Creates a user. `POST /identities` (no body) → 201.
   * @param options - Operation options.
   */
  async createUser(options: OperationOptions = {}): Promise<CommunicationUserIdentifier> {
    const response = await this.pipeline.send(
      { method: "POST", url: this.url("/identities"), expectedStatus: [201], contentTypeWithoutBody: true },
      options,
    );
    const result = response.parsedBody as CommunicationIdentityAccessTokenResult;
    return { communicationUserId: result.identity.id };
  }

  /**
   * Creates a user and a token for it in one call. `POST /identities` → 201.
   * @param scopes - Scopes of the token.
   * @param options - Token lifetime and operation options.
   */
  async createUserAndToken(scopes: TokenScope[], options: CreateUserAndTokenOptions = {}): Promise<CommunicationUserToken> {
    const body: CommunicationIdentityCreateRequest = { createTokenWithScopes: scopes };
    if (options.tokenExpiresInMinutes !== undefined) body.expiresInMinutes = options.tokenExpiresInMinutes;
    const response = await this.pipeline.send({ method: "POST", url: this.url("/identities"), body, expectedStatus: [201] }, options);
    const result = response.parsedBody as CommunicationIdentityAccessTokenResult;
    return { ...toAccessToken(result.accessToken), user: { communicationUserId: result.identity.id } };
  }

  /**
   * Deletes a user and revokes its tokens. `DELETE /identities/{id}` → 204.
   * @param user - The user.
   * @param options - Operation options.
   */
  async deleteUser(user: CommunicationUserIdentifier, options: OperationOptions = {}): Promise<void> {
    await this.pipeline.send(
      { method: "DELETE", url: this.url(`/identities/${encodeURIComponent(user.communicationUserId)}`), expectedStatus: [204] },
      options,
    );
  }

  /**
   * Exchanges an Entra ID token of a Teams user for an access token. `POST /teamsUser/:exchangeAccessToken`
   * → 200. Natter does not federate with Entra ID, so a Natter server answers this with an error; the call
   * is kept for API parity with Azure.
   * @param options - The Teams user's Entra token, client id and object id.
   */
  async getTokenForTeamsUser(options: GetTokenForTeamsUserOptions): Promise<CommunicationAccessToken> {
    const { teamsUserAadToken, clientId, userObjectId } = options;
    const response = await this.pipeline.send(
      {
        method: "POST",
        url: this.url("/teamsUser/:exchangeAccessToken"),
        body: { token: teamsUserAadToken, appId: clientId, userId: userObjectId },
        expectedStatus: [200],
      },
      options,
    );
    return toAccessToken(response.parsedBody as CommunicationIdentityAccessToken);
  }

  private url(path: string): string {
    return `${this.endpoint}${path}?api-version=${encodeURIComponent(this.apiVersion)}`;
  }
}
