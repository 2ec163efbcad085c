// Test helpers: a real Natter node on port 0 in a fresh temporary data folder, and HMAC/token shortcuts.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatterConfig } from "../config.js";
import type { RunningNatter, StartOptions } from "../compose.js";
import { startNatter } from "../compose.js";

export interface TestNatter extends RunningNatter {
  dataDir: string;
  /** Closes the node and deletes its data folder. */
  stop(): Promise<void>;
}

/**
 * Starts a node on 127.0.0.1 with both ports 0. Uses the test certificate that scripts/run-tests.mjs
 * generates and trusts (NATTER_TEST_TLS_CERT/KEY); outside it, a self-signed one in the data folder.
 */
export async function startTestNatter(overrides: Partial<NatterConfig> = {}, options: StartOptions = {}): Promise<TestNatter> {
  const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), "natter-test-"));
  const natter = await startNatter(
    {
      host: "127.0.0.1",
      port: 0,
      httpsPort: 0,
      dataDir,
      tlsCert: process.env.NATTER_TEST_TLS_CERT,
      tlsKey: process.env.NATTER_TEST_TLS_KEY,
      logLevel: "silent",
      ...overrides,
    },
    options,
  );
  return Object.assign(natter, {
    dataDir,
    async stop() {
      await natter.close();
      if (!overrides.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

/** Creates a user and a token for it directly through the services (no HTTP), for tests that need many. */
export async function createTestUser(natter: RunningNatter, scopes: ("chat" | "voip" | "chat.join" | "chat.join.limited")[] = ["chat"], minutes = 60) {
  const user = await natter.identity.createUser();
  const { token, expiresOn } = await natter.tokens.issue(user.id, scopes, minutes, user.tokenGeneration);
  return { userId: user.id, token, expiresOn };
}
