// The outbound half of the Raft transport for one peer: a lazily dialed connection, a bounded
// queue of encoded frames, and reconnection with exponential backoff and jitter.
// Raft tolerates loss (it retransmits), not unbounded memory: when the queue is over
// peerQueueBytesMax the oldest frames are dropped and reported, and while the peer is in backoff
// new frames are dropped at once and reported, so the leader probes instead of piling up.
// Frames written in one event-loop turn leave in one send (the connection corks until the turn ends).
// States: idle -> connecting -> connected -> (remote closed / error) -> backoff -> connecting ...
import { assert } from "../util/assert.ts";
import { peerQueueBytesMax } from "../util/limits.ts";
import type { Logger } from "../util/log.ts";
import { ConnectionKind, encodeHello } from "./frame.ts";
import { dialTcp, type TcpConnection } from "./tcp-connection.ts";

export const reconnectDelayMsMin = 50;
export const reconnectDelayMsMax = 2000;

export type PeerLinkState = "idle" | "connecting" | "connected" | "backoff" | "closed";

export interface QueuedFrame {
  bytes: Uint8Array;
  /** Groups with messages in the frame: each is reported unreachable if the frame is dropped. */
  groupIds: number[];
  messageCount: number;
}

export interface PeerLinkOptions {
  localNodeId: number;
  peerId: number;
  address: string;
  logger: Logger;
  /** Frames that will never be sent: the transport reports their groups unreachable. */
  onDropped(frames: QueuedFrame[]): void;
  /** An established connection was closed by the remote or broke. */
  onDisconnected(reason: "closed" | "error"): void;
  /** Tests lower it. */
  queueBytesMax?: number;
}

export interface PeerLinkStats {
  state: PeerLinkState;
  queuedBytes: number;
  droppedMessageCount: number;
  /** Dials started, successful or not (backoff keeps this low while a peer is down). */
  dialCount: number;
  connectCount: number;
}

export class PeerLink {
  readonly #options: PeerLinkOptions;
  readonly #queueBytesMax: number;
  #state: PeerLinkState = "idle";
  #socket: TcpConnection | null = null;
  #writable = true;
  #queue: QueuedFrame[] = [];
  #queuedBytes = 0;
  #backoffUntilMs = 0;
  #backoffDelayMs = reconnectDelayMsMin;
  #droppedMessageCount = 0;
  #dialCount = 0;
  #connectCount = 0;

  constructor(options: PeerLinkOptions) {
    this.#options = options;
    this.#queueBytesMax = options.queueBytesMax ?? peerQueueBytesMax;
    assert(this.#queueBytesMax > 0, "a peer queue holds something");
  }

  get address(): string {
    return this.#options.address;
  }

  stats(): PeerLinkStats {
    return {
      state: this.#state,
      queuedBytes: this.#queuedBytes,
      droppedMessageCount: this.#droppedMessageCount,
      dialCount: this.#dialCount,
      connectCount: this.#connectCount,
    };
  }

  /** Queues one encoded frame; dials if needed. Never blocks, never throws on network state. */
  enqueue(frame: QueuedFrame): void {
    if (this.#state === "closed") {
      this.#drop([frame]);
      return;
    }
    if (this.#state === "backoff" && performance.now() < this.#backoffUntilMs) {
      this.#drop([frame]);
      return;
    }
    this.#queue.push(frame);
    this.#queuedBytes += frame.bytes.byteLength;
    this.#trimQueue();
    if (this.#state === "idle" || this.#state === "backoff") this.#dial();
    else if (this.#state === "connected") this.#pump();
  }

  /** Our own close (peer removed, transport closing): not reported as a disconnect. */
  close(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    const socket = this.#socket;
    this.#socket = null;
    socket?.destroy();
    this.#dropQueue();
  }

  #trimQueue(): void {
    const dropped: QueuedFrame[] = [];
    while (this.#queuedBytes > this.#queueBytesMax && this.#queue.length > 1) {
      const oldest = this.#queue.shift() as QueuedFrame;
      this.#queuedBytes -= oldest.bytes.byteLength;
      dropped.push(oldest);
    }
    if (dropped.length > 0) this.#drop(dropped);
  }

  #drop(frames: QueuedFrame[]): void {
    for (const frame of frames) this.#droppedMessageCount += frame.messageCount;
    this.#options.onDropped(frames);
  }

  #dropQueue(): void {
    const frames = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    if (frames.length > 0) this.#drop(frames);
  }

  #dial(): void {
    this.#state = "connecting";
    this.#dialCount++;
    dialTcp(this.#options.address).then(
      (socket) => this.#onConnected(socket),
      (error: unknown) => this.#onConnectFailed(error),
    );
  }

  #onConnected(socket: TcpConnection): void {
    if (this.#state !== "connecting") {
      socket.destroy(); // closed while dialing
      return;
    }
    this.#socket = socket;
    this.#state = "connected";
    this.#writable = true;
    this.#connectCount++;
    this.#backoffDelayMs = reconnectDelayMsMin;
    this.#options.logger.debug({ event: "peer_connected", peer: this.#options.peerId, address: this.#options.address });
    socket.attach({
      data: () => {}, // raft connections are one-way; reading lets us see the remote's FIN
      drain: () => {
        this.#writable = true;
        if (this.#socket === socket) this.#pump();
      },
      close: (hadError) => this.#onClosed(socket, hadError),
    });
    this.#writable = socket.write(encodeHello({ kind: ConnectionKind.Raft, nodeId: this.#options.localNodeId }));
    this.#pump();
  }

  #onConnectFailed(error: unknown): void {
    if (this.#state !== "connecting") return;
    this.#options.logger.debug({ event: "peer_connect_failed", peer: this.#options.peerId, err: error });
    this.#enterBackoff();
  }

  #onClosed(socket: TcpConnection, hadError: boolean): void {
    if (this.#socket !== socket) return; // an old socket, already replaced or closed by us
    this.#socket = null;
    const reason = hadError ? "error" : "closed";
    this.#options.logger.info({ event: "peer_disconnected", peer: this.#options.peerId, reason });
    this.#enterBackoff();
    this.#options.onDisconnected(reason);
  }

  #enterBackoff(): void {
    this.#state = "backoff";
    const jitter = 0.75 + Math.random() * 0.5; // spreads redials of many nodes after a shared failure
    this.#backoffUntilMs = performance.now() + this.#backoffDelayMs * jitter;
    this.#backoffDelayMs = Math.min(this.#backoffDelayMs * 2, reconnectDelayMsMax);
    this.#dropQueue();
  }

  #pump(): void {
    const socket = this.#socket;
    assert(socket !== null && this.#state === "connected", "pump only on a connected link");
    while (this.#writable && this.#queue.length > 0) {
      const frame = this.#queue.shift() as QueuedFrame;
      this.#queuedBytes -= frame.bytes.byteLength;
      this.#writable = socket.write(frame.bytes);
    }
  }
}
