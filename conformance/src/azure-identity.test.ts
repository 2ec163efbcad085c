// The identity conformance suite with @azure/communication-identity 1.3.1 (api-version 2023-10-01).
import { AZURE_CHAT_160, AZURE_IDENTITY_131 } from "./clients.js";
import { defineIdentityConformance } from "./identity-suite.js";

defineIdentityConformance(AZURE_IDENTITY_131, AZURE_CHAT_160);
