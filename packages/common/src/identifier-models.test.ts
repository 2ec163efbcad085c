// Identifiers: raw-id parsing/formatting and wire (de)serialisation agree with @azure/communication-common.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as azure from "@azure/communication-common";
import type { CommunicationIdentifier, SerializedCommunicationIdentifier } from "./index.js";
import {
  createIdentifierFromRawId,
  deserializeCommunicationIdentifier,
  getIdentifierKind,
  getIdentifierRawId,
  isCommunicationUserIdentifier,
  isMicrosoftTeamsAppIdentifier,
  isMicrosoftTeamsUserIdentifier,
  isPhoneNumberIdentifier,
  isTeamsExtensionUserIdentifier,
  isUnknownIdentifier,
  serializeCommunicationIdentifier,
} from "./index.js";

const RAW_IDS = [
  "8:acs:2dee53b4-368b-45b4-ab52-8493fb117652_00000005-14a2-493b-8a72-5a3a0d000081",
  "8:acs:resource_tenant_user",
  "8:gcch-acs:r_u",
  "8:dod-acs:r_t_u",
  "8:spool:abc",
  "4:+14255550123",
  "4:+14255550123_asserted",
  "4:anonymous",
  "4:",
  "8:orgid:45ab2481-1c1c-4005-be24-0ffb879b1130",
  "8:dod:abc",
  "8:gcch:abc",
  "8:teamsvisitor:visitor1",
  "28:orgid:app1",
  "28:dod:app1",
  "28:gcch:app1",
  "28:ag08-global:app1",
  "48:something",
  "8:acs:",
  "a:b:c:d",
  "",
  "plain",
];

const IDENTIFIERS: CommunicationIdentifier[] = [
  { communicationUserId: "8:acs:r_u" },
  { phoneNumber: "+14255550123" },
  { phoneNumber: "+14255550123", rawId: "4:custom" },
  { phoneNumber: "+1425", isAnonymous: true, assertedId: "x" },
  { microsoftTeamsUserId: "abc" },
  { microsoftTeamsUserId: "abc", isAnonymous: true },
  { microsoftTeamsUserId: "abc", cloud: "dod" },
  { microsoftTeamsUserId: "abc", cloud: "gcch", rawId: "8:gcch:other" },
  { teamsAppId: "app" },
  { teamsAppId: "app", cloud: "gcch" },
  { userId: "u", tenantId: "t", resourceId: "r" },
  { userId: "u", tenantId: "t", resourceId: "r", cloud: "dod" },
  { id: "48:unknown" },
];

test("createIdentifierFromRawId matches Azure for every raw-id format", () => {
  for (const rawId of RAW_IDS) {
    assert.deepStrictEqual(createIdentifierFromRawId(rawId), azure.createIdentifierFromRawId(rawId), rawId);
  }
});

test("getIdentifierRawId and getIdentifierKind match Azure", () => {
  for (const id of IDENTIFIERS) {
    assert.equal(getIdentifierRawId(id), azure.getIdentifierRawId(id as azure.CommunicationIdentifier), JSON.stringify(id));
    assert.deepStrictEqual(getIdentifierKind(id), azure.getIdentifierKind(id as azure.CommunicationIdentifier));
  }
});

test("raw ids round-trip through createIdentifierFromRawId and getIdentifierRawId", () => {
  for (const rawId of RAW_IDS.filter((r) => r !== "4:+14255550123_asserted")) {
    assert.equal(getIdentifierRawId(createIdentifierFromRawId(rawId)), rawId);
  }
});

test("type guards agree with Azure", () => {
  const guards = [
    [isCommunicationUserIdentifier, azure.isCommunicationUserIdentifier],
    [isPhoneNumberIdentifier, azure.isPhoneNumberIdentifier],
    [isMicrosoftTeamsUserIdentifier, azure.isMicrosoftTeamsUserIdentifier],
    [isMicrosoftTeamsAppIdentifier, azure.isMicrosoftTeamsAppIdentifier],
    [isTeamsExtensionUserIdentifier, azure.isTeamsExtensionUserIdentifier],
    [isUnknownIdentifier, azure.isUnknownIdentifier],
  ] as const;
  for (const id of IDENTIFIERS) {
    for (const [ours, theirs] of guards) {
      assert.equal(ours(id), (theirs as (i: unknown) => boolean)(id));
    }
  }
});

test("serializeCommunicationIdentifier matches Azure", () => {
  for (const id of IDENTIFIERS) {
    assert.deepStrictEqual(serializeCommunicationIdentifier(id), azure.serializeCommunicationIdentifier(id as azure.CommunicationIdentifier));
  }
});

test("deserializeCommunicationIdentifier matches Azure, including its errors", () => {
  const models: SerializedCommunicationIdentifier[] = [
    ...IDENTIFIERS.map((id) => serializeCommunicationIdentifier(id)),
    { kind: "communicationUser", rawId: "8:acs:x", communicationUser: { id: "8:acs:x" } },
    { rawId: "8:acs:x" },
    { kind: "unknown", rawId: "zzz" },
    { kind: "phoneNumber", rawId: "zzz" },
    { rawId: "8:orgid:a", microsoftTeamsUser: { userId: "a" } },
    { microsoftTeamsApp: { appId: "a", cloud: "public" } },
    { phoneNumber: { value: "+1" } },
    { rawId: "x", communicationUser: { id: "x" }, phoneNumber: { value: "+1" } },
    {},
  ];
  for (const model of models) {
    let theirs: unknown;
    let theirError: string | undefined;
    try {
      theirs = azure.deserializeCommunicationIdentifier(model as azure.SerializedCommunicationIdentifier);
    } catch (e) {
      theirError = (e as Error).message;
    }
    if (theirError !== undefined) {
      assert.throws(() => deserializeCommunicationIdentifier(model), { message: theirError }, JSON.stringify(model));
    } else {
      assert.deepStrictEqual(deserializeCommunicationIdentifier(model), theirs, JSON.stringify(model));
    }
  }
});
