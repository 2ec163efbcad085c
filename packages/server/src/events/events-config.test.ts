// --events-subscription / NATTER_EVENTS_SUBSCRIPTION and the retry settings: parsed, validated, one line per mistake.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../config.js";

describe("events configuration", () => {
  it("parses repeatable flags with types (commas kept), schema and secret; short type names", () => {
    const secret = `whsec_${Buffer.alloc(32, 9).toString("base64")}`;
    const config = loadConfig([
      "--events-subscription", "bot=https://bot.example/events?code=1,types=ChatMessageReceived,Microsoft.Communication.ChatThreadCreated,schema=cloudevents",
      "--events-subscription", `audit=http://127.0.0.1:9000/in,secret=${secret}`,
      "--events-retry-min-seconds", "0.5",
    ], {});
    assert.deepEqual(config.eventsSubscriptions, [
      { name: "bot", url: "https://bot.example/events?code=1", types: ["Microsoft.Communication.ChatMessageReceived", "Microsoft.Communication.ChatThreadCreated"], schema: "cloudevents" },
      { name: "audit", url: "http://127.0.0.1:9000/in", secret },
    ]);
    assert.equal(config.eventsRetryMinSeconds, 0.5);
    assert.equal(config.eventsRetryMaxSeconds, 3600);
  });

  it("reads the environment variable (several separated by ;) when no flag is given; defaults to none", () => {
    assert.deepEqual(loadConfig([], {}).eventsSubscriptions, []);
    const config = loadConfig([], { NATTER_EVENTS_SUBSCRIPTION: "a-1=http://127.0.0.1:1/x; b-2=http://127.0.0.1:2/y,types=ChatThreadDeleted" });
    assert.deepEqual(config.eventsSubscriptions.map((s) => [s.name, s.url, s.types]), [
      ["a-1", "http://127.0.0.1:1/x", undefined], ["b-2", "http://127.0.0.1:2/y", ["Microsoft.Communication.ChatThreadDeleted"]],
    ]);
    assert.deepEqual(loadConfig(["--events-subscription", "c-3=http://127.0.0.1:3/"], { NATTER_EVENTS_SUBSCRIPTION: "a-1=http://127.0.0.1:1/x" }).eventsSubscriptions.map((s) => s.name), ["c-3"], "flags win");
  });

  it("refuses mistakes with a message naming the problem", () => {
    const cases: [string[], RegExp][] = [
      [["--events-subscription", "no-url"], /expected name=url/],
      [["--events-subscription", "x=http://127.0.0.1/"], /3 to 64 letters/],
      [["--events-subscription", "bot=ftp://host/"], /http\(s\) URL/],
      [["--events-subscription", "bot=http://h/,types=Nope"], /'Nope' is not a chat event type/],
      [["--events-subscription", "bot=http://h/,schema=xml"], /schema must be eventgrid or cloudevents/],
      [["--events-subscription", "bot=http://h/,secret=abc"], /secret must be whsec_/],
      [["--events-subscription", "bot=http://h/", "--events-subscription", "bot=http://i/"], /given twice/],
      [["--events-retry-min-seconds", "5", "--events-retry-max-seconds", "1"], /must not exceed/],
    ];
    for (const [args, message] of cases) assert.throws(() => loadConfig(args, {}), (e: unknown) => e instanceof ConfigError && message.test(e.message), args.join(" "));
  });
});
