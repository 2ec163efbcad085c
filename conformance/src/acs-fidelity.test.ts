// Drop-in fidelity with real ACS (#19): what each api-version answers, driven through the official SDKs and,
// for identity api-version 2025-06-30 (which no JS SDK on npm speaks yet), through REST calls signed and
// shaped as the newer SDKs send them. Runs on SQLite, and on PostgreSQL when NATTER_TEST_PG_URL is set.
// The server's clock is fake (a fixed second plus what a test adds), so "within one second" is exact.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac, randomUUID } from "node:crypto";
import { ChatClient as AzureChatClient160 } from "@azure/communication-chat";
import { ChatClient as AzureChatClient154 } from "azure-chat-154";
import { AzureCommunicationTokenCredential, getIdentifierRawId } from "@azure/communication-common";
import type { CommunicationIdentifier } from "@azure/communication-common";
import { CommunicationIdentityClient } from "@azure/communication-identity";
import { createTestDatabase, startTestNatter } from "@natter/server/testing";
import type { TestDatabase, TestNatter } from "@natter/server/testing";
import { collect, pagesOf } from "./helpers.js";

const IDENTITY_2025 = "2025-06-30";
const SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256";

interface Reply {
  status: number;
  body: Record<string, unknown> | undefined;
}

const STORES: { name: string; skip: string | false; databaseUrl?: () => Promise<TestDatabase> }[] = [
  { name: "sqlite", skip: false },
  {
    name: "postgres",
    skip: process.env.NATTER_TEST_PG_URL ? false : "NATTER_TEST_PG_URL is not set",
    databaseUrl: () => createTestDatabase(process.env.NATTER_TEST_PG_URL!, "natter_fid"),
  },
];

for (const storeUnderTest of STORES) {
  describe(`ACS fidelity (#19) on ${storeUnderTest.name}`, { skip: storeUnderTest.skip }, () => {
    let natter: TestNatter;
    let database: TestDatabase | undefined;
    /** The server's clock: a whole second plus 100 ms, moved by the tests. */
    let clock = Math.ceil(Date.now() / 1000) * 1000 + 100;

    /**
     * An identity REST call signed as @azure/communication-common's access-key policy (and the .NET/Java
     * SDKs of identity 2025-06-30) sign it: x-ms-date, x-ms-content-sha256 and host, in that order.
     */
    async function identityRest(method: string, path: string, body?: unknown, options: { version?: string; signedHeaders?: string; sign?: boolean } = {}): Promise<Reply> {
      const url = new URL(path, natter.endpoint);
      url.searchParams.set("api-version", options.version ?? IDENTITY_2025);
      const text = body === undefined ? "" : JSON.stringify(body);
      const date = new Date().toUTCString();
      const contentHash = createHash("sha256").update(text).digest("base64");
      const stringToSign = `${method}\n${url.pathname}${url.search}\n${date};${url.host};${contentHash}`;
      const signature = createHmac("sha256", Buffer.from(natter.accessKey, "base64")).update(stringToSign, "utf8").digest("base64");
      const headers: Record<string, string> = {
        accept: "application/json",
        "x-ms-client-request-id": randomUUID(),
        "user-agent": "azsdk-net-Communication.Identity/1.4.0 (.NET 8.0; Linux)",
        "x-ms-date": date,
        "x-ms-content-sha256": contentHash,
      };
      if (options.sign !== false) headers.authorization = `HMAC-SHA256 SignedHeaders=${options.signedHeaders ?? SIGNED_HEADERS}&Signature=${signature}`;
      if (body !== undefined) headers["content-type"] = "application/json";
      const response = await fetch(url, { method, headers, body: body === undefined ? undefined : text });
      const raw = await response.text();
      return { status: response.status, body: raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined };
    }

    /** A chat REST call with a user's bearer token, at any chat api-version. */
    async function chatRest(token: string, method: string, path: string, version: string, body?: unknown): Promise<Reply> {
      const url = new URL(path, natter.endpoint);
      url.searchParams.set("api-version", version);
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: "application/json" };
      if (body !== undefined) headers["content-type"] = "application/json";
      const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const raw = await response.text();
      return { status: response.status, body: raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined };
    }

    /** A new user and a chat token, made with identity 2025-06-30. */
    async function newUser(): Promise<{ id: string; token: string }> {
      const created = await identityRest("POST", "/identities", { createTokenWithScopes: ["chat"] });
      assert.equal(created.status, 201);
      const result = created.body as { identity: { id: string }; accessToken: { token: string } };
      return { id: result.identity.id, token: result.accessToken.token };
    }

    const identityPath = (id: string) => `/identities/${encodeURIComponent(id)}`;
    const chat160 = (token: string) => new AzureChatClient160(natter.endpoint, new AzureCommunicationTokenCredential(token));
    const chat154 = (token: string) => new AzureChatClient154(natter.endpoint, new AzureCommunicationTokenCredential(token));

    before(async () => {
      database = storeUnderTest.databaseUrl ? await storeUnderTest.databaseUrl() : undefined;
      natter = await startTestNatter(database ? { store: "postgres", databaseUrl: database.url } : {}, { now: () => clock });
    });
    after(async () => {
      await natter?.stop();
      await database?.drop();
    });

    describe("identity api-version 2025-06-30 (signed REST as the newer SDKs send it)", () => {
      it("create with a customId is idempotent (201 both times); GET /identities/{id} returns id, customId, lastTokenIssuedAt", async () => {
        const customId = `sally-${randomUUID()}@contoso.com`;
        const first = await identityRest("POST", "/identities", { customId });
        assert.equal(first.status, 201);
        const identity = (first.body as { identity: { id: string } }).identity;
        assert.match(identity.id, new RegExp(`^8:acs:${natter.resourceId}_[0-9a-f-]{36}$`));
        assert.deepEqual(first.body, { identity: { id: identity.id, customId } }, "no token yet: no lastTokenIssuedAt, no accessToken");

        const again = await identityRest("POST", "/identities", { customId });
        assert.equal(again.status, 201);
        assert.deepEqual(again.body, { identity: { id: identity.id, customId } });

        const got = await identityRest("GET", identityPath(identity.id));
        assert.equal(got.status, 200);
        assert.deepEqual(got.body, { id: identity.id, customId });

        // Another customId, or none, is another identity; without one the identity has no customId field.
        const other = await identityRest("POST", "/identities", { customId: `${customId}-2` });
        assert.notEqual((other.body as { identity: { id: string } }).identity.id, identity.id);
        const plain = await identityRest("POST", "/identities");
        assert.equal(plain.status, 201);
        assert.deepEqual(Object.keys((plain.body as { identity: object }).identity), ["id"]);
      });

      it("createTokenWithScopes + expiresInMinutes under a customId: a working token, and lastTokenIssuedAt follows each issue", async () => {
        const customId = `bob-${randomUUID()}`;
        clock += 1_000;
        const issuedAt = clock;
        const created = await identityRest("POST", "/identities", { customId, createTokenWithScopes: ["chat", "voip"], expiresInMinutes: 60 });
        assert.equal(created.status, 201);
        const result = created.body as { identity: { id: string; customId: string; lastTokenIssuedAt: string }; accessToken: { token: string; expiresOn: string } };
        assert.deepEqual(result.identity, { id: result.identity.id, customId, lastTokenIssuedAt: new Date(issuedAt).toISOString() });
        const wholeSecond = (ms: number) => Math.floor(ms / 1000) * 1000; // a JWT's exp has second precision
        assert.equal(Date.parse(result.accessToken.expiresOn), wholeSecond(issuedAt + 60 * 60_000));
        // The token is a chat token the official SDK accepts.
        const thread = await chat160(result.accessToken.token).createChatThread({ topic: "made with a 2025-06-30 token" });
        assert.ok(thread.chatThread?.id);

        // The same customId again with scopes: the same identity, a new token, a newer lastTokenIssuedAt.
        clock += 5_000;
        const again = await identityRest("POST", "/identities", { customId, createTokenWithScopes: ["chat"] });
        const againResult = again.body as typeof result;
        assert.equal(againResult.identity.id, result.identity.id);
        assert.equal(againResult.identity.lastTokenIssuedAt, new Date(clock).toISOString());
        assert.ok(againResult.accessToken.token);

        clock += 7_000;
        const issued = await identityRest("POST", `${identityPath(result.identity.id)}/:issueAccessToken`, { scopes: ["chat"], expiresInMinutes: 120 });
        assert.equal(issued.status, 200);
        assert.equal(Date.parse((issued.body as { expiresOn: string }).expiresOn), wholeSecond(clock + 120 * 60_000));
        const got = await identityRest("GET", identityPath(result.identity.id));
        assert.deepEqual(got.body, { id: result.identity.id, customId, lastTokenIssuedAt: new Date(clock).toISOString() });

        // Range rules are those of every version.
        const tooShort = await identityRest("POST", "/identities", { customId, createTokenWithScopes: ["chat"], expiresInMinutes: 59 });
        assert.equal(tooShort.status, 400);
        assert.equal((tooShort.body as { error: { code: string } }).error.code, "ValidationError");
      });

      it("concurrent creates with one customId make exactly one identity", async () => {
        const customId = `race-${randomUUID()}`;
        const replies = await Promise.all(Array.from({ length: 6 }, () => identityRest("POST", "/identities", { customId })));
        assert.deepEqual(replies.map((r) => r.status), [201, 201, 201, 201, 201, 201]);
        assert.equal(new Set(replies.map((r) => (r.body as { identity: { id: string } }).identity.id)).size, 1);
      });

      it("deleting an identity frees its customId; GET answers 404 for deleted or unknown identities, 401 for another resource's", async () => {
        const customId = `gone-${randomUUID()}`;
        const first = ((await identityRest("POST", "/identities", { customId })).body as { identity: { id: string } }).identity.id;
        assert.equal((await identityRest("DELETE", identityPath(first))).status, 204);
        const deleted = await identityRest("GET", identityPath(first));
        assert.equal(deleted.status, 404);
        assert.equal((deleted.body as { error: { code: string } }).error.code, "NotFound");
        const second = ((await identityRest("POST", "/identities", { customId })).body as { identity: { id: string } }).identity.id;
        assert.notEqual(second, first);
        assert.deepEqual((await identityRest("GET", identityPath(second))).body, { id: second, customId });
        assert.equal((await identityRest("GET", identityPath(`8:acs:${natter.resourceId}_${randomUUID()}`))).status, 404);
        assert.equal((await identityRest("GET", identityPath(`8:acs:00000000-0000-0000-0000-000000000000_${randomUUID()}`))).status, 401);
      });

      it("an empty or oversized customId is 400; a signature over other headers than x-ms-date;host;x-ms-content-sha256 is 401", async () => {
        for (const customId of ["", "x".repeat(257), "tab\there", 42, null]) {
          const reply = await identityRest("POST", "/identities", { customId });
          assert.equal(reply.status, 400, JSON.stringify(customId));
          assert.equal((reply.body as { error: { code: string; target: string } }).error.target, "CustomId");
        }
        for (const signedHeaders of ["date;host;x-ms-content-sha256", "x-ms-date;host", "host;x-ms-date;x-ms-content-sha256"]) {
          const reply = await identityRest("POST", "/identities", { customId: "never" }, { signedHeaders });
          assert.equal(reply.status, 401, signedHeaders);
          assert.equal((reply.body as { error: { code: string } }).error.code, "Unauthorized");
        }
        assert.equal((await identityRest("POST", "/identities", { customId: "never" }, { sign: false })).status, 401);
      });

      it("the Teams Phone extension operations answer 400 saying Natter does not offer them (401 unsigned)", async () => {
        const assignment = "/access/teamsExtension/tenants/72f988bf-86f1-41af-91ab-2d7cd011db47/assignments/4a5ff3a2-0d16-4fe6-9c6a-0f2ea1b5f5d7";
        const calls: [string, string, unknown][] = [
          ["POST", "/access/teamsExtension/:exchangeAccessToken", {}],
          ["GET", assignment, undefined],
          ["PUT", assignment, { principalType: "user", clientIds: ["app"] }],
          ["DELETE", assignment, undefined],
        ];
        for (const [method, path, body] of calls) {
          const reply = await identityRest(method, path, body);
          assert.equal(reply.status, 400, `${method} ${path}`);
          const error = (reply.body as { error: { code: string; message: string } }).error;
          assert.equal(error.code, "BadRequest");
          assert.match(error.message, /Teams Phone extension .*not offer/);
          assert.equal((await identityRest(method, path, body, { sign: false })).status, 401, `${method} ${path} unsigned`);
        }
      });

      it("before 2025-06-30 nothing changes: customId is ignored, GET /identities/{id} is unsupported, SDK 1.3.1 works", async () => {
        const customId = `old-${randomUUID()}`;
        const a = await identityRest("POST", "/identities", { customId, createTokenWithScopes: ["chat"] }, { version: "2023-10-01" });
        const b = await identityRest("POST", "/identities", { customId }, { version: "2023-10-01" });
        assert.equal(a.status, 201);
        const aId = (a.body as { identity: { id: string } }).identity.id;
        assert.deepEqual((a.body as { identity: object }).identity, { id: aId }, "only the id, as 2023-10-01 defines it");
        assert.notEqual((b.body as { identity: { id: string } }).identity.id, aId);
        const old = await identityRest("GET", identityPath(aId), undefined, { version: "2023-10-01" });
        assert.equal(old.status, 400);
        assert.equal((old.body as { error: { code: string } }).error.code, "UnsupportedApiVersion");
        // The identity made at 2023-10-01 has no customId at 2025-06-30 either, but its token time is known.
        assert.deepEqual(Object.keys((await identityRest("GET", identityPath(aId))).body!).sort(), ["id", "lastTokenIssuedAt"]);

        const sdk = new CommunicationIdentityClient(natter.connectionString);
        const { user, token } = await sdk.createUserAndToken(["chat"]);
        assert.ok(token);
        await sdk.getToken(user, ["chat"], { tokenExpiresInMinutes: 60 });
        await sdk.revokeTokens(user);
        await sdk.deleteUser(user);
      });
    });

    describe("chat: retentionPolicy per api-version", () => {
      it("2025-03-15 (SDK 1.6.0) answers retentionPolicy {kind:none} on create and getProperties when none was set; list items carry none", async () => {
        const alice = await newUser();
        const client = chat160(alice.token);
        const created = await client.createChatThread({ topic: "no policy" });
        assert.deepEqual(created.chatThread?.retentionPolicy, { kind: "none" });
        const props = await client.getChatThreadClient(created.chatThread!.id).getProperties();
        assert.deepEqual(props.retentionPolicy, { kind: "none" });
        const listed = (await collect(client.listChatThreads())).find((t) => t.id === created.chatThread!.id);
        assert.ok(listed && !("retentionPolicy" in listed));
        // A policy that was set is answered as set.
        const kept = await client.createChatThread({ topic: "kept" }, { retentionPolicy: { kind: "threadCreationDate", deleteThreadAfterDays: 45 } });
        assert.deepEqual(kept.chatThread?.retentionPolicy, { kind: "threadCreationDate", deleteThreadAfterDays: 45 });

        // On the wire, as the recordings show it.
        const wire = await chatRest(alice.token, "POST", "/chat/threads", "2025-03-15", { topic: "wire" });
        assert.equal(wire.status, 201);
        const chatThread = (wire.body as { chatThread: { id: string; retentionPolicy: unknown } }).chatThread;
        assert.deepEqual(chatThread.retentionPolicy, { kind: "none" });
        const get = await chatRest(alice.token, "GET", `/chat/threads/${encodeURIComponent(chatThread.id)}`, "2025-03-15");
        assert.deepEqual((get.body as { retentionPolicy: unknown }).retentionPolicy, { kind: "none" });
        const list = await chatRest(alice.token, "GET", "/chat/threads", "2025-03-15");
        for (const item of (list.body as { value: object[] }).value) assert.ok(!("retentionPolicy" in item));
      });

      it("SDK 1.5.4 (2024-03-07) and every older api-version never see a retentionPolicy", async () => {
        const alice = await newUser();
        const client = chat154(alice.token);
        const created = await client.createChatThread({ topic: "1.5.4" });
        assert.ok(created.chatThread && !("retentionPolicy" in created.chatThread), "1.5.4 passes unknown fields through: none may arrive");
        const props = await client.getChatThreadClient(created.chatThread.id).getProperties();
        assert.ok(!("retentionPolicy" in props));
        for (const version of ["2021-09-07", "2023-11-07", "2024-03-07"]) {
          const wire = await chatRest(alice.token, "POST", "/chat/threads", version, { topic: version });
          assert.equal(wire.status, 201);
          const chatThread = (wire.body as { chatThread: Record<string, unknown> }).chatThread;
          assert.ok(!("retentionPolicy" in chatThread), version);
          const get = await chatRest(alice.token, "GET", `/chat/threads/${encodeURIComponent(chatThread.id as string)}`, version);
          assert.ok(!("retentionPolicy" in get.body!), version);
        }
      });
    });

    describe("chat: listChatThreads order at second precision", () => {
      it("threads active within one second are listed in creation order (the recorded session), also across pages", async () => {
        const alice = await newUser();
        const client = chat160(alice.token);
        clock = Math.ceil(clock / 1000) * 1000 + 10_000 + 100; // x.100 of a later second
        const first = (await client.createChatThread({ topic: "first" })).chatThread!.id;
        clock += 800; // x.900: the same second, newer by the millisecond
        const second = (await client.createChatThread({ topic: "second" })).chatThread!.id;
        clock += 1_000; // the next second
        const newest = (await client.createChatThread({ topic: "newest" })).chatThread!.id;
        const expected = [newest, first, second];
        for (const sdk of [client, chat154(alice.token)]) {
          assert.deepEqual((await collect(sdk.listChatThreads())).map((t) => t.id), expected);
          for (const size of [1, 2]) {
            const pages = await pagesOf(sdk.listChatThreads({ maxPageSize: size }), size);
            assert.deepEqual(pages.flat().map((t) => t.id), expected, `page size ${size}`);
          }
        }
        // A message makes its thread the newest second again.
        clock += 1_000;
        await client.getChatThreadClient(second).sendMessage({ content: "activity" });
        assert.deepEqual((await collect(client.listChatThreads())).map((t) => t.id), [second, newest, first]);
      });
    });

    describe("identifiers of the 2025-06-30 common model", () => {
      const tenantId = "72f988bf-86f1-41af-91ab-2d7cd011db47";
      const extensionUser = (resourceId: string) => ({
        kind: "teamsExtensionUser",
        rawId: `8:acs:${resourceId}_${tenantId}_4a5ff3a2-0d16-4fe6-9c6a-0f2ea1b5f5d7`,
        teamsExtensionUser: { userId: "4a5ff3a2-0d16-4fe6-9c6a-0f2ea1b5f5d7", tenantId, resourceId, cloud: "public" },
      });
      const assertedPhone = { kind: "phoneNumber", rawId: "4:+14255550123_abc123", phoneNumber: { value: "+14255550123", isAnonymous: false, assertedId: "abc123" } };
      const anonymousPhone = { kind: "phoneNumber", rawId: "4:anonymous", phoneNumber: { value: "anonymous", isAnonymous: true } };

      it("REST: teamsExtensionUser and phone numbers with isAnonymous/assertedId are accepted in create, :add and :remove; targets come back unchanged", async () => {
        const alice = await newUser();
        const models = [extensionUser(natter.resourceId), extensionUser("1e6a8a0e-6a1d-4c51-9a2f-8c0f7e1b0a11"), assertedPhone, anonymousPhone];
        const created = await chatRest(alice.token, "POST", "/chat/threads", "2025-03-15", {
          topic: "identifiers", participants: models.map((communicationIdentifier) => ({ communicationIdentifier })),
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const result = created.body as { chatThread: { id: string }; invalidParticipants: { target: string }[] };
        assert.deepEqual(result.invalidParticipants.map((p) => p.target), models.map((m) => m.rawId));
        const threadPath = `/chat/threads/${encodeURIComponent(result.chatThread.id)}`;
        const added = await chatRest(alice.token, "POST", `${threadPath}/participants/:add`, "2025-03-15", {
          participants: models.map((communicationIdentifier) => ({ communicationIdentifier })),
        });
        assert.equal(added.status, 201);
        assert.deepEqual((added.body as { invalidParticipants: { target: string }[] }).invalidParticipants.map((p) => p.target), models.map((m) => m.rawId));
        for (const model of models) {
          assert.equal((await chatRest(alice.token, "POST", `${threadPath}/participants/:remove`, "2025-03-15", model)).status, 204, model.rawId);
        }
        // Without rawId the nested model names the identifier; a rawId that disagrees with it is 400.
        const noRawId = { kind: "teamsExtensionUser", teamsExtensionUser: extensionUser(natter.resourceId).teamsExtensionUser };
        const derived = await chatRest(alice.token, "POST", "/chat/threads", "2025-03-15", { topic: "derived", participants: [{ communicationIdentifier: noRawId }] });
        assert.deepEqual((derived.body as { invalidParticipants: { target: string }[] }).invalidParticipants.map((p) => p.target), [extensionUser(natter.resourceId).rawId]);
        const mismatch = await chatRest(alice.token, "POST", "/chat/threads", "2025-03-15", {
          topic: "mismatch", participants: [{ communicationIdentifier: { ...extensionUser(natter.resourceId), rawId: `8:acs:${natter.resourceId}_other_user` } }],
        });
        assert.equal(mismatch.status, 400);
      });

      it("official SDK 1.6.0: TeamsExtensionUserIdentifier and PhoneNumberIdentifier (asserted, anonymous) are accepted; targets are their raw ids", async () => {
        const alice = await newUser();
        const client = chat160(alice.token);
        const identifiers: CommunicationIdentifier[] = [
          { userId: "4a5ff3a2-0d16-4fe6-9c6a-0f2ea1b5f5d7", tenantId, resourceId: natter.resourceId },
          { phoneNumber: "+14255550123", rawId: "4:+14255550123_abc123", assertedId: "abc123" },
          { phoneNumber: "anonymous", rawId: "4:anonymous", isAnonymous: true },
        ];
        const created = await client.createChatThread({ topic: "sdk identifiers" }, { participants: identifiers.map((id) => ({ id })) });
        assert.deepEqual(created.invalidParticipants?.map((p) => p.target), identifiers.map((id) => getIdentifierRawId(id)));
        const thread = client.getChatThreadClient(created.chatThread!.id);
        const added = await thread.addParticipants({ participants: identifiers.map((id) => ({ id })) });
        assert.deepEqual(added.invalidParticipants?.map((p) => p.target), identifiers.map((id) => getIdentifierRawId(id)));
        for (const id of identifiers) await thread.removeParticipant(id);
      });
    });
  });
}
