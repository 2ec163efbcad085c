// createPagedAsyncIterator: item iteration, byPage with maxPageSize and continuation tokens.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createPagedAsyncIterator } from "./index.js";

function source(total: number, calls: Array<[string | undefined, number | undefined]>) {
  return async (token: string | undefined, maxPageSize: number | undefined) => {
    calls.push([token, maxPageSize]);
    const size = maxPageSize ?? (token ? Number(token.split(":")[1]) : 2);
    const start = token ? Number(token.split(":")[0]) : 0;
    const items = Array.from({ length: Math.min(size, total - start) }, (_, i) => start + i);
    const next = start + size < total ? `${start + size}:${size}` : undefined;
    return { items, continuationToken: next };
  };
}

test("iterates every item across pages lazily", async () => {
  const calls: Array<[string | undefined, number | undefined]> = [];
  const iterator = createPagedAsyncIterator(source(5, calls));
  assert.equal(calls.length, 0);
  const seen: number[] = [];
  for await (const item of iterator) seen.push(item);
  assert.deepEqual(seen, [0, 1, 2, 3, 4]);
  assert.equal(calls.length, 3);
});

test("byPage honours maxPageSize, and pages = ceil(items / maxPageSize)", async () => {
  const calls: Array<[string | undefined, number | undefined]> = [];
  const pages: number[][] = [];
  for await (const page of createPagedAsyncIterator(source(7, calls)).byPage({ maxPageSize: 3 })) pages.push(page);
  assert.deepEqual(pages, [[0, 1, 2], [3, 4, 5], [6]]);
  assert.deepEqual(calls[0], [undefined, 3]);
});

test("byPage resumes from a continuation token and writes the next one back", async () => {
  const calls: Array<[string | undefined, number | undefined]> = [];
  const iterator = createPagedAsyncIterator(source(6, calls), 2);
  const settings: { continuationToken?: string; maxPageSize?: number } = {};
  const pager = iterator.byPage(settings);
  assert.deepEqual((await pager.next()).value, [0, 1]);
  assert.equal(settings.continuationToken, "2:2");
  const resumed: number[][] = [];
  for await (const page of createPagedAsyncIterator(source(6, calls), 2).byPage({ continuationToken: "2:2" })) resumed.push(page);
  assert.deepEqual(resumed, [[2, 3], [4, 5]]);
});

test("a page without items stops iteration", async () => {
  const iterator = createPagedAsyncIterator<number>(async () => ({ items: undefined, continuationToken: "x" }));
  const seen: number[] = [];
  for await (const item of iterator) seen.push(item);
  assert.deepEqual(seen, []);
});
