// The chat conformance suite with Natter's own SDK, @natter/communication-chat (api-version 2025-03-15).
import { NATTER_CHAT } from "./clients.js";
import { defineChatConformance } from "./chat-suite.js";

defineChatConformance(NATTER_CHAT);
