// The identity conformance suite with Natter's own SDK, @natter/communication-identity, and our chat client.
import { NATTER_CHAT, NATTER_IDENTITY } from "./clients.js";
import { defineIdentityConformance } from "./identity-suite.js";

defineIdentityConformance(NATTER_IDENTITY, NATTER_CHAT);
