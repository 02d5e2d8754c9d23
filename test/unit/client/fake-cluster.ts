// Fake stores for routing tests: real KvServers on 127.0.0.1 (port 0), one a store, each hosting
// replicas of several shards (a replica's id is its store's id, as in the real design). A request
// tagged with shard S is served by the store's replica of S, or answered WRONG_SHARD when it holds
// none: a leader replica stores SET/DELETE in the shard's Map; a follower answers NOT_LEADER with
// the hint it is given and serves GET from the shared per-shard Map (replication is not the
// subject here). STATUS without a shard answers for the whole store ({storeId, groups}), with a
// shard for that replica, as a real store does. Metadata stores answer TOPOLOGY with the layout
// (a long-poll with a known epoch waits, bounded) and host a replica of the metadata group (group
// 0): it appears in their store STATUS and answers the store-level ADMIN writes (shard 0), its
// followers with NOT_LEADER and the leader's address. Stores can be stopped (connection refused)
// and restarted on the same port.
import pino from "pino";
import { KvServer } from "../../../src/transport/kv-server.ts";
import { makeKvResponse, type KvRequest, type KvResponse } from "../../../src/transport/kv-protocol.ts";
import type { Topology, TopologyLayout } from "../../../src/transport/topology-wire.ts";
import { equalRanges, rangeToJson } from "../../../src/ring/range-map.ts";

const decoder = new TextDecoder();
const silentLogger = pino({ level: "silent" });
/** How long a TOPOLOGY long-poll for a newer epoch waits before answering the same one. */
const topologyWatchWaitMs = 300;

export class FakeReplica {
  /** The hosting store's id, which is the replica's Raft id. */
  readonly id: number;
  readonly shard: FakeShard;
  readonly store: FakeStore;
  role: "leader" | "follower" = "follower";
  /** What STATUS reports as leader (0 = none); defaults to the shard's leader. */
  statusLeaderOverride: number | null = null;
  /** What STATUS reports as role; defaults to the real role. */
  statusRoleOverride: string | null = null;
  /** When set, a follower's NOT_LEADER carries this hint instead of the real leader's address. */
  hintOverride: string | null = null;
  /** The shard-tagged requests this replica served or refused. */
  readonly received: KvRequest[] = [];
  /** When set: serves the request as usual, then answers this instead when it returns non-null. */
  answerOverride: ((request: KvRequest) => KvResponse | null) | null = null;

  constructor(shard: FakeShard, store: FakeStore) {
    this.id = store.id;
    this.shard = shard;
    this.store = store;
  }

  get address(): string {
    return this.store.address;
  }

  get running(): boolean {
    return this.store.running;
  }

  countOf(op: KvRequest["op"]): number {
    return this.received.filter((request) => request.op === op).length;
  }

  /** The status a real replica reports (src/node GroupStatus, the fields routing reads). */
  status(): Record<string, unknown> {
    const shard = this.shard;
    return {
      nodeId: this.id,
      groupId: shard.id,
      role: this.statusRoleOverride ?? this.role,
      term: shard.term,
      leader: this.statusLeaderOverride ?? shard.leader()?.id ?? 0,
      commitIndex: shard.writeCount,
      appliedIndex: shard.writeCount,
      lastIndex: shard.writeCount,
      snapshotIndex: 0,
      keyCount: shard.store.size,
    };
  }

  handle(request: KvRequest): KvResponse {
    const answer = this.#serve(request);
    return this.answerOverride?.(request) ?? answer;
  }

  #serve(request: KvRequest): KvResponse {
    this.received.push(request);
    const shard = this.shard;
    if (request.op === "STATUS") return makeKvResponse(request.id, "OK", { statusJson: JSON.stringify(this.status()) });
    const key = decoder.decode(request.key);
    if (request.op === "GET" && !request.linearizable) return this.#read(request.id, key);
    if (this.role !== "leader") {
      const leader = shard.leader();
      const hint = this.hintOverride ?? (leader === null ? "" : leader.address);
      return makeKvResponse(request.id, "NOT_LEADER", { leaderAddress: hint, message: `Store ${this.id} does not lead shard ${shard.id}` });
    }
    if (request.op === "GET") return this.#read(request.id, key);
    shard.writeCount++;
    if (request.op === "SET") shard.store.set(key, request.value.slice());
    else shard.store.delete(key);
    return makeKvResponse(request.id, "OK");
  }

  #read(id: number, key: string): KvResponse {
    const value = this.shard.store.get(key);
    return value === undefined ? makeKvResponse(id, "NOT_FOUND") : makeKvResponse(id, "OK", { value });
  }
}

export class FakeShard {
  readonly id: number;
  readonly members: FakeReplica[] = [];
  readonly store = new Map<string, Uint8Array>();
  term = 1;
  writeCount = 0;

  constructor(id: number) {
    this.id = id;
  }

  leader(): FakeReplica | null {
    return this.members.find((member) => member.role === "leader" && member.running) ?? null;
  }

  /** The replica on store `storeId`. */
  member(storeId: number): FakeReplica {
    const member = this.members.find((candidate) => candidate.id === storeId);
    if (member === undefined) throw new Error(`Shard ${this.id} has no replica on store ${storeId}`);
    return member;
  }

  /** Makes the replica on store `storeId` the leader in a new term (every other one a follower). */
  elect(storeId: number): void {
    this.term++;
    for (const member of this.members) member.role = member.id === storeId ? "leader" : "follower";
  }
}

export class FakeStore {
  readonly id: number;
  readonly replicas = new Map<number, FakeReplica>();
  /** Every request the store received, in order (STATUS of the whole store included). */
  readonly received: KvRequest[] = [];
  /** Set for a metadata store: answers TOPOLOGY with what this returns. */
  topology: (() => Topology) | null = null;
  #server: KvServer | null = null;
  readonly #waiting = new Set<() => void>();
  port = 0;

  constructor(id: number) {
    this.id = id;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.#server !== null;
  }

  async start(): Promise<void> {
    const server = new KvServer({ host: "127.0.0.1", port: this.port, handler: (request) => this.#handle(request), logger: silentLogger, drainTimeoutMs: 200 });
    this.port = (await server.start()).port;
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const wake of [...this.#waiting]) wake();
    await server?.close();
  }

  /** STATUS requests for the whole store (shard 0), as the health monitor and `ukv status` send. */
  storeStatusCount(): number {
    return this.received.filter((request) => request.op === "STATUS" && (request.shard ?? 0) === 0).length;
  }

  async #handle(request: KvRequest): Promise<KvResponse> {
    this.received.push(request);
    const shardId = request.shard ?? 0;
    if (request.op === "TOPOLOGY") return this.#topologyAnswer(request);
    if (shardId === 0) {
      const metaReplica = this.replicas.get(0);
      if (request.op === "ADMIN" && metaReplica !== undefined) return metaReplica.handle(request);
      if (request.op === "ADMIN") return makeKvResponse(request.id, "NOT_LEADER", { leaderAddress: "", message: `Store ${this.id} holds no metadata replica` });
      if (request.op !== "STATUS") return makeKvResponse(request.id, "BAD_REQUEST", { message: "A fake store does not route: tag the request with its shard" });
      const groups = [...this.replicas.values()].map((replica) => replica.status());
      return makeKvResponse(request.id, "OK", { statusJson: JSON.stringify({ role: "store", storeId: this.id, groups }) });
    }
    const replica = this.replicas.get(shardId);
    if (replica === undefined) return makeKvResponse(request.id, "WRONG_SHARD", { message: `Store ${this.id} holds no replica of shard ${shardId}` });
    return replica.handle(request);
  }

  async #topologyAnswer(request: KvRequest): Promise<KvResponse> {
    const topology = this.topology;
    if (topology === null) return makeKvResponse(request.id, "BAD_REQUEST", { message: `Store ${this.id} holds no metadata replica` });
    const knownText = decoder.decode(request.value);
    if (knownText !== "" && Number(knownText) >= topology().epoch) {
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.#waiting.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, topologyWatchWaitMs);
        this.#waiting.add(wake);
      });
    }
    return makeKvResponse(request.id, "OK", { statusJson: JSON.stringify({ group: { groupId: 0 }, topology: topology() }) });
  }
}

export class FakeCluster {
  readonly stores: FakeStore[];
  readonly shards: FakeShard[];
  /** The metadata group (group 0) on the metadata stores, its first store leading; null without them. */
  metaGroup: FakeShard | null = null;
  /** The epoch metadata stores answer TOPOLOGY with. */
  epoch = 1;

  private constructor(stores: FakeStore[], shards: FakeShard[]) {
    this.stores = stores;
    this.shards = shards;
  }

  /**
   * Shard i + 1 on the stores `placement[i]` (ids from 1), its first store leading. Stores
   * `metaStores` (default none) answer TOPOLOGY with the layout.
   */
  static async start(placement: readonly (readonly number[])[], options: { metaStores?: readonly number[] } = {}): Promise<FakeCluster> {
    const storeIds = [...new Set([...placement.flat(), ...(options.metaStores ?? [])])].sort((left, right) => left - right);
    const stores = storeIds.map((id) => new FakeStore(id));
    const storeById = new Map(stores.map((store) => [store.id, store]));
    const shards = placement.map((storeIdsOfShard, index) => {
      const shard = new FakeShard(index + 1);
      for (const storeId of storeIdsOfShard) {
        const store = storeById.get(storeId)!;
        const replica = new FakeReplica(shard, store);
        shard.members.push(replica);
        store.replicas.set(shard.id, replica);
      }
      shard.elect(storeIdsOfShard[0]!);
      return shard;
    });
    for (const store of stores) await store.start();
    const cluster = new FakeCluster(stores, shards);
    const metaStores = options.metaStores ?? [];
    if (metaStores.length > 0) cluster.metaGroup = new FakeShard(0);
    for (const storeId of metaStores) {
      const store = storeById.get(storeId)!;
      store.topology = () => ({ epoch: cluster.epoch, layout: cluster.layout(), leaders: {}, health: {}, memberships: {} });
      const replica = new FakeReplica(cluster.metaGroup!, store);
      cluster.metaGroup!.members.push(replica);
      store.replicas.set(0, replica);
    }
    if (metaStores.length > 0) cluster.metaGroup!.elect(metaStores[0]!);
    return cluster;
  }

  shard(id: number): FakeShard {
    const shard = this.shards.find((candidate) => candidate.id === id);
    if (shard === undefined) throw new Error(`No shard ${id}`);
    return shard;
  }

  store(id: number): FakeStore {
    const store = this.stores.find((candidate) => candidate.id === id);
    if (store === undefined) throw new Error(`No store ${id}`);
    return store;
  }

  /** The layout the metadata group serves (and a ShardedClient or router takes): stores, and shards by store id. */
  layout(): TopologyLayout {
    const raftAddressOf = (storeId: number): string => `127.0.0.1:${1050 + storeId}`;
    const ranges = new Map(equalRanges(this.shards.map((shard) => shard.id)).map((range) => [range.shardId, rangeToJson(range)]));
    return {
      stores: this.stores.map((store) => ({ id: store.id, raftAddress: raftAddressOf(store.id), clientAddress: store.address, respAddress: null })),
      shards: this.shards.map((shard) => ({
        id: shard.id,
        range: ranges.get(shard.id)!,
        members: shard.members.map((member) => ({ id: member.id, raftAddress: raftAddressOf(member.id), clientAddress: member.address })),
      })),
    };
  }

  async stop(): Promise<void> {
    for (const store of this.stores) await store.stop();
  }
}

/** `shardCount` shards on disjoint stores: shard s on stores (s-1)·replication + 1 .. s·replication. */
export function disjointPlacement(shardCount: number, replication = 3): number[][] {
  return Array.from({ length: shardCount }, (_, shardIndex) => Array.from({ length: replication }, (_, k) => shardIndex * replication + k + 1));
}

export function keysOf(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, index) => `${prefix}-${index}`);
}

/** A KvServer on an ephemeral port answering with `handler`: one port of a store, for tests that watch which port a request reaches. */
export async function startKvServer(handler: (request: KvRequest) => KvResponse): Promise<{ server: KvServer; address: string }> {
  const server = new KvServer({ host: "127.0.0.1", port: 0, logger: silentLogger, handler: async (request) => handler(request) });
  const { port } = await server.start();
  return { server, address: `127.0.0.1:${port}` };
}
