// @natter/server/testing: helpers for tests that run a real Natter node.
export { startTestNatter, createTestUser } from "./test-support/test-natter.js";
export type { TestNatter } from "./test-support/test-natter.js";
