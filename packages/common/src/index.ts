// @natter/communication-common: identifiers, user token credential, access-key signing, connection strings,
// and the HTTP/paging/error plumbing shared by Natter's SDK clients. Isomorphic; no runtime dependencies.
export * from "./identifier-models.js";
export * from "./identifier-serializer.js";
export * from "./abort.js";
export * from "./token-credential.js";
export * from "./key-credential.js";
export * from "./connection-string.js";
export * from "./access-key-signer.js";
export * from "./rest-error.js";
export * from "./http-pipeline.js";
export * from "./paging.js";
export { generateUuid } from "./encoding.js";
