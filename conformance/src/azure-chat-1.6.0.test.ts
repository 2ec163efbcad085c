// The chat conformance suite with @azure/communication-chat 1.6.0 (api-version 2025-03-15).
import { AZURE_CHAT_160 } from "./clients.js";
import { defineChatConformance } from "./chat-suite.js";

defineChatConformance(AZURE_CHAT_160);
