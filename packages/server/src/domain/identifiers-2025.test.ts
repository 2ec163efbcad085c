// Identifiers of the 2025-06-30 common model: raw id ↔ model both ways, as @azure/communication-common reads
// and writes them (createIdentifierFromRawId, getIdentifierRawId, serializeCommunicationIdentifier).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ChatError } from "./errors.js";
import { kindOfRawId, modelFromRawId, rawIdFromModel } from "./identifiers.js";

const RESOURCE = "2dee53b4-368b-45b4-ab52-8493fb117652";
const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const USER = "4a5ff3a2-0d16-4fe6-9c6a-0f2ea1b5f5d7";

describe("identifiers: 2025-06-30 common model", () => {
  it("a Teams extension user raw id (three '_' parts) is its own kind in each cloud; two parts stay an ACS user", () => {
    for (const [prefix, cloud] of [["acs", "public"], ["gcch-acs", "gcch"], ["dod-acs", "dod"]] as const) {
      const rawId = `8:${prefix}:${RESOURCE}_${TENANT}_${USER}`;
      assert.equal(kindOfRawId(rawId), "teamsExtensionUser");
      assert.deepEqual(modelFromRawId(rawId), { kind: "teamsExtensionUser", rawId, teamsExtensionUser: { userId: USER, tenantId: TENANT, resourceId: RESOURCE, cloud } });
      assert.equal(rawIdFromModel(modelFromRawId(rawId)), rawId);
    }
    const acsUser = `8:acs:${RESOURCE}_${USER}`;
    assert.deepEqual(modelFromRawId(acsUser), { kind: "communicationUser", rawId: acsUser, communicationUser: { id: acsUser } });
    assert.equal(kindOfRawId(`8:acs:${RESOURCE}_a_b_c`), "communicationUser", "four parts: common reads an ACS user");
  });

  it("phone numbers carry isAnonymous and assertedId (after the last '_')", () => {
    assert.deepEqual(modelFromRawId("4:+14255550123"), { kind: "phoneNumber", rawId: "4:+14255550123", phoneNumber: { value: "+14255550123", isAnonymous: false } });
    assert.deepEqual(modelFromRawId("4:+14255550123_abc123"), {
      kind: "phoneNumber", rawId: "4:+14255550123_abc123", phoneNumber: { value: "+14255550123", isAnonymous: false, assertedId: "abc123" },
    });
    assert.deepEqual(modelFromRawId("4:anonymous"), { kind: "phoneNumber", rawId: "4:anonymous", phoneNumber: { value: "anonymous", isAnonymous: true } });
    for (const rawId of ["4:+14255550123", "4:+14255550123_abc123", "4:anonymous"]) assert.equal(rawIdFromModel(modelFromRawId(rawId)), rawId);
  });

  it("a request model without rawId names the identifier from its nested model; contradictions and bad parts are 400", () => {
    assert.equal(rawIdFromModel({ teamsExtensionUser: { userId: USER, tenantId: TENANT, resourceId: RESOURCE } }), `8:acs:${RESOURCE}_${TENANT}_${USER}`);
    assert.equal(rawIdFromModel({ teamsExtensionUser: { userId: USER, tenantId: TENANT, resourceId: RESOURCE, cloud: "gcch" } }), `8:gcch-acs:${RESOURCE}_${TENANT}_${USER}`);
    assert.equal(rawIdFromModel({ phoneNumber: { value: "+14255550123", assertedId: "abc" } }), "4:+14255550123_abc");
    assert.equal(rawIdFromModel({ phoneNumber: { value: "anonymous", isAnonymous: true } }), "4:anonymous");
    const bad: unknown[] = [
      { rawId: `8:acs:${RESOURCE}_${TENANT}_other`, teamsExtensionUser: { userId: USER, tenantId: TENANT, resourceId: RESOURCE } },
      { teamsExtensionUser: { userId: USER, tenantId: TENANT, resourceId: RESOURCE, cloud: "constructor" } },
      { teamsExtensionUser: { userId: "a_b", tenantId: TENANT, resourceId: RESOURCE } },
      { teamsExtensionUser: { userId: USER, tenantId: 7, resourceId: RESOURCE } },
      { phoneNumber: { value: "+1425", assertedId: "a_b" } },
      { rawId: `8:acs:${RESOURCE}_${USER}`, communicationUser: { id: `8:acs:${RESOURCE}_${USER}` }, teamsExtensionUser: { userId: USER, tenantId: TENANT, resourceId: RESOURCE } },
    ];
    for (const model of bad) assert.throws(() => rawIdFromModel(model), (e: unknown) => e instanceof ChatError && e.status === 400, JSON.stringify(model));
  });
});
