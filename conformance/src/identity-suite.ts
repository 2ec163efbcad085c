// The identity conformance suite (contract §3): users and tokens through an unmodified identity SDK, the
// token's JWT claims, what chat makes of revoked/deleted users, and the HMAC scheme checked with requests
// signed by hand.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { AzureCommunicationTokenCredential } from "@azure/communication-common";
import { startTestNatter } from "@natter/server/testing";
import type { TestNatter } from "@natter/server/testing";
import type { ChatClientUnderTest, IdentityClientLike, IdentityClientUnderTest, TokenScopeLike } from "./clients.js";
import { expectRestError, jwtPayload, rawIdOf } from "./helpers.js";

const IDENTITY_API_VERSION = "2023-10-01";
const MINUTE = 60_000;

interface SignOptions {
  method: string;
  path: string;
  body?: string;
  /** Base64 access key used to sign. */
  key: string;
  date?: Date;
  /** Sent instead of the body that was signed (tampering). */
  sentBody?: string;
  /** Sent as x-ms-content-sha256 instead of the real hash. */
  contentHash?: string;
}

/** A request signed by hand following contract §3.2, sent with fetch to `baseUrl`. */
async function signedFetch(baseUrl: string, o: SignOptions): Promise<Response> {
  const url = new URL(o.path, baseUrl);
  const body = o.body ?? "";
  const date = (o.date ?? new Date()).toUTCString();
  const hash = o.contentHash ?? createHash("sha256").update(body).digest("base64");
  const pathAndQuery = url.pathname + (url.search ? `?${new URLSearchParams(url.search).toString()}` : "");
  const stringToSign = `${o.method}\n${pathAndQuery}\n${date};${url.host};${hash}`;
  const signature = createHmac("sha256", Buffer.from(o.key, "base64")).update(stringToSign, "utf8").digest("base64");
  const sent = o.sentBody ?? o.body;
  return fetch(url, {
    method: o.method,
    headers: {
      "x-ms-date": date,
      "x-ms-content-sha256": hash,
      authorization: `HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=${signature}`,
      ...(sent !== undefined ? { "content-type": "application/json" } : {}),
    },
    body: sent,
  });
}

function assertNear(actual: Date, expectedMs: number, toleranceMs = MINUTE): void {
  assert.ok(Math.abs(actual.getTime() - expectedMs) <= toleranceMs, `${actual.toISOString()} is not within ${toleranceMs} ms of ${new Date(expectedMs).toISOString()}`);
}

export function defineIdentityConformance(client: IdentityClientUnderTest, chatClient: ChatClientUnderTest): void {
  describe(`identity conformance: ${client.name}`, () => {
    let natter: TestNatter;
    let identity: IdentityClientLike;

    before(async () => {
      natter = await startTestNatter();
      identity = client.create(natter.connectionString);
    });
    after(() => natter.stop());

    const chatAs = (token: string) => new chatClient.ChatClient(natter.endpoint, chatClient.credential(token));

    it("createUser returns an ACS user id of this resource", async () => {
      const user = await identity.createUser();
      assert.match(user.communicationUserId, new RegExp(`^8:acs:${natter.resourceId}_[^_]+$`));
      const other = await identity.createUser();
      assert.notEqual(other.communicationUserId, user.communicationUserId);
    });

    for (const scopes of [["chat"], ["chat", "voip"], ["chat.join"], ["chat.join.limited"]] as TokenScopeLike[][]) {
      it(`createUserAndToken with scopes ${JSON.stringify(scopes)}: a 24 h token whose acsScope lists them`, async () => {
        const result = await identity.createUserAndToken(scopes);
        assert.match(result.user.communicationUserId, /^8:acs:/);
        assert.ok(result.expiresOn instanceof Date);
        assertNear(result.expiresOn, Date.now() + 1440 * MINUTE);
        const payload = jwtPayload(result.token);
        assert.deepEqual(String(payload.acsScope).split(","), scopes);
      });
    }

    for (const minutes of [60, 1440]) {
      it(`getToken with tokenExpiresInMinutes ${minutes}: expiresOn is now + ${minutes} min`, async () => {
        const user = await identity.createUser();
        const { token, expiresOn } = await identity.getToken(user, ["chat"], { tokenExpiresInMinutes: minutes });
        assertNear(expiresOn, Date.now() + minutes * MINUTE);
        assert.equal((jwtPayload(token).exp as number) * 1000, expiresOn.getTime());
        const created = await identity.createUserAndToken(["chat"], { tokenExpiresInMinutes: minutes });
        assertNear(created.expiresOn, Date.now() + minutes * MINUTE);
      });
    }

    for (const minutes of [59, 1441]) {
      it(`tokenExpiresInMinutes ${minutes} is 400`, async () => {
        const user = await identity.createUser();
        const e = await expectRestError(identity.getToken(user, ["chat"], { tokenExpiresInMinutes: minutes }), 400, "ValidationError");
        assert.match(e.message, /ExpiresInMinutes/);
        await expectRestError(identity.createUserAndToken(["chat"], { tokenExpiresInMinutes: minutes }), 400, "ValidationError");
      });
    }

    it("empty scopes are 400", async () => {
      const user = await identity.createUser();
      const e = await expectRestError(identity.getToken(user, []), 400);
      assert.match(e.message, /Scopes field is required/);
    });

    it("the token is an ACS-shaped JWT that AzureCommunicationTokenCredential accepts", async () => {
      const { user, token, expiresOn } = await identity.createUserAndToken(["chat", "voip"], { tokenExpiresInMinutes: 120 });
      const payload = jwtPayload(token);
      for (const claim of ["skypeid", "scp", "csi", "exp", "acsScope", "resourceId"]) assert.ok(claim in payload, `claim ${claim}`);
      assert.equal(`8:${String(payload.skypeid)}`, user.communicationUserId);
      assert.equal(payload.resourceId, natter.resourceId);
      assert.equal(payload.acsScope, "chat,voip");
      assert.equal(typeof payload.scp, "number");
      assert.equal(typeof payload.csi, "string");
      assert.equal((payload.exp as number) - Number(payload.csi), 120 * 60);
      const credential = new AzureCommunicationTokenCredential(token);
      const accessToken = await credential.getToken();
      assert.equal(accessToken.token, token);
      assert.equal(accessToken.expiresOnTimestamp, expiresOn.getTime());
      credential.dispose();
    });

    it("revokeTokens: the old token gets 401 from chat, a new token works", async () => {
      const { user, token } = await identity.createUserAndToken(["chat"]);
      const created = await chatAs(token).createChatThread({ topic: "revoke" });
      const threadId = created.chatThread!.id;
      await identity.revokeTokens(user);
      await expectRestError(chatAs(token).getChatThreadClient(threadId).getProperties(), 401, "Unauthorized");
      const fresh = await identity.getToken(user, ["chat"]);
      const props = await chatAs(fresh.token).getChatThreadClient(threadId).getProperties();
      assert.equal(rawIdOf(props.createdBy), user.communicationUserId);
    });

    it("deleteUser: getToken fails afterwards and the user's tokens stop working", async () => {
      const { user, token } = await identity.createUserAndToken(["chat"]);
      await chatAs(token).createChatThread({ topic: "deleted user" });
      await identity.deleteUser(user);
      // ACS does not document the status; Natter answers 404 NotFound for a deleted identity.
      await expectRestError(identity.getToken(user, ["chat"]), 404, "NotFound");
      await expectRestError(chatAs(token).createChatThread({ topic: "after delete" }), 401);
    });

    it("another resource's user id is 401 for getToken, revokeTokens and deleteUser", async () => {
      const foreign = { communicationUserId: "8:acs:00000000-0000-0000-0000-000000000000_00000000-0000-0000-0000-000000000001" };
      await expectRestError(identity.getToken(foreign, ["chat"]), 401);
      await expectRestError(identity.revokeTokens(foreign), 401);
      await expectRestError(identity.deleteUser(foreign), 401);
    });

    describe("HMAC-SHA256 request signing", () => {
      const path = `/identities?api-version=${IDENTITY_API_VERSION}`;
      const body = JSON.stringify({ createTokenWithScopes: ["chat"] });

      it("a correctly signed request is accepted (control for the checks below)", async () => {
        const res = await signedFetch(natter.httpUrl, { method: "POST", path, body, key: natter.accessKey });
        assert.equal(res.status, 201);
        const json = (await res.json()) as { identity?: { id?: string }; accessToken?: { token?: string } };
        assert.match(json.identity?.id ?? "", /^8:acs:/);
        assert.equal(typeof json.accessToken?.token, "string");
      });

      it("a connection string with another key is 401 through the SDK", async () => {
        const wrong = client.create(`endpoint=${natter.endpoint};accesskey=${randomBytes(32).toString("base64")}`);
        await expectRestError(wrong.createUser(), 401, "Unauthorized");
      });

      it("a signature made with another key is 401", async () => {
        const res = await signedFetch(natter.httpUrl, { method: "POST", path, body, key: randomBytes(32).toString("base64") });
        await assertUnauthorized(res);
      });

      it("a tampered body (signed hash of another body) is 401", async () => {
        const res = await signedFetch(natter.httpUrl, { method: "POST", path, body, key: natter.accessKey, sentBody: JSON.stringify({ createTokenWithScopes: ["voip"] }) });
        await assertUnauthorized(res);
      });

      it("an x-ms-content-sha256 that does not match the body is 401", async () => {
        const other = createHash("sha256").update("something else").digest("base64");
        const res = await signedFetch(natter.httpUrl, { method: "POST", path, body, key: natter.accessKey, contentHash: other });
        await assertUnauthorized(res);
      });

      it("an x-ms-date 20 minutes off is 401 (either way)", async () => {
        for (const offset of [-20 * MINUTE, 20 * MINUTE]) {
          const res = await signedFetch(natter.httpUrl, { method: "POST", path, body, key: natter.accessKey, date: new Date(Date.now() + offset) });
          await assertUnauthorized(res);
        }
      });
    });
  });
}

async function assertUnauthorized(res: Response): Promise<void> {
  assert.equal(res.status, 401);
  const json = (await res.json()) as { error?: { code?: string; message?: string } };
  assert.equal(json.error?.code, "Unauthorized");
  assert.equal(typeof json.error?.message, "string");
}
