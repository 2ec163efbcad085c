// The baseline: a bare Fastify app with the same routes' shape, no auth and no storage.
import Fastify from "fastify";

const app = Fastify({ logger: false });
app.post("/chat/threads/:threadId/messages", async (_request, reply) => reply.status(201).send({ id: "1" }));
app.get("/chat/threads/:threadId/messages", async () => ({ value: [] }));
const address = await app.listen({ port: 0, host: "127.0.0.1" });
console.log(`listening on ${address}/`);
process.on("SIGTERM", () => app.close().then(() => process.exit(0)));
