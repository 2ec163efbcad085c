// The HMAC-SHA256 signer produces exactly the headers Azure's access-key policy produces for the same request.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createCommunicationAccessKeyCredentialPolicy } from "@azure/communication-common";
import { AzureKeyCredential as AzureCoreKeyCredential } from "@azure/core-auth";
import { createHttpHeaders, createPipelineRequest } from "@azure/core-rest-pipeline";
import { AzureKeyCredential, accessKeyStringToSign, signRequestWithAccessKey } from "./index.js";
import { sha256Base64 } from "./encoding.js";

const KEY = btoa("a very secret access key, 32+ bytes long!!");

async function azureHeaders(method: string, url: string, body?: string): Promise<Record<string, string>> {
  const policy = createCommunicationAccessKeyCredentialPolicy(new AzureCoreKeyCredential(KEY));
  const request = createPipelineRequest({ url, method: method as "POST", body });
  let seen: Record<string, string> = {};
  await policy.sendRequest(request, async (req) => {
    seen = req.headers.toJSON();
    return { request: req, status: 200, headers: createHttpHeaders() };
  });
  return seen;
}

const CASES: Array<[string, string, string | undefined]> = [
  ["POST", "https://localhost:8445/identities?api-version=2023-10-01", undefined],
  ["post", "https://localhost:8445/identities?api-version=2023-10-01", '{"createTokenWithScopes":["chat"]}'],
  ["POST", `https://host.example/identities/${encodeURIComponent("8:acs:r_u")}/:issueAccessToken?api-version=2023-10-01`, '{"scopes":["chat","voip"],"expiresInMinutes":60}'],
  ["DELETE", "https://host.example:443/identities/8%3Aacs%3Ar_u?api-version=2023-10-01", undefined],
  ["GET", "http://127.0.0.1:9000/x?b=2&a=1&c=%3A%20+", undefined],
  ["POST", "https://host/x", "héllo ✓ unicode"],
];

test("signature headers equal Azure's for the same request and time", async () => {
  for (const [method, url, body] of CASES) {
    const theirs = await azureHeaders(method, url, body);
    const ours = await signRequestWithAccessKey(new AzureKeyCredential(KEY), { method, url, body }, new Date(theirs["x-ms-date"]));
    assert.equal(ours["x-ms-date"], theirs["x-ms-date"]);
    assert.equal(ours["x-ms-content-sha256"], theirs["x-ms-content-sha256"], `${method} ${url}`);
    assert.equal(ours.Authorization, theirs["authorization"], `${method} ${url}`);
    assert.equal(ours.Host, theirs["host"]);
  }
});

test("empty body hashes to the documented constant and the string-to-sign has the contract's form", async () => {
  assert.equal(await sha256Base64(""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  assert.equal(
    accessKeyStringToSign("post", "https://localhost:8445/identities?api-version=2023-10-01", "Sat, 28 Nov 2026 04:02:33 GMT", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
    "POST\n/identities?api-version=2023-10-01\nSat, 28 Nov 2026 04:02:33 GMT;localhost:8445;47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
  );
});

test("a rotated key is used for the next signature", async () => {
  const credential = new AzureKeyCredential(KEY);
  const now = new Date();
  const a = await signRequestWithAccessKey(credential, { method: "GET", url: "https://h/x" }, now);
  credential.update(btoa("another key"));
  const b = await signRequestWithAccessKey(credential, { method: "GET", url: "https://h/x" }, now);
  assert.notEqual(a.Authorization, b.Authorization);
});
