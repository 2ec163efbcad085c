// Wire parity with @azure/communication-identity 1.3.1: the same calls produce the same requests
// (method, URL, content type, body, verifiable HMAC signature) and the same results. No network.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CommunicationIdentityClient as AzureIdentityClient } from "@azure/communication-identity";
import { AzureKeyCredential as AzureCoreKeyCredential } from "@azure/core-auth";
import { createHttpHeaders } from "@azure/core-rest-pipeline";
import type { PipelineRequest } from "@azure/core-rest-pipeline";
import { AzureKeyCredential, signRequestWithAccessKey } from "@natter/communication-common";
import { CommunicationIdentityClient } from "./index.js";

const KEY = btoa("identity access key for tests, long enough");
const CONNECTION_STRING = `endpoint=https://natter.test/;accesskey=${KEY}`;
const USER = "8:acs:res_00000005-14a2-493b-8a72-5a3a0d000081";
const EXPIRES = "2026-11-29T11:44:23.4935180+00:00";

interface Sent {
  method: string;
  url: string;
  contentType?: string;
  accept?: string;
  body?: string;
  signatureValid: boolean;
  contentHash?: string;
}

function respond(method: string, url: string, body: string | undefined): { status: number; body?: unknown } {
  const path = new URL(url).pathname;
  if (method === "POST" && path === "/identities") {
    const req = body ? JSON.parse(body) : {};
    return {
      status: 201,
      body: req.createTokenWithScopes
        ? { identity: { id: USER }, accessToken: { token: "jwt-token", expiresOn: EXPIRES } }
        : { identity: { id: USER } },
    };
  }
  if (method === "POST" && path.endsWith("/:issueAccessToken")) return { status: 200, body: { token: "jwt-2", expiresOn: EXPIRES } };
  if (method === "POST" && path.endsWith("/:revokeAccessTokens")) return { status: 204 };
  if (method === "DELETE") return { status: 204 };
  if (method === "POST" && path === "/teamsUser/:exchangeAccessToken") {
    return { status: 400, body: { error: { code: "NotSupported", message: "Teams users are not supported." } } };
  }
  return { status: 404, body: { error: { code: "NotFound", message: "no route" } } };
}

async function verify(method: string, url: string, headers: (name: string) => string | null | undefined, body?: string): Promise<boolean> {
  const date = headers("x-ms-date");
  if (!date) return false;
  const expected = await signRequestWithAccessKey(new AzureKeyCredential(KEY), { method, url, body }, new Date(date));
  return expected.Authorization === headers("authorization") && expected["x-ms-content-sha256"] === headers("x-ms-content-sha256");
}

function azureClient(log: Sent[]): AzureIdentityClient {
  return new AzureIdentityClient(CONNECTION_STRING, {
    retryOptions: { maxRetries: 0 },
    httpClient: {
      sendRequest: async (req: PipelineRequest) => {
        const body = typeof req.body === "string" && req.body ? req.body : undefined;
        const get = (n: string) => req.headers.get(n);
        log.push({
          method: req.method,
          url: req.url,
          contentType: get("content-type"),
          accept: get("accept"),
          body,
          signatureValid: await verify(req.method, req.url, get, body),
          contentHash: get("x-ms-content-sha256"),
        });
        const reply = respond(req.method, req.url, body);
        return {
          request: req,
          status: reply.status,
          headers: createHttpHeaders(reply.body === undefined ? {} : { "content-type": "application/json; charset=utf-8" }),
          bodyAsText: reply.body === undefined ? "" : JSON.stringify(reply.body),
        };
      },
    },
  });
}

function ourClient(log: Sent[], viaKey = false): CommunicationIdentityClient {
  const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    const headers = new Headers(init?.headers);
    const method = init?.method ?? "GET";
    const body = init?.body ? String(init.body) : undefined;
    const get = (n: string) => headers.get(n);
    log.push({
      method,
      url,
      contentType: get("content-type") ?? undefined,
      accept: get("accept") ?? undefined,
      body,
      signatureValid: await verify(method, url, get, body),
      contentHash: get("x-ms-content-sha256") ?? undefined,
    });
    const reply = respond(method, url, body);
    return new Response(reply.body === undefined ? null : JSON.stringify(reply.body), {
      status: reply.status,
      headers: reply.body === undefined ? {} : { "content-type": "application/json; charset=utf-8" },
    });
  }) as typeof fetch;
  const options = { fetch: fakeFetch, retryOptions: { maxRetries: 0 } };
  return viaKey
    ? new CommunicationIdentityClient("https://natter.test/", new AzureKeyCredential(KEY), options)
    : new CommunicationIdentityClient(CONNECTION_STRING, options);
}

type Scenario = (c: CommunicationIdentityClient) => Promise<unknown>;
const SCENARIOS: Record<string, Scenario> = {
  createUser: (c) => c.createUser(),
  createUserAndToken: (c) => c.createUserAndToken(["chat", "voip"]),
  createUserAndTokenWithExpiry: (c) => c.createUserAndToken(["chat.join"], { tokenExpiresInMinutes: 60 }),
  getToken: (c) => c.getToken({ communicationUserId: USER }, ["chat"]),
  getTokenWithExpiry: (c) => c.getToken({ communicationUserId: USER }, ["chat", "voip"], { tokenExpiresInMinutes: 120 }),
  revokeTokens: (c) => c.revokeTokens({ communicationUserId: USER }),
  deleteUser: (c) => c.deleteUser({ communicationUserId: USER }),
};

for (const [name, scenario] of Object.entries(SCENARIOS)) {
  test(`wire parity with @azure/communication-identity 1.3.1: ${name}`, async () => {
    const azureLog: Sent[] = [];
    const ourLog: Sent[] = [];
    const theirs = await scenario(azureClient(azureLog) as unknown as CommunicationIdentityClient);
    const ours = await scenario(ourClient(ourLog));
    assert.equal(azureLog.length, 1);
    assert.ok(azureLog[0].signatureValid, "Azure's signature verifies with our signer");
    assert.ok(ourLog[0].signatureValid, "our signature verifies");
    assert.deepStrictEqual(ourLog, azureLog);
    assert.deepStrictEqual(ours, theirs);
    const keyLog: Sent[] = [];
    assert.deepStrictEqual(await scenario(ourClient(keyLog, true)), theirs);
    assert.deepStrictEqual(keyLog, azureLog);
  });
}

test("expiresOn is a Date", async () => {
  const token = await ourClient([]).createUserAndToken(["chat"]);
  assert.ok(token.expiresOn instanceof Date);
  assert.equal(token.expiresOn.toISOString(), "2026-11-29T11:44:23.493Z");
  assert.deepEqual(token.user, { communicationUserId: USER });
});

test("getTokenForTeamsUser sends the exchange request and surfaces the service's error like Azure", async () => {
  const options = { teamsUserAadToken: "aad", clientId: "app", userObjectId: "oid" };
  const azureLog: Sent[] = [];
  const ourLog: Sent[] = [];
  type E = { name: string; statusCode: number; code: string; message: string };
  const theirs = await azureClient(azureLog).getTokenForTeamsUser(options).then(() => undefined, (e: unknown) => e as E);
  const ours = await ourClient(ourLog).getTokenForTeamsUser(options).then(() => undefined, (e: unknown) => e as E);
  assert.ok(theirs && ours);
  assert.deepStrictEqual(ourLog, azureLog);
  assert.deepEqual(
    { name: ours.name, statusCode: ours.statusCode, code: ours.code, message: ours.message },
    { name: theirs.name, statusCode: theirs.statusCode, code: theirs.code, message: theirs.message },
  );
});

test("constructor argument errors match Azure's", () => {
  for (const args of [
    ["nonsense"],
    ["endpoint=https://natter.test/path;accesskey=abc"],
    ["https://natter.test/sub", new AzureKeyCredential("abc")],
  ] as const) {
    const theirs = (() => {
      try {
        new AzureIdentityClient(args[0], (args[1] ? new AzureCoreKeyCredential(args[1].key) : undefined) as AzureCoreKeyCredential);
        return "ok";
      } catch (e) {
        return (e as Error).message;
      }
    })();
    assert.throws(() => new CommunicationIdentityClient(args[0], args[1] as AzureKeyCredential), { message: theirs });
  }
});

test("http:// endpoints need allowInsecureConnection", async () => {
  const client = new CommunicationIdentityClient(`endpoint=http://127.0.0.1:1/;accesskey=${KEY}`, { retryOptions: { maxRetries: 0 } });
  await assert.rejects(client.createUser(), /allowInsecureConnection is false/);
});
