// The clients of a chaos run: each is a sequential loop (one op in flight per client, as the
// history model requires) of SETs of unique values, DELETEs and linearizable GETs on a small
// contended key set, SETs of unique keys, and follower GETs of random replicas. Every store routes
// every key, so key operations go to the client's entry store untagged (shard 0) and that store
// routes them (a local replica, or the shard's leader store); a client moves to another store when
// its entry store stops answering. A follower GET goes to one replica: tagged with its shard, sent
// to a store holding a replica of it, served by that replica alone (never forwarded).
// A write is never retried by the harness: its outcome may be unknown, and a retried SET could
// take effect twice around another write, which no single linearization point explains.
import type { ChaosCluster } from "./chaos-cluster.ts";
import type { History } from "./history.ts";
import type { KvResponse } from "../transport/kv-protocol.ts";
import { KvClient } from "../transport/kv-client.ts";
import { Prng } from "../util/prng.ts";
import { assert } from "../util/assert.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface WorkloadOptions {
  clientCount: number;
  contendedKeyCount: number;
  seed: number;
  /** Pause after a failed request, so a client does not spin on a dead store. */
  backoffMs: number;
}

/** Answers that say the store itself is in trouble (down, paused, starting): try another store. */
const storeTroubleCodes: ReadonlySet<string> = new Set(["UNREACHABLE", "TIMEOUT", "UNAVAILABLE"]);

/**
 * Where the clients send requests: one KvClient per store, and the cluster's range map (key ->
 * shard) to find a shard's replicas for follower reads. Both follow the cluster: the replicas of a
 * shard are its CURRENT ones (the membership and move nemeses change them), and the ranges are the
 * metadata group's as last read (the split nemesis makes new shards; a follower read answered
 * STALE_EPOCH or WRONG_SHARD asks the cluster to read them again).
 */
export class StoreRouter {
  readonly #cluster: ChaosCluster;
  readonly #clients = new Map<number, KvClient>();
  readonly #timeoutMs: number;

  /** `timeoutMs` per request: longer than a store's routing retry window, so its last answer arrives. */
  constructor(cluster: ChaosCluster, timeoutMs: number) {
    this.#cluster = cluster;
    this.#timeoutMs = timeoutMs;
  }

  get storeIds(): number[] {
    return this.#cluster.storeIds;
  }

  shardOf(key: string): number {
    return this.#cluster.ranges.shardForKey(encoder.encode(key));
  }

  /** Store ids of the shard's current replicas. */
  replicasOf(shardId: number): number[] {
    const replicas = this.#cluster.group(shardId).replicas;
    assert(replicas.length > 0, "a shard has current replicas");
    return [...replicas];
  }

  /** The ranges or the placement this router used are stale: have the cluster read them again. */
  noteStaleRouting(): void {
    this.#cluster.requestTopologyRefresh();
  }

  client(storeId: number): KvClient {
    let client = this.#clients.get(storeId);
    if (client === undefined) {
      client = new KvClient(this.#cluster.store(storeId).clientAddress, { timeoutMs: this.#timeoutMs, connectTimeoutMs: 1000 });
      this.#clients.set(storeId, client);
    }
    return client;
  }

  /** A GET, SET or DELETE sent to `storeId` untagged: the store routes it. */
  routed(storeId: number, op: "GET" | "SET" | "DELETE", key: string, options: { value?: string; linearizable?: boolean } = {}): Promise<KvResponse> {
    const value = op === "SET" ? encoder.encode(options.value ?? "") : new Uint8Array(0);
    return this.client(storeId).request({ op, key: encoder.encode(key), value, linearizable: options.linearizable ?? false, shard: 0 });
  }

  /** A follower GET served by the replica of `shardId` on `storeId` (shard-tagged: never forwarded). */
  replicaGet(storeId: number, shardId: number, key: string): Promise<KvResponse> {
    return this.client(storeId).request({ op: "GET", key: encoder.encode(key), value: new Uint8Array(0), linearizable: false, shard: shardId });
  }

  close(): void {
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }
}

export function decodeValue(response: KvResponse): string | null {
  return response.code === "OK" ? decoder.decode(response.value) : null;
}

/** True when the answer says to try another store next time. */
export function isStoreTrouble(response: KvResponse): boolean {
  return storeTroubleCodes.has(response.code);
}

/** Runs `clientCount` client loops until `deadlineMs` (History's clock); resolves when all stop. */
export async function runWorkload(args: { router: StoreRouter; history: History; options: WorkloadOptions; clock(): number; deadlineMs: number; uniqueKeys: Set<string> }): Promise<void> {
  const loops: Promise<void>[] = [];
  for (let clientIndex = 0; clientIndex < args.options.clientCount; clientIndex++) {
    loops.push(clientLoop({ ...args, clientIndex, prng: new Prng(args.options.seed * 7919 + clientIndex) }));
  }
  await Promise.all(loops);
}

interface ClientState {
  router: StoreRouter;
  history: History;
  clientIndex: number;
  prng: Prng;
  /** The store this client sends routed requests to. */
  entryStore: number;
}

async function clientLoop(args: {
  router: StoreRouter;
  history: History;
  options: WorkloadOptions;
  clock(): number;
  deadlineMs: number;
  uniqueKeys: Set<string>;
  clientIndex: number;
  prng: Prng;
}): Promise<void> {
  const { router, options, prng, clientIndex } = args;
  const stores = router.storeIds;
  const state: ClientState = { router, history: args.history, clientIndex, prng, entryStore: stores[clientIndex % stores.length]! };
  let sequence = 0;
  while (args.clock() < args.deadlineMs) {
    sequence++;
    const roll = prng.nextFloat();
    const contendedKey = `c${prng.nextInt(options.contendedKeyCount)}`;
    let failed: boolean;
    if (roll < 0.3) failed = await write(state, { kind: "set", key: contendedKey, value: `v-${clientIndex}-${sequence}` });
    else if (roll < 0.37) failed = await write(state, { kind: "delete", key: contendedKey, value: null });
    else if (roll < 0.62) failed = await linearizableRead(state, contendedKey);
    else if (roll < 0.82) failed = await followerRead(state, prng.chance(0.8) ? contendedKey : `u-${prng.nextInt(options.clientCount)}-${1 + prng.nextInt(sequence)}`);
    else {
      const key = `u-${clientIndex}-${sequence}`;
      args.uniqueKeys.add(key);
      failed = await write(state, { kind: "set", key, value: `v-${clientIndex}-${sequence}` });
    }
    if (failed) await Bun.sleep(options.backoffMs);
  }
}

/** After an answer that blames the entry store, the next routed request goes to another store. */
function noteEntryAnswer(state: ClientState, response: KvResponse): void {
  if (!isStoreTrouble(response)) return;
  const others = state.router.storeIds.filter((id) => id !== state.entryStore);
  if (others.length > 0) state.entryStore = others[state.prng.nextInt(others.length)]!;
}

/** A SET or DELETE through the entry store; returns true when it did not succeed. */
async function write(state: ClientState, op: { kind: "set" | "delete"; key: string; value: string | null }): Promise<boolean> {
  const store = state.entryStore;
  const id = state.history.invoke({ client: state.clientIndex, kind: op.kind, key: op.key, value: op.value, node: store });
  const response = op.kind === "set" ? await state.router.routed(store, "SET", op.key, { value: op.value ?? "" }) : await state.router.routed(store, "DELETE", op.key);
  noteEntryAnswer(state, response);
  if (response.code === "OK") {
    state.history.complete(id, "ok");
    return false;
  }
  // Refused by the protocol checks before any handler ran: certainly no effect. Every other
  // answer (a timeout, a broken connection, NOT_LEADER or UNAVAILABLE from a routing store that
  // may have tried a leader first) leaves the outcome unknown.
  const certainlyRefused = response.code === "BAD_REQUEST" || response.code === "KEY_TOO_LARGE" || response.code === "VALUE_TOO_LARGE";
  state.history.complete(id, certainlyRefused ? "fail" : "unknown");
  return true;
}

async function linearizableRead(state: ClientState, key: string): Promise<boolean> {
  const store = state.entryStore;
  const id = state.history.invoke({ client: state.clientIndex, kind: "get", key, node: store });
  const response = await state.router.routed(store, "GET", key, { linearizable: true });
  noteEntryAnswer(state, response);
  if (response.code === "OK" || response.code === "NOT_FOUND") {
    state.history.complete(id, "ok", decodeValue(response));
    return false;
  }
  state.history.complete(id, "fail");
  return true;
}

/** A follower GET on a random current replica of the key's shard. */
async function followerRead(state: ClientState, key: string): Promise<boolean> {
  const shardId = state.router.shardOf(key);
  const replicas = state.router.replicasOf(shardId);
  const store = replicas[state.prng.nextInt(replicas.length)]!;
  const id = state.history.invoke({ client: state.clientIndex, kind: "followerGet", key, node: store });
  const response = await state.router.replicaGet(store, shardId, key);
  if (response.code === "OK" || response.code === "NOT_FOUND") {
    state.history.complete(id, "ok", decodeValue(response));
    return false;
  }
  if (response.code === "STALE_EPOCH" || response.code === "WRONG_SHARD") state.router.noteStaleRouting();
  state.history.complete(id, "fail");
  return true;
}
