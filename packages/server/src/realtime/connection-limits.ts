// Caps on open realtime sockets, shared by both endpoints of a node (/realtime and Trouter): a node-wide total,
// taken at the upgrade (before any token check, so unauthenticated sockets count too), and a per-user count,
// taken once the socket's user is known. Without them one token could use up the process's file descriptors.
import type { Duplex } from "node:stream";

export const DEFAULT_MAX_SOCKETS = 50_000;
export const DEFAULT_MAX_SOCKETS_PER_USER = 50;

export class ConnectionLimits {
  private total = 0;
  private readonly perUser = new Map<string, number>();

  constructor(
    readonly maxSockets = DEFAULT_MAX_SOCKETS,
    readonly maxSocketsPerUser = DEFAULT_MAX_SOCKETS_PER_USER,
  ) {}

  /** Sockets holding a slot (open, or being upgraded). */
  get count(): number {
    return this.total;
  }

  /** A node-wide slot for a socket being upgraded, or undefined when the node is full. */
  reserve(): ConnectionSlot | undefined {
    if (this.total >= this.maxSockets) return undefined;
    this.total++;
    return new ConnectionSlot(this);
  }

  /**
   * A slot released when the raw socket closes, however it ends (upgrade refused, WebSocket closed, reset): the
   * count can never leak.
   */
  reserveFor(socket: Duplex): ConnectionSlot | undefined {
    const slot = this.reserve();
    if (slot) socket.once("close", () => slot.release());
    return slot;
  }

  /** Whether the user has room for one more socket (an early check; bindUser is the one that counts). */
  userHasRoom(userId: string): boolean {
    return (this.perUser.get(userId) ?? 0) < this.maxSocketsPerUser;
  }

  /** @internal */
  addUser(userId: string): boolean {
    const n = this.perUser.get(userId) ?? 0;
    if (n >= this.maxSocketsPerUser) return false;
    this.perUser.set(userId, n + 1);
    return true;
  }

  /** @internal */
  release(userId: string | undefined): void {
    this.total--;
    if (userId === undefined) return;
    const n = (this.perUser.get(userId) ?? 1) - 1;
    if (n <= 0) this.perUser.delete(userId);
    else this.perUser.set(userId, n);
  }
}

export class ConnectionSlot {
  private userId?: string;
  private released = false;

  constructor(private readonly limits: ConnectionLimits) {}

  /** Counts the socket against its user's cap; false when the user already has the maximum. Once per slot. */
  bindUser(userId: string): boolean {
    if (this.released) return false;
    if (this.userId !== undefined) return this.userId === userId;
    if (!this.limits.addUser(userId)) return false;
    this.userId = userId;
    return true;
  }

  /** Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.limits.release(this.userId);
  }
}
