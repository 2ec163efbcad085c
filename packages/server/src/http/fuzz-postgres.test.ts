// The bad-input property of http/fuzz.test.ts on a PostgreSQL node (NATTER_TEST_PG_URL): PostgreSQL refuses
// more than SQLite does (U+0000 in TEXT, non-integers for BIGINT), so a value SQLite stores quietly could be a
// 500 here. Same generator (test-support/fuzz-requests.ts), same properties: never a 5xx, ACS error bodies,
// 2xx only for valid requests, /healthz keeps answering. Shorter than the SQLite run.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import type { TestNatter } from "../test-support/test-natter.js";
import { startTestNatter } from "../test-support/test-natter.js";
import { createTestDatabase } from "../test-support/cluster.js";
import type { TestDatabase } from "../test-support/cluster.js";
import type { FuzzWorld } from "../test-support/fuzz-requests.js";
import { createFuzzWorld, fuzzCaseArb, healthy, runCase } from "../test-support/fuzz-requests.js";

const pgUrl = process.env.NATTER_TEST_PG_URL;
const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

describe("bad input on PostgreSQL (property-based)", { skip: pgUrl ? false : "NATTER_TEST_PG_URL not set" }, () => {
  let natter: TestNatter;
  let database: TestDatabase;
  let world: FuzzWorld;
  before(async () => {
    database = await createTestDatabase(pgUrl!, "natter_fuzz");
    natter = await startTestNatter({ store: "postgres", databaseUrl: database.url });
    world = await createFuzzWorld(natter);
  });
  after(async () => {
    await natter?.stop();
    await database?.drop();
  });

  it("every endpoint: no 5xx, ACS error bodies, 2xx only for valid requests (200 runs)", async () => {
    await fc.assert(
      fc.asyncProperty(fuzzCaseArb(world.slots.length), async (c) => {
        const outcome = await runCase(world, c);
        assert.deepEqual(outcome.violations, [], outcome.label);
        assert.ok(await healthy(world), `the node stopped answering /healthz after: ${outcome.label}`);
      }),
      { numRuns: 200, seed, includeErrorInReport: true, interruptAfterTimeLimit: 30_000 },
    );
  });
});
