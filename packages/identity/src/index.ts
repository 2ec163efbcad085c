// @natter/communication-identity: users and access tokens, API-compatible with @azure/communication-identity 1.3.
export * from "./models.js";
export { CommunicationIdentityClient, IDENTITY_DEFAULT_API_VERSION } from "./communication-identity-client.js";
