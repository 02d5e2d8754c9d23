// The TCP transport between ukv nodes for Raft: one listening socket for inbound connections and
// one outbound PeerLink per peer. send() is non-blocking: messages are grouped per peer and
// encoded once per event-loop turn into one RAFT_BATCH frame (several groups share it), so a
// Ready with many messages costs one write per peer. Snapshots stream on their own connections
// (snapshot-stream.ts). Anything malformed a peer sends closes that connection with a logged
// reason ("frame_invalid"); nothing a peer sends can throw out of a socket handler. Connections are
// the one connection base's (tcp-connection.ts): everything sent to a peer in a turn is one send.
import { ProtoDecodeError } from "../proto/wire.ts";
import type { Message } from "../raft/types.ts";
import { MessageType } from "../raft/types.ts";
import { assert } from "../util/assert.ts";
import { UkvError } from "../util/errors.ts";
import { frameSizeBytesMax } from "../util/limits.ts";
import { rootLogger, type Logger } from "../util/log.ts";
import { ConnectionKind, FrameDecoder, FrameType, frameHeaderSizeBytes, sealFrame, type Frame, type Hello } from "./frame.ts";
import { PeerLink, type PeerLinkStats, type QueuedFrame } from "./peer-link.ts";
import { decodeRaftBatch, encodeRaftBatch, messageSizeBytes, type GroupMessages } from "./raft-codec.ts";
import { SnapshotReceiver, sendSnapshotFile } from "./snapshot-stream.ts";
import { HandedOverConnection, listenTcp, type ByteConnection, type TcpConnection, type TcpListener } from "./tcp-connection.ts";
import { atTurnEnd } from "./turn-end.ts";

export interface RaftTransportOptions {
  nodeId: number;
  listenHost: string;
  /** 0 = ephemeral (tests). */
  listenPort: number;
  /** id -> "host:port" of the peer's Raft listener. */
  peers: Map<number, string>;
  /** Inbound Raft messages of one group. */
  onMessages(groupId: number, messages: Message[]): void;
  /** Inbound streamed snapshot: the runtime stores the chunks; resolve = stored (the sender is told success). */
  onSnapshot(groupId: number, message: Message, chunks: AsyncIterable<Uint8Array>): Promise<void>;
  /** A connection to or from the peer was closed by the remote (crash detection for fast failover). */
  onPeerDisconnected?(peerId: number, reason: "closed" | "error"): void;
  logger?: Logger;
  /** Tests lower it to exercise dropping. */
  peerQueueBytesMax?: number;
  /** A snapshot receiver reading nothing this long fails the send (default snapshotStallTimeoutMsDefault). */
  snapshotStallTimeoutMs?: number;
}

/** Messages the core only makes for itself (triggers and local reports): never valid from a peer. */
const localOnlyTypes: ReadonlySet<MessageType> = new Set([MessageType.Hup, MessageType.Beat, MessageType.Unreachable, MessageType.SnapshotStatus]);

/** Room in a frame for the batch and group envelopes around the messages. */
const frameEnvelopeBytesMax = 64 * 1024;
const frameBudgetBytes = frameSizeBytesMax - frameEnvelopeBytesMax;

export class RaftTransport {
  /** Set by the runtime: a send to the peer was dropped (Raft moves the peer to probing). */
  onUnreachable?: (groupId: number, peerId: number) => void;
  /**
   * Set by the store: who serves a client-protocol connection made to this (the Raft) port, on
   * this thread. Unset, such connections are refused.
   */
  onClientConnection?: (connection: ByteConnection) => void;

  readonly #options: RaftTransportOptions;
  readonly #logger: Logger;
  readonly #links = new Map<number, PeerLink>();
  /** peer -> group -> messages queued this turn. */
  #pending = new Map<number, Map<number, Message[]>>();
  #flushScheduled = false;
  #listener: TcpListener | null = null;
  #started = false;
  readonly #inbound = new Set<TcpConnection>();
  #nextStreamId = 1;
  /** peer -> when a frame from it last arrived (performance.now() ms); liveness for quiesced groups. */
  readonly #lastHeardMs = new Map<number, number>();
  readonly #startedMs = performance.now();
  #closed = false;
  /** Aborted by close(): ends outbound snapshot streams. */
  readonly #closing = new AbortController();
  readonly #flushTask = (): void => this.#flush();

  constructor(options: RaftTransportOptions) {
    assert(Number.isInteger(options.nodeId) && options.nodeId > 0, "a node id is a positive integer");
    this.#options = options;
    this.#logger = (options.logger ?? rootLogger).child({ component: "raft-transport" });
    for (const [id, address] of options.peers) this.setPeer(id, address);
  }

  async start(): Promise<{ port: number }> {
    assert(!this.#started, "start is called once");
    this.#started = true;
    const listener = await listenTcp({ host: this.#options.listenHost, port: this.#options.listenPort, logger: this.#logger, accept: (connection) => this.#accept(connection) });
    this.#listener = listener;
    if (this.#closed) listener.stop(); // closed while starting
    return { port: listener.port };
  }

  send(groupId: number, messages: Message[]): void {
    for (const message of messages) {
      assert(message.to !== this.#options.nodeId, "a node never sends to itself");
      if (this.#closed || !this.#links.has(message.to)) {
        this.#reportUnreachable([groupId], message.to);
        continue;
      }
      let groups = this.#pending.get(message.to);
      if (groups === undefined) {
        groups = new Map();
        this.#pending.set(message.to, groups);
      }
      const queued = groups.get(groupId);
      if (queued === undefined) groups.set(groupId, [message]);
      else queued.push(message);
    }
    if (!this.#flushScheduled && this.#pending.size > 0) {
      this.#flushScheduled = true;
      atTurnEnd(this.#flushTask);
    }
  }

  async sendSnapshot(groupId: number, message: Message, filePath: string): Promise<void> {
    const link = this.#links.get(message.to);
    if (this.#closed || link === undefined) throw new UkvError("CLOSED", `No address for peer ${message.to}`);
    await sendSnapshotFile({
      address: link.address,
      localNodeId: this.#options.nodeId,
      groupId,
      streamId: this.#nextStreamId++,
      message,
      filePath,
      logger: this.#logger,
      signal: this.#closing.signal,
      ...(this.#options.snapshotStallTimeoutMs === undefined ? {} : { stallTimeoutMs: this.#options.snapshotStallTimeoutMs }),
    });
  }

  /**
   * A store-level heartbeat: one empty batch frame to every peer. Idle (quiesced) groups send
   * nothing, so this is how peers keep hearing from a live store, whatever it hosts.
   */
  sendLiveness(): void {
    if (this.#closed) return;
    const bytes = sealFrame(encodeRaftBatch([], frameHeaderSizeBytes), FrameType.RaftBatch);
    for (const link of this.#links.values()) link.enqueue({ bytes, groupIds: [], messageCount: 0 });
  }

  /** Milliseconds since a frame from `peerId` last arrived (since start when none has). */
  silenceMs(peerId: number): number {
    return performance.now() - (this.#lastHeardMs.get(peerId) ?? this.#startedMs);
  }

  setPeer(id: number, address: string): void {
    assert(id !== this.#options.nodeId, "a node is not its own peer");
    const existing = this.#links.get(id);
    if (existing !== undefined && existing.address === address) return;
    existing?.close();
    this.#links.set(id, this.#newLink(id, address));
  }

  removePeer(id: number): void {
    this.#links.get(id)?.close();
    this.#links.delete(id);
    this.#pending.delete(id);
  }

  peerStats(id: number): PeerLinkStats | null {
    return this.#links.get(id)?.stats() ?? null;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    this.#pending.clear();
    for (const link of this.#links.values()) link.close();
    for (const connection of this.#inbound) connection.destroy();
    this.#listener?.stop();
  }

  #newLink(id: number, address: string): PeerLink {
    return new PeerLink({
      localNodeId: this.#options.nodeId,
      peerId: id,
      address,
      logger: this.#logger,
      queueBytesMax: this.#options.peerQueueBytesMax,
      onDropped: (frames) => this.#reportDropped(id, frames),
      onDisconnected: (reason) => this.#peerDisconnected(id, reason),
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    const pending = this.#pending;
    this.#pending = new Map();
    for (const [peerId, groups] of pending) {
      const link = this.#links.get(peerId);
      if (link === undefined) continue; // removed this turn
      for (const frame of this.#encodeFrames(peerId, groups)) link.enqueue(frame);
    }
  }

  /** One frame for everything, unless it would pass the frame limit (then split by size). */
  #encodeFrames(peerId: number, groups: Map<number, Message[]>): QueuedFrame[] {
    const batch: GroupMessages[] = [];
    let messageCount = 0;
    for (const [groupId, messages] of groups) {
      batch.push({ groupId, messages });
      messageCount += messages.length;
    }
    const payload = encodeRaftBatch(batch, frameHeaderSizeBytes);
    if (payload.byteLength - frameHeaderSizeBytes <= frameSizeBytesMax) {
      return [{ bytes: sealFrame(payload, FrameType.RaftBatch), groupIds: [...groups.keys()], messageCount }];
    }
    return this.#encodeFramesBySize(peerId, batch);
  }

  #encodeFramesBySize(peerId: number, batch: GroupMessages[]): QueuedFrame[] {
    const frames: QueuedFrame[] = [];
    let current: GroupMessages[] = [];
    let currentBytes = 0;
    let currentCount = 0;
    const seal = (): void => {
      if (currentCount === 0) return;
      const bytes = sealFrame(encodeRaftBatch(current, frameHeaderSizeBytes), FrameType.RaftBatch);
      frames.push({ bytes, groupIds: current.map((group) => group.groupId), messageCount: currentCount });
      current = [];
      currentBytes = 0;
      currentCount = 0;
    };
    for (const group of batch) {
      for (const message of group.messages) {
        const sizeBytes = messageSizeBytes(message) + 16;
        if (sizeBytes > frameBudgetBytes) {
          this.#logger.warn({ event: "message_too_large", group: group.groupId, to: peerId, sizeBytes, type: message.type });
          this.#reportUnreachable([group.groupId], peerId);
          continue;
        }
        if (currentBytes + sizeBytes > frameBudgetBytes) seal();
        const last = current[current.length - 1];
        if (last !== undefined && last.groupId === group.groupId) last.messages.push(message);
        else current.push({ groupId: group.groupId, messages: [message] });
        currentBytes += sizeBytes;
        currentCount++;
      }
    }
    seal();
    return frames;
  }

  #reportDropped(peerId: number, frames: QueuedFrame[]): void {
    const groupIds = new Set<number>();
    for (const frame of frames) for (const groupId of frame.groupIds) groupIds.add(groupId);
    this.#reportUnreachable(groupIds, peerId);
  }

  #reportUnreachable(groupIds: Iterable<number>, peerId: number): void {
    const report = this.onUnreachable;
    if (report === undefined) return;
    for (const groupId of groupIds) {
      try {
        report(groupId, peerId);
      } catch (error) {
        this.#logger.error({ event: "handler_error", handler: "onUnreachable", err: error });
      }
    }
  }

  #peerDisconnected(peerId: number, reason: "closed" | "error"): void {
    if (this.#closed) return;
    try {
      this.#options.onPeerDisconnected?.(peerId, reason);
    } catch (error) {
      this.#logger.error({ event: "handler_error", handler: "onPeerDisconnected", err: error });
    }
  }

  #accept(socket: TcpConnection): void {
    if (this.#closed) {
      socket.attach({ data: () => {}, close: () => {} });
      socket.destroy();
      return;
    }
    this.#inbound.add(socket);
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const decoder = new FrameDecoder({ expectHello: true });
    let hello: Hello | null = null;
    let snapshot: SnapshotReceiver | null = null;
    /** Until the hello is read: every chunk, for a client connection's new owner to read from the start. */
    let beforeHello: Uint8Array[] | null = [];
    let handedOver: HandedOverConnection | null = null;
    const reject = (reason: string): void => {
      this.#logger.warn({ event: "frame_invalid", remote, peer: hello?.nodeId, reason });
      socket.destroy();
    };
    const onData = (chunk: Uint8Array): void => {
      if (handedOver !== null) return handedOver.data(chunk);
      beforeHello?.push(chunk);
      const { frames, error } = decoder.push(chunk);
      if (hello === null && decoder.hello !== null) {
        hello = decoder.hello;
        if (hello.kind === ConnectionKind.Client && this.onClientConnection !== undefined) {
          // Its frames are the client protocol's: the new owner decodes everything from the hello on.
          this.#inbound.delete(socket);
          handedOver = new HandedOverConnection(socket, beforeHello ?? []);
          beforeHello = null;
          this.onClientConnection(handedOver);
          return;
        }
        beforeHello = null;
        const why = this.#checkHello(hello);
        if (why !== null) return reject(why);
        if (hello.kind === ConnectionKind.Snapshot) snapshot = this.#newSnapshotReceiver(socket, hello.nodeId);
      }
      for (const frame of frames) {
        if (socket.closed) return;
        assert(hello !== null, "frames follow the hello");
        const why = snapshot === null ? this.#handleRaftFrame(hello.nodeId, frame) : handleSnapshotFrame(snapshot, frame);
        if (why !== null) return reject(why);
      }
      if (error !== null) reject(error);
    };
    socket.attach({
      drain: () => handedOver?.drain(),
      data: (chunk) => {
        if (socket.closed) return;
        try {
          onData(chunk);
        } catch (error) {
          // A bug in decoding must not take the node down with it: drop this connection only.
          this.#logger.error({ event: "frame_invalid", remote, peer: hello?.nodeId, reason: "internal error", err: error });
          socket.destroy();
        }
      },
      close: (hadError) => {
        if (handedOver !== null) return handedOver.close(hadError);
        this.#inbound.delete(socket);
        snapshot?.connectionClosed();
        // Only established Raft connections report: snapshot connections close after every stream.
        if (hello?.kind === ConnectionKind.Raft) this.#peerDisconnected(hello.nodeId, hadError ? "error" : "closed");
      },
    });
  }

  #checkHello(hello: Hello): string | null {
    if (hello.kind === ConnectionKind.Client) return "a client connection on the raft port";
    if (hello.nodeId === 0 || hello.nodeId === this.#options.nodeId) return `bad sender node id ${hello.nodeId}`;
    return null;
  }

  #newSnapshotReceiver(socket: TcpConnection, peerId: number): SnapshotReceiver {
    return new SnapshotReceiver({
      peerId,
      localNodeId: this.#options.nodeId,
      onSnapshot: this.#options.onSnapshot,
      reply: (frame) => {
        socket.write(frame);
      },
      pause: () => socket.pause(),
      resume: () => socket.resume(),
      logger: this.#logger,
    });
  }

  /** Delivers one RAFT_BATCH; returns why the frame is invalid, or null. */
  #handleRaftFrame(peerId: number, frame: Frame): string | null {
    if (frame.type !== FrameType.RaftBatch) return `frame type ${frame.type} on a raft connection`;
    this.#lastHeardMs.set(peerId, performance.now());
    let groups: GroupMessages[];
    try {
      groups = decodeRaftBatch(frame.payload);
    } catch (error) {
      if (error instanceof ProtoDecodeError) return error.message;
      throw error;
    }
    for (const group of groups) {
      for (const message of group.messages) {
        if (message.from !== peerId || message.to !== this.#options.nodeId) {
          return `message ${message.from} -> ${message.to} on a connection from node ${peerId} to node ${this.#options.nodeId}`;
        }
        if (localOnlyTypes.has(message.type)) return `local message type ${MessageType[message.type]} from the wire`;
      }
    }
    for (const group of groups) {
      if (group.messages.length === 0) continue;
      try {
        this.#options.onMessages(group.groupId, group.messages);
      } catch (error) {
        this.#logger.error({ event: "handler_error", handler: "onMessages", group: group.groupId, err: error });
      }
    }
    return null;
  }
}

function handleSnapshotFrame(receiver: SnapshotReceiver, frame: Frame): string | null {
  try {
    receiver.handleFrame(frame.type, frame.payload);
    return null;
  } catch (error) {
    if (error instanceof ProtoDecodeError) return error.message;
    throw error;
  }
}
