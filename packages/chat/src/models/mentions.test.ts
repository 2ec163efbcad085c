// ChatMessage.mentions: the mention tags of html content, as the service stores them (and Azure's UI library writes them).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mentionedRawIds, mentionsOf } from "./mentions.js";

test("mention ids in order, once each, with any quoting and entities", () => {
  assert.deepEqual(
    mentionedRawIds(`<p><msft-mention id="8:acs:a">A</msft-mention> <MSFT-MENTION ID='8:acs:b'>B</MSFT-MENTION> <msft-mention class="x" id=8:acs:c>C</msft-mention> <msft-mention id="8&#58;acs&#x3a;a">A</msft-mention></p>`),
    ["8:acs:a", "8:acs:b", "8:acs:c"],
  );
  assert.deepEqual(mentionedRawIds("no mentions <b>here</b>"), []);
  assert.deepEqual(mentionedRawIds(`<msft-mention id="">x</msft-mention><msft-mention>y</msft-mention>`), []);
  assert.deepEqual(mentionsOf(`<msft-mention id="8:acs:res_u">U</msft-mention>`), [{ kind: "communicationUser", communicationUserId: "8:acs:res_u" }]);
  assert.deepEqual(mentionsOf(`<msft-mention id="4:+15550001">P</msft-mention>`)[0]?.kind, "phoneNumber");
});
