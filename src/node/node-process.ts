// One `ukv node` (or `ukv meta`) process: the member of one Raft group named by --id in the cluster config. Wires
// the data-dir lock, the Raft transport, the group runtime and the client listener, and shuts
// them down in the reverse order (stop accepting, drain answers, stop the group, release the lock).
import { mkdirSync } from "node:fs";
import type { ClusterConfig, MemberConfig } from "../config/cluster-config.ts";
import { findMember, nodeDataDir } from "../config/cluster-config.ts";
import { DirLock } from "../storage/dir-lock.ts";
import { RaftTransport } from "../transport/raft-transport.ts";
import { KvServer } from "../transport/kv-server.ts";
import { parseAddress } from "../transport/socket-util.ts";
import { UkvError } from "../util/errors.ts";
import { assert } from "../util/assert.ts";
import type { Logger } from "../util/log.ts";
import { GroupRuntime, type GroupRuntimeOptions } from "./group-runtime.ts";
import type { KvHandler } from "../transport/kv-server.ts";
import { MetaReporter } from "./meta-reporter.ts";
import { GroupClient } from "../transport/group-client.ts";
import { fetchTopology, findShard } from "../transport/meta-api.ts";
import { readBootstrap, writeBootstrap } from "./bootstrap.ts";
import type { GroupMembership } from "./log-codec.ts";
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
    return NodeProcess.startGroup(options, { id: shard.id, members: shard.members }, shardRole(options));
  }

  /**
   * A member that is not in the config: it joins shard `shardId` at run time. On the first start
   * it takes the shard's current membership from the metadata group (it is not in it yet, so it
   * neither votes nor campaigns) and waits to be added with `ukv admin add-replica`; later
   * starts use the membership saved in its data dir.
   */
  static async join(
    options: NodeProcessOptions & { shardId: number; metaAddresses: string[]; raftAddress: string; clientAddress: string },
  ): Promise<NodeProcess> {
    const self: MemberConfig = { id: options.nodeId, raftAddress: options.raftAddress, clientAddress: options.clientAddress };
    const dataDir = options.dataDir ?? nodeDataDir(options.config, options.nodeId);
    mkdirSync(dataDir, { recursive: true });
    let group: { id: number; members: MemberConfig[]; learners?: MemberConfig[]; self: MemberConfig } = { id: options.shardId, members: [], self };
    if (readBootstrap(dataDir, options.shardId) === null) {
      const meta = new GroupClient(options.metaAddresses, { timeoutMs: 3000 });
      try {
        const shard = findShard(await fetchTopology(meta), options.shardId);
        if ([...shard.members, ...(shard.learners ?? [])].some((member) => member.id === options.nodeId && member.raftAddress !== options.raftAddress)) {
          throw new UkvError("CONFIG_INVALID", `Node id ${options.nodeId} is already a member of shard ${options.shardId} with other addresses`);
        }
        group = { id: options.shardId, members: shard.members, learners: shard.learners ?? [], self };
      } finally {
        meta.close();
      }
    }
    const role = shardRole(options);
    options.logger.info({ event: "node_joining", shard: options.shardId, node: options.nodeId }, "waiting to be added with ukv admin add-replica");
    return NodeProcess.startGroup({ ...options, dataDir }, group, role);
  }

  /**
   * A member of any group (data shard or meta). `group.members` is the bootstrap membership used
   * on the first start only; `self` defaults to this node's entry in it (a joining node passes
   * its own addresses, as it is not a member yet).
   */
  static async startGroup(
    options: NodeProcessOptions,
    group: { id: number; members: MemberConfig[]; learners?: MemberConfig[]; self?: MemberConfig },
    role: GroupRole,
  ): Promise<NodeProcess> {
    const { config, nodeId } = options;
    const member = group.self ?? group.members.find((candidate) => candidate.id === nodeId);
    assert(member !== undefined, "the node is a member of the group it starts, or says where it listens");
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
    group: { id: number; members: MemberConfig[]; learners?: MemberConfig[] };
    role: GroupRole;
    member: MemberConfig;
    logger: Logger;
    dataDir: string;
    lock: DirLock;
  }): Promise<NodeProcess> {
    const { options, group: shard, member, logger, role } = args;
    const { config, nodeId } = options;
    const initialMembership = NodeProcess.#bootstrapMembership(args.dataDir, shard);
    const peers = new Map<number, string>();
    // UKV_PEER_ADDRESS_OVERRIDES (chaos harness only): dial a peer through a fault-injecting proxy.
    const dialOverrides = peerAddressOverrides();
    const dialAddress = (id: number, raftAddress: string): string => dialOverrides.get(id) ?? raftAddress;
    for (const [id, address] of initialMembership.addresses) if (id !== nodeId) peers.set(id, dialAddress(id, address.raftAddress));
    let runtime: GroupRuntime | null = null;
    const raftListen = parseAddress(member.raftAddress);
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
      initialMembership,
      dataDir: args.dataDir,
      transport,
      logger,
      tickMs: config.tickMs,
      electionTicks: config.electionTicks,
      heartbeatTicks: config.heartbeatTicks,
      snapshotEntriesThreshold: config.snapshotEntriesThreshold,
      walSegmentSizeBytes: config.walSegmentSizeBytes,
      onMembershipChanged: (membership) => {
        for (const [id, address] of membership.addresses) if (id !== nodeId) transport.setPeer(id, dialAddress(id, address.raftAddress));
        for (const id of peers.keys()) if (!membership.addresses.has(id)) transport.removePeer(id);
        peers.clear();
        for (const [id, address] of membership.addresses) if (id !== nodeId) peers.set(id, address.raftAddress);
      },
      fastFailover: options.fastFailover ?? true,
      ...(role.transformBatch === undefined ? {} : { transformBatch: role.transformBatch }),
      ...(role.onApplied === undefined ? {} : { onApplied: role.onApplied }),
    });
    const clientListen = parseAddress(member.clientAddress);
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

  /** The membership this member started from: from group.json, else from the config (then saved). */
  static #bootstrapMembership(dataDir: string, group: { id: number; members: MemberConfig[]; learners?: MemberConfig[] }): GroupMembership {
    const saved = readBootstrap(dataDir, group.id);
    if (saved !== null) return saved;
    const learners = group.learners ?? [];
    const membership: GroupMembership = {
      conf: { voters: group.members.map((other) => other.id), learners: learners.map((other) => other.id) },
      addresses: new Map(
        [...group.members, ...learners].map((other) => [other.id, { raftAddress: other.raftAddress, clientAddress: other.clientAddress }]),
      ),
    };
    writeBootstrap(dataDir, group.id, membership);
    return membership;
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

/** A data shard member: the plain KV handler, and reports to the metadata group. */
function shardRole(options: NodeProcessOptions): GroupRole {
  return {
    kind: "shard",
    createHandler: createKvHandler,
    startBackground: (runtime) => MetaReporter.start({ config: options.config, runtime, logger: options.logger }),
  };
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
