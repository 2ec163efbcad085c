// Natter's SDK against a token without a chat scope: the server closes the realtime socket with 4403
// (docs/realtime-protocol.md), and startRealtimeNotifications rejects with a message that names the scopes
// rather than retrying a credential that would be refused again.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestNatter, createTestUser } from "@natter/server/testing";
import type { TestNatter } from "@natter/server/testing";
import { ChatClient } from "@natter/communication-chat";
import { AzureCommunicationTokenCredential } from "@natter/communication-common";

let natter: TestNatter;
before(async () => {
  natter = await startTestNatter();
});
after(async () => {
  await natter?.stop();
});

describe("Natter SDK realtime and token scopes", () => {
  it("a voip-only token: startRealtimeNotifications rejects with the 4403 reason; a chat.join.limited token connects", async () => {
    const voip = await createTestUser(natter, ["voip"]);
    const refused = new ChatClient(natter.endpoint, new AzureCommunicationTokenCredential(voip.token));
    await assert.rejects(refused.startRealtimeNotifications(), /scopes do not allow chat \(4403\)/);
    await refused.stopRealtimeNotifications();
    const limited = await createTestUser(natter, ["chat.join.limited"]);
    const served = new ChatClient(natter.endpoint, new AzureCommunicationTokenCredential(limited.token));
    await served.startRealtimeNotifications();
    await served.stopRealtimeNotifications();
  });
});
