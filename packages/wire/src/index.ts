// @natter/wire: the ACS Chat and Identity REST shapes as they travel on the wire (ACS spelling),
// the api-versions Natter speaks, and the error body. No runtime dependencies.
export * from "./api-versions.js";
export * from "./identifiers.js";
export * from "./chat.js";
export * from "./identity.js";
export * from "./errors.js";
export * from "./schemas.js";
export * from "./unread.js";
export * from "./search.js";
