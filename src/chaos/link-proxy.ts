// A controllable loopback TCP proxy for one directed node-to-node link (the dialing node sends
// its Raft messages to the listening node through it). Raft links are one-way (each node dials
// each peer for its own messages; snapshots stream on extra connections), so blocking the proxy
// of link a->b cuts what a says to b and nothing else.
// Blocking is a blackhole, not a refusal: established connections are destroyed (a torn stream
// would corrupt the framing if bytes were simply skipped), and new ones are accepted but their
// bytes discarded, like a dropped route. Healing destroys the blackholed connections so that the
// dialer reconnects onto a clean stream.
import { createServer, connect, type Server, type Socket } from "node:net";
import { assert } from "../util/assert.ts";

export class LinkProxy {
  readonly fromId: number;
  readonly toId: number;
  readonly #targetHost: string;
  readonly #targetPort: number;
  readonly #server: Server;
  readonly #pairs = new Set<Socket>();
  readonly #blackholed = new Set<Socket>();
  #blocked = false;
  #port = 0;

  private constructor(fromId: number, toId: number, target: string) {
    this.fromId = fromId;
    this.toId = toId;
    const colonIndex = target.lastIndexOf(":");
    this.#targetHost = target.slice(0, colonIndex);
    this.#targetPort = Number(target.slice(colonIndex + 1));
    assert(Number.isInteger(this.#targetPort) && this.#targetPort > 0, "the proxy target is host:port");
    this.#server = createServer((socket) => this.#accept(socket));
  }

  /** Listens on 127.0.0.1:port (0 = ephemeral) and forwards to `target` (the peer's raftAddress). */
  static async start(args: { fromId: number; toId: number; target: string; port?: number }): Promise<LinkProxy> {
    const proxy = new LinkProxy(args.fromId, args.toId, args.target);
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once("error", reject);
      proxy.#server.listen(args.port ?? 0, "127.0.0.1", () => resolve());
    });
    const address = proxy.#server.address();
    assert(address !== null && typeof address === "object", "a listening server has an address");
    proxy.#port = address.port;
    return proxy;
  }

  get address(): string {
    return `127.0.0.1:${this.#port}`;
  }

  get blocked(): boolean {
    return this.#blocked;
  }

  block(): void {
    if (this.#blocked) return;
    this.#blocked = true;
    for (const socket of this.#pairs) socket.destroy();
    this.#pairs.clear();
  }

  heal(): void {
    if (!this.#blocked) return;
    this.#blocked = false;
    for (const socket of this.#blackholed) socket.destroy();
    this.#blackholed.clear();
  }

  async close(): Promise<void> {
    for (const socket of [...this.#pairs, ...this.#blackholed]) socket.destroy();
    this.#pairs.clear();
    this.#blackholed.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(inbound: Socket): void {
    inbound.on("error", () => undefined);
    if (this.#blocked) {
      this.#blackholed.add(inbound);
      inbound.on("data", () => undefined); // discard
      inbound.on("close", () => this.#blackholed.delete(inbound));
      return;
    }
    const outbound = connect({ host: this.#targetHost, port: this.#targetPort });
    outbound.on("error", () => undefined);
    // Destroying either side tears down both: the pair is one logical connection.
    const tearDown = (): void => {
      inbound.destroy();
      outbound.destroy();
      this.#pairs.delete(inbound);
      this.#pairs.delete(outbound);
    };
    this.#pairs.add(inbound);
    this.#pairs.add(outbound);
    inbound.on("close", tearDown);
    outbound.on("close", tearDown);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  }
}
