// Connection strings and client-argument rules agree with @azure/communication-common.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as azure from "@azure/communication-common";
import { AzureKeyCredential, isKeyCredential, parseClientArguments, parseConnectionString } from "./index.js";

test("parseConnectionString splits endpoint and access key like Azure", () => {
  for (const cs of [
    "endpoint=https://my-resource.communication.azure.com/;accesskey=c2VjcmV0",
    "Endpoint=https://localhost:8445/;AccessKey=a2V5PT0=",
    "endpoint=http://127.0.0.1:1234;accesskey=abc",
  ]) {
    const ours = parseConnectionString(cs);
    const theirs = azure.parseConnectionString(cs);
    assert.equal(ours.endpoint, theirs.endpoint);
    assert.equal(ours.credential.key, theirs.credential.key);
  }
  assert.throws(() => parseConnectionString("nonsense"), { message: "Invalid connection string nonsense" });
  assert.throws(() => azure.parseConnectionString("nonsense"), { message: "Invalid connection string nonsense" });
});

test("parseClientArguments validates the endpoint like Azure", () => {
  const cases: Array<[string, unknown]> = [
    ["endpoint=https://host/;accesskey=abc", undefined],
    ["endpoint=https://host/path;accesskey=abc", undefined],
    ["https://host:8443/", new AzureKeyCredential("abc")],
    ["https://host/sub", new AzureKeyCredential("abc")],
    ["ftp://host/", new AzureKeyCredential("abc")],
  ];
  for (const [first, second] of cases) {
    let theirs: { url?: string; error?: string };
    try {
      theirs = { url: azure.parseClientArguments(first, second).url };
    } catch (e) {
      theirs = { error: (e as Error).message };
    }
    let ours: { url?: string; error?: string };
    try {
      ours = { url: parseClientArguments(first, second).url };
    } catch (e) {
      ours = { error: (e as Error).message };
    }
    assert.deepStrictEqual(ours, theirs, `${first}`);
  }
});

test("AzureKeyCredential rotates and is recognised as a key credential", () => {
  const credential = new AzureKeyCredential("a");
  credential.update("b");
  assert.equal(credential.key, "b");
  assert.ok(isKeyCredential(credential));
  assert.ok(azure.isKeyCredential(credential));
  assert.ok(!isKeyCredential({ key: "x", getToken: () => undefined }));
  assert.throws(() => new AzureKeyCredential(""));
});
