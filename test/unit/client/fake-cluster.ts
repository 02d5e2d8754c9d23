// Fake shard members for routing tests: real KvServers on 127.0.0.1 (port 0) whose handler plays a
// member with a scripted role. A leader stores SET/DELETE in a Map; a follower answers NOT_LEADER
// with the hint it is given and serves GET from the shared per-shard store (replication is not the
// subject here); STATUS answers the JSON a real member gives. Members can be stopped (connection
// refused) and restarted on the same port.
import { KvServer } from "../../../src/transport/kv-server.ts";
import { makeKvResponse, type KvRequest, type KvResponse } from "../../../src/transport/kv-protocol.ts";
import pino from "pino";

const decoder = new TextDecoder();
const silentLogger = pino({ level: "silent" });

export class FakeMember {
  readonly id: number;
  readonly shard: FakeShard;
  role: "leader" | "follower" = "follower";
  /** What STATUS reports as leader (0 = none); defaults to the shard's leader. */
  statusLeaderOverride: number | null = null;
  /** What STATUS reports as role; defaults to the real role. */
  statusRoleOverride: string | null = null;
  /** When set, a follower's NOT_LEADER carries this hint instead of the real leader's address. */
  hintOverride: string | null = null;
  readonly received: KvRequest[] = [];
  #server: KvServer | null = null;
  port = 0;

  constructor(id: number, shard: FakeShard) {
    this.id = id;
    this.shard = shard;
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
    await server?.close();
  }

  countOf(op: KvRequest["op"]): number {
    return this.received.filter((request) => request.op === op).length;
  }

  #handle(request: KvRequest): Promise<KvResponse> {
    this.received.push(request);
    const shard = this.shard;
    const leader = shard.leader();
    if (request.op === "STATUS") {
      const status = {
        nodeId: this.id,
        groupId: shard.id,
        role: this.statusRoleOverride ?? this.role,
        term: shard.term,
        leader: this.statusLeaderOverride ?? leader?.id ?? 0,
        commitIndex: shard.writeCount,
        appliedIndex: shard.writeCount,
        lastIndex: shard.writeCount,
        snapshotIndex: 0,
        keyCount: shard.store.size,
      };
      return Promise.resolve(makeKvResponse(request.id, "OK", { statusJson: JSON.stringify(status) }));
    }
    const key = decoder.decode(request.key);
    if (request.op === "GET" && !request.linearizable) return Promise.resolve(this.#read(request.id, key));
    if (this.role !== "leader") {
      const hint = this.hintOverride ?? (leader === null ? "" : leader.address);
      return Promise.resolve(makeKvResponse(request.id, "NOT_LEADER", { leaderAddress: hint, message: `Node ${this.id} is not the leader` }));
    }
    if (request.op === "GET") return Promise.resolve(this.#read(request.id, key));
    shard.writeCount++;
    if (request.op === "SET") shard.store.set(key, request.value.slice());
    else shard.store.delete(key);
    return Promise.resolve(makeKvResponse(request.id, "OK"));
  }

  #read(id: number, key: string): KvResponse {
    const value = this.shard.store.get(key);
    return value === undefined ? makeKvResponse(id, "NOT_FOUND") : makeKvResponse(id, "OK", { value });
  }
}

export class FakeShard {
  readonly id: number;
  readonly members: FakeMember[] = [];
  readonly store = new Map<string, Uint8Array>();
  term = 1;
  writeCount = 0;

  constructor(id: number, memberIds: readonly number[]) {
    this.id = id;
    for (const memberId of memberIds) this.members.push(new FakeMember(memberId, this));
  }

  leader(): FakeMember | null {
    return this.members.find((member) => member.role === "leader" && member.running) ?? null;
  }

  member(id: number): FakeMember {
    const member = this.members.find((candidate) => candidate.id === id);
    if (member === undefined) throw new Error(`No member ${id}`);
    return member;
  }

  /** Makes `id` the leader in a new term (every other member a follower). */
  elect(id: number): void {
    this.term++;
    for (const member of this.members) member.role = member.id === id ? "leader" : "follower";
  }
}

export class FakeCluster {
  readonly shards: FakeShard[];

  private constructor(shards: FakeShard[]) {
    this.shards = shards;
  }

  /** `shardCount` shards of `replicas` members; member k of shard s has id 10*s + k; first member leads. */
  static async start(shardCount: number, replicas = 3): Promise<FakeCluster> {
    const shards: FakeShard[] = [];
    for (let shardIndex = 1; shardIndex <= shardCount; shardIndex++) {
      const shard = new FakeShard(shardIndex, Array.from({ length: replicas }, (_, k) => 10 * shardIndex + k + 1));
      for (const member of shard.members) await member.start();
      shard.elect(shard.members[0]!.id);
      shards.push(shard);
    }
    return new FakeCluster(shards);
  }

  shard(id: number): FakeShard {
    const shard = this.shards.find((candidate) => candidate.id === id);
    if (shard === undefined) throw new Error(`No shard ${id}`);
    return shard;
  }

  /** The layout a ShardedClient or router takes (the shape of ClusterConfig's shards). */
  layout(): { shards: { id: number; members: { id: number; clientAddress: string; raftAddress: string }[]; allowFewerThanThreeMembers: boolean }[] } {
    return {
      shards: this.shards.map((shard) => ({
        id: shard.id,
        allowFewerThanThreeMembers: false,
        members: shard.members.map((member) => ({ id: member.id, clientAddress: member.address, raftAddress: "127.0.0.1:1" })),
      })),
    };
  }

  async stop(): Promise<void> {
    for (const shard of this.shards) for (const member of shard.members) await member.stop();
  }
}

export function keysOf(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, index) => `${prefix}-${index}`);
}
