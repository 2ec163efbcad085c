// Loaded with `node --import` into a natter process by bench/pg-send-cpu.mjs --trace: counts the statements sent
// through pg.Client.query (by SQL text), from the first SIGUSR2 on; the second writes the counts to $NATTER_PG_TRACE.
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

// The pg of the build under test (NATTER_PG_TRACE_ROOT), which need not be this checkout.
const require = createRequire(join(process.env.NATTER_PG_TRACE_ROOT, "packages/server/package.json"));
const pg = require("pg");
const counts = {};
let on = false;
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (config, ...rest) {
  if (on) {
    const text = typeof config === "string" ? config : config?.text ?? "?";
    counts[text] = (counts[text] ?? 0) + 1;
  }
  return query.call(this, config, ...rest);
};
process.on("SIGUSR2", () => {
  if (!on) on = true;
  else writeFileSync(process.env.NATTER_PG_TRACE, JSON.stringify(counts));
});
