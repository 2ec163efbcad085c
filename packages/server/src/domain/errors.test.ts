// docs/errors.md lists exactly the catalogue of domain/errors.ts, with the same statuses and codes.
import { it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ERRORS } from "./errors.js";

it("docs/errors.md matches the error catalogue", () => {
  const doc = readFileSync(fileURLToPath(new URL("../../../../docs/errors.md", import.meta.url)), "utf8");
  const rows = [...doc.matchAll(/^\| (\w+) \| (\d{3}) \| (\w+) \|/gm)].map((m) => [m[1], Number(m[2]), m[3]]);
  const catalogue = Object.entries(ERRORS).map(([name, e]) => [name, e.status, e.code]);
  assert.deepEqual(rows, catalogue);
});
