// AzureCommunicationTokenCredential: static tokens, on-demand and proactive refresh, single-flight
// refreshing, dispose, and parity with Azure's credential on the same inputs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AzureCommunicationTokenCredential as AzureCredential } from "@azure/communication-common";
import { AzureCommunicationTokenCredential, parseToken } from "./index.js";
import { fakeJwt } from "./test-support.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test("parseToken reads exp (seconds) into expiresOnTimestamp (ms), like Azure", async () => {
  const token = fakeJwt(3600);
  const ours = parseToken(token);
  const theirs = await new AzureCredential(token).getToken();
  assert.deepStrictEqual(ours, { token: theirs.token, expiresOnTimestamp: theirs.expiresOnTimestamp });
  assert.throws(() => parseToken("not-a-jwt"), /Invalid token specified/);
  assert.throws(() => new AzureCommunicationTokenCredential("a.b.c"), /Invalid token specified/);
});

test("static token credential returns the token and refuses after dispose", async () => {
  const token = fakeJwt(3600);
  const credential = new AzureCommunicationTokenCredential(token);
  assert.equal((await credential.getToken()).token, token);
  credential.dispose();
  await assert.rejects(credential.getToken(), { message: "User credential is disposed" });
});

test("refresher is called on demand when there is no valid token, once for concurrent callers", async () => {
  let calls = 0;
  const credential = new AzureCommunicationTokenCredential({
    tokenRefresher: async () => {
      calls++;
      await sleep(20);
      return fakeJwt(3600);
    },
  });
  const results = await Promise.all([credential.getToken(), credential.getToken(), credential.getToken()]);
  assert.equal(calls, 1);
  assert.ok(results.every((r) => r.token === results[0].token));
  await credential.getToken();
  assert.equal(calls, 1, "a valid token is reused");
  credential.dispose();
});

test("an initial token is used until it expires", async () => {
  let calls = 0;
  const initial = fakeJwt(3600);
  const credential = new AzureCommunicationTokenCredential({ tokenRefresher: async () => (calls++, fakeJwt(3600)), token: initial });
  assert.equal((await credential.getToken()).token, initial);
  assert.equal(calls, 0);
  credential.dispose();

  const expired = new AzureCommunicationTokenCredential({ tokenRefresher: async () => (calls++, fakeJwt(3600)), token: fakeJwt(-10) });
  assert.notEqual((await expired.getToken()).token, undefined);
  assert.equal(calls, 1);
  expired.dispose();
});

test("a refresher returning an expired token is an error", async () => {
  const credential = new AzureCommunicationTokenCredential({ tokenRefresher: async () => fakeJwt(-5) });
  await assert.rejects(credential.getToken(), { message: "The token returned from the tokenRefresher is expired." });
  credential.dispose();
});

test("refresher errors reach the caller and the next call retries", async () => {
  let calls = 0;
  const credential = new AzureCommunicationTokenCredential({
    tokenRefresher: async () => {
      calls++;
      if (calls === 1) throw new Error("boom");
      return fakeJwt(3600);
    },
  });
  await assert.rejects(credential.getToken(), /boom/);
  assert.ok((await credential.getToken()).token);
  assert.equal(calls, 2);
  credential.dispose();
});

test("refreshProactively renews a soon-expiring token in the background after half its remaining life", async () => {
  const issued: number[] = [];
  const credential = new AzureCommunicationTokenCredential({
    refreshProactively: true,
    token: fakeJwt(2),
    tokenRefresher: async () => {
      issued.push(Date.now());
      return fakeJwt(2);
    },
  });
  const start = Date.now();
  await sleep(1600);
  credential.dispose();
  assert.ok(issued.length >= 1, "refreshed before expiry");
  const first = issued[0] - start;
  assert.ok(first >= 300 && first <= 1300, `first refresh after ~half of the ≤2 s lifetime, was ${first} ms`);
});

test("dispose cancels the proactive refresh timer", async () => {
  let calls = 0;
  const credential = new AzureCommunicationTokenCredential({
    refreshProactively: true,
    token: fakeJwt(1),
    tokenRefresher: async () => (calls++, fakeJwt(1)),
  });
  credential.dispose();
  await sleep(700);
  assert.equal(calls, 0);
});

test("refreshProactively without an initial token fetches one immediately", async () => {
  let calls = 0;
  const credential = new AzureCommunicationTokenCredential({
    refreshProactively: true,
    tokenRefresher: async () => (calls++, fakeJwt(3600)),
  });
  await sleep(30);
  assert.equal(calls, 1);
  await credential.getToken();
  assert.equal(calls, 1);
  credential.dispose();
});

test("our credential and Azure's satisfy each other's getToken contract", async () => {
  const token = fakeJwt(3600);
  const ours = new AzureCommunicationTokenCredential(token);
  const theirs = new AzureCredential(token);
  const controller = new AbortController();
  assert.deepStrictEqual(
    { ...(await ours.getToken({ abortSignal: controller.signal })) },
    { token: (await theirs.getToken({ abortSignal: controller.signal })).token, expiresOnTimestamp: (await theirs.getToken()).expiresOnTimestamp },
  );
});
