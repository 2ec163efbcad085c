// @natter/server/testing: helpers for tests that run a real Natter node.
export { startTestNatter, createTestUser } from "./test-support/test-natter.js";
export type { TestNatter } from "./test-support/test-natter.js";
export {
  clusterSkipReason, createTestDatabase, createUserOverHttp, freePort, signedHeaders, startNodes, startPrivateRedis, startRoundRobinProxy, startTcpProxy, waitUntil,
} from "./test-support/cluster.js";
export type { ClusterNode, PrivateRedis, RoundRobinProxy, TcpProxy, TestDatabase } from "./test-support/cluster.js";
