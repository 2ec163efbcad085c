// @natter/server: start a Natter node from code (tests, embedding) or through the `natter` CLI.
export { startNatter } from "./compose.js";
export type { RunningNatter, StartOptions } from "./compose.js";
export { loadConfig, ConfigError } from "./config.js";
export type { NatterConfig } from "./config.js";
