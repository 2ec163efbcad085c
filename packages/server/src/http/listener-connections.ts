// Every connection of the HTTP and HTTPS listeners, from accept to close, and the requests in flight on them:
// what a bounded shutdown needs. Node's server.close() waits for every connection to end, but it closes only
// the ones it counts as idle, and a connection that has not sent a request yet (a browser's preconnect, a TLS
// handshake, an upgrade still being authenticated) is not idle to it; once closed, the server also stops
// enforcing headersTimeout, so such a connection held shutdown open for as long as the client kept it.
import type http from "node:http";
import type https from "node:https";
import type { Socket } from "node:net";
import tls from "node:tls";

export class ListenerConnections {
  /** Sockets of the HTTP listener, and TLS sockets of the HTTPS listener: the ones HTTP is written to. */
  private readonly sockets = new Set<Socket>();
  /** Raw TCP sockets of the HTTPS listener (under a TLS socket, or still in the handshake). */
  private readonly raw = new Set<Socket>();
  private inFlight = 0;
  private onIdle: (() => void) | undefined;

  constructor(servers: readonly (http.Server | https.Server)[]) {
    for (const server of servers) {
      const secure = server instanceof tls.Server;
      server.on("connection", (socket: Socket) => this.track(socket, secure ? this.raw : this.sockets));
      if (secure) server.on("secureConnection", (socket: Socket) => this.track(socket, this.sockets));
      server.on("request", (_req: http.IncomingMessage, res: http.ServerResponse) => {
        this.inFlight++;
        res.once("close", () => {
          this.inFlight--;
          if (this.inFlight === 0) this.onIdle?.();
        });
      });
    }
  }

  /** Resolves once no request is in flight, or after `timeoutMs`, whichever is first. */
  drained(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      const previous = this.onIdle;
      this.onIdle = () => {
        previous?.();
        done();
      };
    });
  }

  /**
   * Ends every connection still open. One with response bytes still queued is ended (so they are sent) and
   * destroyed after `graceMs` if its client does not take them; every other one is destroyed now.
   */
  async closeAll(graceMs: number): Promise<void> {
    // Raw TLS-carrying sockets last: queued TLS bytes live above them, in the TLS socket.
    const flushing: Promise<void>[] = [];
    for (const socket of this.sockets) {
      if (socket.writableLength > 0 && !socket.writableEnded) {
        flushing.push(new Promise<void>((resolve) => socket.once("close", () => resolve())));
        socket.end();
      } else {
        socket.destroy();
      }
    }
    if (flushing.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(flushing), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
    }
    for (const socket of [...this.sockets, ...this.raw]) socket.destroy();
  }

  private track(socket: Socket, into: Set<Socket>): void {
    into.add(socket);
    socket.once("close", () => into.delete(socket));
  }
}
