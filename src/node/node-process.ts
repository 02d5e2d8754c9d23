// One `ukv node` process: the member of one data shard named by --id in the cluster config. Wires
// the data-dir lock, the Raft transport, the group runtime and the client listener, and shuts
// them down in the reverse order (stop accepting, drain answers, stop the group, release the lock).
import { mkdirSync } from "node:fs";
import type { ClusterConfig, MemberConfig, ShardConfig } from "../config/cluster-config.ts";
import { findMember, nodeDataDir } from "../config/cluster-config.ts";
import { DirLock } from "../storage/dir-lock.ts";
import { RaftTransport } from "../transport/raft-transport.ts";
import { KvServer } from "../transport/kv-server.ts";
import { UkvError } from "../util/errors.ts";
import type { Logger } from "../util/log.ts";
import { GroupRuntime } from "./group-runtime.ts";
import { createKvHandler } from "./kv-service.ts";

export interface NodeProcessOptions {
  config: ClusterConfig;
  nodeId: number;
  dataDir?: string;
  logger: Logger;
  fastFailover?: boolean;
}

export class NodeProcess {
  readonly nodeId: number;
  readonly runtime: GroupRuntime;
  readonly raftPort: number;
  readonly clientPort: number;
  readonly #transport: RaftTransport;
  readonly #server: KvServer;
  readonly #lock: DirLock;
  readonly #logger: Logger;
  #closing: Promise<void> | null = null;

  private constructor(args: {
    nodeId: number;
    runtime: GroupRuntime;
    transport: RaftTransport;
    server: KvServer;
    lock: DirLock;
    logger: Logger;
    raftPort: number;
    clientPort: number;
  }) {
    this.nodeId = args.nodeId;
    this.runtime = args.runtime;
    this.#transport = args.transport;
    this.#server = args.server;
    this.#lock = args.lock;
    this.#logger = args.logger;
    this.raftPort = args.raftPort;
    this.clientPort = args.clientPort;
  }

  static async start(options: NodeProcessOptions): Promise<NodeProcess> {
    const { config, nodeId } = options;
    const found = findMember(config, nodeId);
    if (found === null) {
      throw new UkvError("CONFIG_INVALID", `Node id ${nodeId} is not a member of any shard in the config`);
    }
    if (found.shard === null) {
      throw new UkvError("CONFIG_INVALID", `Node id ${nodeId} is a metadata member: start it with \`ukv meta\``);
    }
    const shard: ShardConfig = found.shard;
    const member: MemberConfig = found.member;
    const logger = options.logger.child({ node: nodeId, shard: shard.id });
    const dataDir = options.dataDir ?? nodeDataDir(config, nodeId);
    mkdirSync(dataDir, { recursive: true });
    const lock = DirLock.acquire(dataDir);
    try {
      return await NodeProcess.#startLocked({ options, shard, member, logger, dataDir, lock });
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  static async #startLocked(args: {
    options: NodeProcessOptions;
    shard: ShardConfig;
    member: MemberConfig;
    logger: Logger;
    dataDir: string;
    lock: DirLock;
  }): Promise<NodeProcess> {
    const { options, shard, member, logger } = args;
    const { config, nodeId } = options;
    const peers = new Map<number, string>();
    for (const other of shard.members) if (other.id !== nodeId) peers.set(other.id, other.raftAddress);
    const clientAddresses = new Map(shard.members.map((other) => [other.id, other.clientAddress]));
    let runtime: GroupRuntime | null = null;
    const raftListen = splitAddress(member.raftAddress);
    const transport = new RaftTransport({
      nodeId,
      listenHost: raftListen.host,
      listenPort: raftListen.port,
      peers,
      logger,
      onMessages: (groupId, messages) => {
        if (groupId === shard.id) runtime?.step(messages);
      },
      onSnapshot: async (groupId, message, chunks) => {
        if (groupId !== shard.id || runtime === null) throw new UkvError("BAD_REQUEST", `Unknown group ${groupId}`);
        await runtime.receiveSnapshot(message, chunks);
      },
      onPeerDisconnected: (peerId) => runtime?.peerDisconnected(peerId),
    });
    transport.onUnreachable = (groupId, peerId) => {
      if (groupId === shard.id) runtime?.reportUnreachable(peerId);
    };
    const { port: raftPort } = await transport.start();
    runtime = await GroupRuntime.open({
      nodeId,
      groupId: shard.id,
      initialVoters: shard.members.map((other) => other.id),
      dataDir: args.dataDir,
      transport,
      logger,
      tickMs: config.tickMs,
      electionTicks: config.electionTicks,
      heartbeatTicks: config.heartbeatTicks,
      snapshotEntriesThreshold: config.snapshotEntriesThreshold,
      walSegmentSizeBytes: config.walSegmentSizeBytes,
      clientAddressOf: (id) => clientAddresses.get(id) ?? null,
      fastFailover: options.fastFailover ?? true,
    });
    const clientListen = splitAddress(member.clientAddress);
    const server = new KvServer({
      host: clientListen.host,
      port: clientListen.port,
      handler: createKvHandler(runtime),
      logger,
    });
    const { port: clientPort } = await server.start();
    logger.info({ event: "node_started", raftPort, clientPort, dataDir: args.dataDir }, "node serving");
    return new NodeProcess({ nodeId, runtime, transport, server, lock: args.lock, logger, raftPort, clientPort });
  }

  /** Clean shutdown: stop taking requests, drain answers, stop the group, release the dir lock. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#logger.info({ event: "node_stopping" });
      await this.#server.close();
      await this.runtime.close();
      await this.#transport.close();
      this.#lock.release();
      this.#logger.info({ event: "node_stopped" });
    })();
    return this.#closing;
  }
}

export function splitAddress(address: string): { host: string; port: number } {
  const colonIndex = address.lastIndexOf(":");
  const port = Number(address.slice(colonIndex + 1));
  if (colonIndex <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UkvError("CONFIG_INVALID", `Address must be host:port: ${address}`);
  }
  return { host: address.slice(0, colonIndex), port };
}
