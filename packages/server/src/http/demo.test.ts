// Demo sign-in: a display name maps to one user; tokens work with the chat API; off unless on loopback.
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import type { TestNatter } from "../test-support/test-natter.js";
import { startTestNatter } from "../test-support/test-natter.js";
import { demoAuthEnabled } from "../config.js";

let natter: TestNatter;
before(async () => (natter = await startTestNatter()));
after(() => natter.stop());

async function signIn(displayName: unknown) {
  const res = await fetch(new URL("/demo/sign-in", natter.httpUrl), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ displayName }) });
  return { status: res.status, body: (await res.json()) as { userId: string; displayName: string; token: string; error?: { code: string } } };
}

it("signs in by display name, reuses the user for the same name, and lists the directory", async () => {
  const a = await signIn("Ada Lovelace");
  assert.equal(a.status, 200);
  assert.match(a.body.userId, /^8:acs:[0-9a-f-]+_[0-9a-f-]+$/);
  const again = await signIn("  ada   lovelace ");
  assert.equal(again.body.userId, a.body.userId, "names are matched case-insensitively");
  const b = await signIn("Grace");
  const created = await fetch(new URL("/chat/threads?api-version=2024-03-07", natter.httpUrl), {
    method: "POST", headers: { authorization: `Bearer ${b.body.token}`, "content-type": "application/json" }, body: JSON.stringify({ topic: "hi" }),
  });
  assert.equal(created.status, 201, "a demo token works with the chat API");
  const list = await fetch(new URL("/demo/users", natter.httpUrl), { headers: { authorization: `Bearer ${a.body.token}` } });
  const users = ((await list.json()) as { value: { displayName: string }[] }).value.map((u) => u.displayName);
  assert.deepEqual(users, ["Ada Lovelace", "Grace"]);
  assert.equal((await fetch(new URL("/demo/users", natter.httpUrl))).status, 401);
});

it("rejects empty, overlong and control-character names with 400", async () => {
  for (const name of ["", "   ", "x".repeat(65), "a\u0000b", 42]) assert.equal((await signIn(name)).status, 400, JSON.stringify(name));
});

it("is on by default only on loopback", () => {
  assert.equal(demoAuthEnabled({ demoAuth: "auto", host: "127.0.0.1" }), true);
  assert.equal(demoAuthEnabled({ demoAuth: "auto", host: "::1" }), true);
  assert.equal(demoAuthEnabled({ demoAuth: "auto", host: "0.0.0.0" }), false);
  assert.equal(demoAuthEnabled({ demoAuth: "on", host: "0.0.0.0" }), true);
  assert.equal(demoAuthEnabled({ demoAuth: "off", host: "127.0.0.1" }), false);
});

it("has no demo endpoints when off", async () => {
  const off = await startTestNatter({ demoAuth: "off" });
  try {
    const res = await fetch(new URL("/demo/sign-in", off.httpUrl), { method: "POST", headers: { "content-type": "application/json" }, body: "{\"displayName\":\"x\"}" });
    assert.equal(res.status, 404);
  } finally {
    await off.stop();
  }
});
