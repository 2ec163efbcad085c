// The chat conformance suite with @azure/communication-chat 1.5.4 (api-version 2024-03-07).
import { AZURE_CHAT_154 } from "./clients.js";
import { defineChatConformance } from "./chat-suite.js";

defineChatConformance(AZURE_CHAT_154);
