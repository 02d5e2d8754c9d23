// The clients of a chaos run: each is a sequential loop (one op in flight per client, as the
// history model requires) of SETs of unique values, DELETEs and linearizable GETs on a small
// contended key set, SETs of unique keys, and follower GETs of random members. A write is never
// retried: its outcome may be unknown, and a retried SET could take effect twice around another
// write, which no single linearization point explains.
import type { ChaosCluster } from "./chaos-cluster.ts";
import type { History } from "./history.ts";
import type { KvResponse } from "../transport/kv-protocol.ts";
import { KvClient } from "../transport/kv-client.ts";
import { topologyFromLayout, type Topology } from "../client/topology.ts";
import { Prng } from "../util/prng.ts";
import { assert } from "../util/assert.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface WorkloadOptions {
  clientCount: number;
  contendedKeyCount: number;
  seed: number;
  requestTimeoutMs: number;
  /** Pause after a failed request, so a client does not spin on a dead member. */
  backoffMs: number;
}

/**
 * Where the clients send requests: a leader guess per shard and one KvClient per member. The
 * members of a shard are the cluster's CURRENT ones (the membership nemesis adds and removes
 * them); the ring (key -> shard) never changes.
 */
export class MemberRouter {
  readonly topology: Topology;
  readonly #cluster: ChaosCluster;
  readonly #clients = new Map<number, KvClient>();
  readonly #leaderGuess = new Map<number, number>();
  readonly #timeoutMs: number;

  constructor(cluster: ChaosCluster, timeoutMs: number) {
    this.#cluster = cluster;
    this.topology = topologyFromLayout(cluster.config);
    this.#timeoutMs = timeoutMs;
  }

  shardOf(key: string): number {
    return this.topology.ring.shardForKey(encoder.encode(key));
  }

  membersOf(shardId: number): number[] {
    assert(this.topology.shards.has(shardId), "the ring names known shards");
    const group = this.#cluster.groups.find((candidate) => candidate.groupId === shardId);
    assert(group !== undefined && group.members.length > 0, "a shard has current members");
    return group.members.map((member) => member.id);
  }

  /** The guessed leader, if still a member (a removed one is never asked again), else the first member. */
  leaderGuess(shardId: number): number {
    const members = this.membersOf(shardId);
    const guess = this.#leaderGuess.get(shardId);
    return guess !== undefined && members.includes(guess) ? guess : members[0]!;
  }

  /** Learns from an answer: a NOT_LEADER hint names the leader; other failures try the next member. */
  learn(shardId: number, member: number, response: KvResponse): void {
    if (response.code === "OK" || response.code === "NOT_FOUND") return;
    const members = this.membersOf(shardId);
    if (response.code === "NOT_LEADER" && response.leaderAddress !== "") {
      const hinted = members.find((id) => this.#cluster.member(id).clientAddress === response.leaderAddress);
      if (hinted !== undefined) {
        this.#leaderGuess.set(shardId, hinted);
        return;
      }
    }
    const next = members[(members.indexOf(member) + 1) % members.length]!;
    this.#leaderGuess.set(shardId, next);
  }

  client(member: number): KvClient {
    let client = this.#clients.get(member);
    if (client === undefined) {
      client = new KvClient(this.#cluster.member(member).clientAddress, { timeoutMs: this.#timeoutMs, connectTimeoutMs: Math.min(1000, this.#timeoutMs) });
      this.#clients.set(member, client);
    }
    return client;
  }

  close(): void {
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }
}

export function decodeValue(response: KvResponse): string | null {
  return response.code === "OK" ? decoder.decode(response.value) : null;
}

/** Runs `clientCount` client loops until `deadlineMs` (History's clock); resolves when all stop. */
export async function runWorkload(args: { router: MemberRouter; history: History; options: WorkloadOptions; clock(): number; deadlineMs: number; uniqueKeys: Set<string> }): Promise<void> {
  const loops: Promise<void>[] = [];
  for (let clientIndex = 0; clientIndex < args.options.clientCount; clientIndex++) {
    loops.push(clientLoop({ ...args, clientIndex, prng: new Prng(args.options.seed * 7919 + clientIndex) }));
  }
  await Promise.all(loops);
}

async function clientLoop(args: {
  router: MemberRouter;
  history: History;
  options: WorkloadOptions;
  clock(): number;
  deadlineMs: number;
  uniqueKeys: Set<string>;
  clientIndex: number;
  prng: Prng;
}): Promise<void> {
  const { router, history, options, prng, clientIndex } = args;
  let sequence = 0;
  while (args.clock() < args.deadlineMs) {
    sequence++;
    const roll = prng.nextFloat();
    const contendedKey = `c${prng.nextInt(options.contendedKeyCount)}`;
    let failed: boolean;
    if (roll < 0.3) failed = await write(router, history, { client: clientIndex, kind: "set", key: contendedKey, value: `v-${clientIndex}-${sequence}` });
    else if (roll < 0.37) failed = await write(router, history, { client: clientIndex, kind: "delete", key: contendedKey, value: null });
    else if (roll < 0.62) failed = await linearizableRead(router, history, clientIndex, contendedKey);
    else if (roll < 0.82) failed = await followerRead(router, history, clientIndex, prng.chance(0.8) ? contendedKey : `u-${prng.nextInt(options.clientCount)}-${1 + prng.nextInt(sequence)}`, prng);
    else {
      const key = `u-${clientIndex}-${sequence}`;
      args.uniqueKeys.add(key);
      failed = await write(router, history, { client: clientIndex, kind: "set", key, value: `v-${clientIndex}-${sequence}` });
    }
    if (failed) await Bun.sleep(options.backoffMs);
  }
}

/** A SET or DELETE to the guessed leader; returns true when it did not succeed. */
async function write(router: MemberRouter, history: History, op: { client: number; kind: "set" | "delete"; key: string; value: string | null }): Promise<boolean> {
  const shardId = router.shardOf(op.key);
  const member = router.leaderGuess(shardId);
  const id = history.invoke({ client: op.client, kind: op.kind, key: op.key, value: op.value });
  const key = encoder.encode(op.key);
  const response = op.kind === "set" ? await router.client(member).set(key, encoder.encode(op.value ?? "")) : await router.client(member).delete(key);
  router.learn(shardId, member, response);
  if (response.code === "OK") {
    history.complete(id, "ok");
    return false;
  }
  // Refused by the protocol checks before any handler ran: certainly no effect.
  const certainlyRefused = response.code === "BAD_REQUEST" || response.code === "KEY_TOO_LARGE" || response.code === "VALUE_TOO_LARGE";
  history.complete(id, certainlyRefused ? "fail" : "unknown");
  return true;
}

async function linearizableRead(router: MemberRouter, history: History, client: number, key: string): Promise<boolean> {
  const shardId = router.shardOf(key);
  const member = router.leaderGuess(shardId);
  const id = history.invoke({ client, kind: "get", key });
  const response = await router.client(member).get(encoder.encode(key), { linearizable: true });
  router.learn(shardId, member, response);
  if (response.code === "OK" || response.code === "NOT_FOUND") {
    history.complete(id, "ok", decodeValue(response));
    return false;
  }
  history.complete(id, "fail");
  return true;
}

async function followerRead(router: MemberRouter, history: History, client: number, key: string, prng: Prng): Promise<boolean> {
  const members = router.membersOf(router.shardOf(key));
  const member = members[prng.nextInt(members.length)]!;
  const id = history.invoke({ client, kind: "followerGet", key, node: member });
  const response = await router.client(member).get(encoder.encode(key));
  if (response.code === "OK" || response.code === "NOT_FOUND") {
    history.complete(id, "ok", decodeValue(response));
    return false;
  }
  history.complete(id, "fail");
  return true;
}
