// A node:test reporter for the terminal (scripts/run-tests.mjs): each failure in full, as it happens, and at
// the end why tests were skipped (grouped); nothing else. The full TAP log goes to a file through a second
// reporter; run-tests.mjs prints the totals from that log's closing lines.
import { relative } from "node:path";
import { inspect } from "node:util";

const where = (data) => {
  const file = data.file ? relative(process.cwd(), data.file) : "";
  return file ? ` (${file}${data.line ? `:${data.line}` : ""})` : "";
};

/** The error a test failed with, without the runner's wrapper. */
function reason(error) {
  const cause = error?.code === "ERR_TEST_FAILURE" && error.cause !== undefined ? error.cause : error;
  const text = cause instanceof Error ? (cause.stack ?? String(cause)) : inspect(cause, { depth: 6 });
  return text.replace(/\n/g, "\n    ");
}

export default async function* summary(source) {
  const skips = new Map(); // reason → count
  for await (const event of source) {
    if (event.type === "test:pass" && event.data.skip !== undefined) {
      const why = typeof event.data.skip === "string" ? event.data.skip : "skipped";
      skips.set(why, (skips.get(why) ?? 0) + 1);
    }
    if (event.type !== "test:fail") continue;
    const { data } = event;
    const failureType = data.details?.error?.failureType;
    // A parent that failed because a child did (the child is reported itself), or a test cancelled with it.
    if (failureType === "subtestsFailed" || failureType === "cancelledByParent") continue;
    yield `\n✖ ${data.name}${where(data)}\n    ${reason(data.details?.error)}\n`;
  }
  if (skips.size) yield `\nSkipped:\n${[...skips].map(([why, n]) => `  ${n} × ${why}`).join("\n")}\n`;
}
