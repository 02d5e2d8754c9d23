// One `ukv node` (or `ukv meta`) process: the member of one Raft group named by --id in the cluster config. Wires
// the data-dir lock, the Raft transport, the group runtime and the client listener, and shuts
// them down in the reverse order (stop accepting, drain answers, stop the group, release the lock).
import { mkdirSync } from "node:fs";
import type { ClusterConfig, MemberConfig } from "../config/cluster-config.ts";
import { findMember, nodeDataDir } from "../config/cluster-config.ts";
import { DirLock } from "../storage/dir-lock.ts";
import { RaftTransport } from "../transport/raft-transport.ts";
import { KvServer } from "../transport/kv-server.ts";
import { UkvError } from "../util/errors.ts";
import { assert } from "../util/assert.ts";
import type { Logger } from "../util/log.ts";
import { GroupRuntime, type GroupRuntimeOptions } from "./group-runtime.ts";
import type { KvHandler } from "../transport/kv-server.ts";
import { MetaReporter } from "./meta-reporter.ts";
import { createKvHandler } from "./kv-service.ts";

export interface NodeProcessOptions {
  config: ClusterConfig;
  nodeId: number;
  dataDir?: string;
  logger: Logger;
  fastFailover?: boolean;
}

/** What differs between a data shard member and a meta member. */
export interface GroupRole {
  /** "shard" or "meta", for logs. */
  kind: string;
  createHandler(runtime: GroupRuntime): KvHandler;
  transformBatch?: GroupRuntimeOptions["transformBatch"];
  onApplied?: GroupRuntimeOptions["onApplied"];
  /** Started after the runtime is serving; stopped first on close. */
  startBackground?(runtime: GroupRuntime): { stop(): Promise<void> };
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
  readonly #background: { stop(): Promise<void> } | null;

  private constructor(args: {
    nodeId: number;
    runtime: GroupRuntime;
    transport: RaftTransport;
    server: KvServer;
    lock: DirLock;
    logger: Logger;
    raftPort: number;
    clientPort: number;
    background: { stop(): Promise<void> } | null;
  }) {
    this.#background = args.background;
    this.nodeId = args.nodeId;
    this.runtime = args.runtime;
    this.#transport = args.transport;
    this.#server = args.server;
    this.#lock = args.lock;
    this.#logger = args.logger;
    this.raftPort = args.raftPort;
    this.clientPort = args.clientPort;
  }

  /** A data shard member: the node id must belong to a shard of the config. */
  static async start(options: NodeProcessOptions): Promise<NodeProcess> {
    const found = findMember(options.config, options.nodeId);
    if (found === null) {
      throw new UkvError("CONFIG_INVALID", `Node id ${options.nodeId} is not a member of any shard in the config`);
    }
    if (found.shard === null) {
      throw new UkvError("CONFIG_INVALID", `Node id ${options.nodeId} is a metadata member: start it with \`ukv meta\``);
    }
    const shard = found.shard;
    const role: GroupRole = {
      kind: "shard",
      createHandler: createKvHandler,
      startBackground: (runtime) => MetaReporter.start({ config: options.config, runtime, logger: options.logger }),
    };
    return NodeProcess.startGroup(options, { id: shard.id, members: shard.members }, role);
  }

  /** A member of any group (data shard or meta) described by `group`. */
  static async startGroup(options: NodeProcessOptions, group: { id: number; members: MemberConfig[] }, role: GroupRole): Promise<NodeProcess> {
    const { config, nodeId } = options;
    const member = group.members.find((candidate) => candidate.id === nodeId);
    assert(member !== undefined, "the node is a member of the group it starts");
    const logger = options.logger.child(role.kind === "meta" ? { node: nodeId, group: "meta" } : { node: nodeId, shard: group.id });
    const dataDir = options.dataDir ?? nodeDataDir(config, nodeId);
    mkdirSync(dataDir, { recursive: true });
    const lock = DirLock.acquire(dataDir);
    try {
      return await NodeProcess.#startLocked({ options, group, member, logger, dataDir, lock, role });
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  static async #startLocked(args: {
    options: NodeProcessOptions;
    group: { id: number; members: MemberConfig[] };
    role: GroupRole;
    member: MemberConfig;
    logger: Logger;
    dataDir: string;
    lock: DirLock;
  }): Promise<NodeProcess> {
    const { options, group: shard, member, logger, role } = args;
    const { config, nodeId } = options;
    const peers = new Map<number, string>();
    // UKV_PEER_ADDRESS_OVERRIDES (chaos harness only): dial a peer through a fault-injecting proxy.
    const dialOverrides = peerAddressOverrides();
    for (const other of shard.members) if (other.id !== nodeId) peers.set(other.id, dialOverrides.get(other.id) ?? other.raftAddress);
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
      ...(role.transformBatch === undefined ? {} : { transformBatch: role.transformBatch }),
      ...(role.onApplied === undefined ? {} : { onApplied: role.onApplied }),
    });
    const clientListen = splitAddress(member.clientAddress);
    const server = new KvServer({
      host: clientListen.host,
      port: clientListen.port,
      handler: role.createHandler(runtime),
      logger,
    });
    const { port: clientPort } = await server.start();
    const background = role.startBackground?.(runtime) ?? null;
    logger.info({ event: "node_started", raftPort, clientPort, dataDir: args.dataDir }, "node serving");
    return new NodeProcess({ nodeId, runtime, transport, server, lock: args.lock, logger, raftPort, clientPort, background });
  }

  /** Clean shutdown: stop taking requests, drain answers, stop the group, release the dir lock. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#logger.info({ event: "node_stopping" });
      await this.#background?.stop();
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

/** UKV_PEER_ADDRESS_OVERRIDES: a JSON map peer id -> "host:port" to dial instead of its raftAddress. */
function peerAddressOverrides(): Map<number, string> {
  const text = process.env.UKV_PEER_ADDRESS_OVERRIDES;
  if (text === undefined || text === "") return new Map();
  const parsed: unknown = JSON.parse(text);
  if (parsed === null || typeof parsed !== "object") throw new UkvError("CONFIG_INVALID", `UKV_PEER_ADDRESS_OVERRIDES must be a JSON object: ${text}`);
  const overrides = new Map<number, string>();
  for (const [id, address] of Object.entries(parsed)) {
    if (typeof address !== "string") throw new UkvError("CONFIG_INVALID", `UKV_PEER_ADDRESS_OVERRIDES: peer ${id} needs a "host:port" string`);
    overrides.set(Number(id), address);
  }
  return overrides;
}
