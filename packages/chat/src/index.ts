// @natter/communication-chat: ChatClient and ChatThreadClient, API-compatible with @azure/communication-chat
// 1.5 plus the 1.6 additions, on fetch, with no runtime dependencies beyond Natter's common package.
export * from "./models/models.js";
export * from "./models/requests.js";
export * from "./models/options.js";
export * from "./models/events.js";
export * from "./models/search.js";
export { ChatClient } from "./chat-client.js";
export { ChatThreadClient } from "./chat-thread-client.js";
export { CHAT_DEFAULT_API_VERSION } from "./chat-rest-client.js";
export type { RealtimeTransport, RealtimeTransportContext, RealtimeTransportFactory } from "./realtime/realtime-transport.js";
export { setDefaultRealtimeTransport } from "./realtime/realtime-transport.js";
export type { PagedAsyncIterableIterator, PageSettings } from "@natter/communication-common";
