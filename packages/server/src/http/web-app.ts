// Serves the browser chat app (packages/web, built by Vite) at / on both listeners, with a strict CSP.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import fastifyStatic from "@fastify/static";

/** The app talks only to its own origin (REST and WebSocket) and never runs inline or foreign scripts. */
export const WEB_APP_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

export async function registerWebApp(app: FastifyInstance, root: string | undefined): Promise<void> {
  if (!root || !existsSync(join(root, "index.html"))) {
    app.get("/", async (_request, reply) =>
      reply.type("text/plain; charset=utf-8").send("Natter is running. The web app is not built: run `npm run build` in the repository.\n"),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: "/",
    wildcard: false, // one route per built file: API routes are never shadowed
    index: "index.html",
    cacheControl: false,
    setHeaders: (res, path) => {
      res.setHeader("content-security-policy", WEB_APP_CSP);
      res.setHeader("x-frame-options", "DENY");
      res.setHeader("referrer-policy", "no-referrer");
      // Hashed assets never change; the page itself must always be fresh.
      res.setHeader("cache-control", path.endsWith(".html") ? "no-cache" : "public, max-age=31536000, immutable");
    },
  });
}
