// Message attachments in Trouter notifications (issue #21 item 4): Azure's signaling client (the one chat SDK
// 1.6.0-beta.7 bundles) parses `attachments` as a JSON string and resolves each URL against its endpoint with its
// own api-version, so a live message shows its images as a listed one does.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { MessageRecord } from "../../store/store.js";
import { toTrouterPayload } from "./payloads.js";

const message = (body: MessageRecord["body"]): MessageRecord => ({
  threadId: "19:t@thread.v2", id: "1700000000000", sequence: 3, type: "html", body, sender: "8:acs:r_a",
  senderDisplayName: "Ann", createdAt: 1_700_000_000_000, editedAt: null, deletedAt: null, version: 1_700_000_000_000, metadata: null,
});

describe("trouter payloads: attachments", () => {
  test("a received and an edited message carry their images with view URLs relative to the endpoint", () => {
    const body = { message: '<img id="abc">', attachments: [{ id: "abc", type: "image" as const, name: "cat.png" }, { id: "def", type: "image" as const, name: null }] };
    for (const type of ["chatMessageReceived", "chatMessageEdited"] as const) {
      const payload = toTrouterPayload({ type, threadId: "19:t@thread.v2", at: 5, actor: "8:acs:r_a", message: message(body) }, "8:acs:r_b");
      const parsed = JSON.parse(payload.attachments as string) as Record<string, string>[];
      const base = "/chat/threads/19%3At%40thread.v2/images";
      assert.deepEqual(parsed, [
        { id: "abc", attachmentType: "image", name: "cat.png", url: `${base}/abc/view/original`, previewUrl: `${base}/abc/view/small` },
        { id: "def", attachmentType: "image", url: `${base}/def/view/original`, previewUrl: `${base}/def/view/small` },
      ]);
      // What the signaling client does with them: resolve on its endpoint, set its api-version.
      const url = new URL(parsed[0].url, "https://natter.example:8443/");
      url.searchParams.set("api-version", "2024-06-05-preview");
      assert.equal(url.toString(), `https://natter.example:8443${base}/abc/view/original?api-version=2024-06-05-preview`);
    }
  });

  test("a message without attachments carries an empty list", () => {
    const payload = toTrouterPayload({ type: "chatMessageReceived", threadId: "19:t@thread.v2", at: 5, actor: "8:acs:r_a", message: message({ message: "hi" }) }, "8:acs:r_b");
    assert.equal(payload.attachments, "[]");
  });
});
