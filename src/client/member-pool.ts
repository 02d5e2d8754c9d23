// One pipelined KvClient per member address, shared by every request to that member, plus what
// the routing needs to know about each member: when it last answered and when it last failed.
// A KvClient redials by itself after a broken connection, so a client is made once per address
// and only closed with the pool.
import { KvClient } from "../transport/kv-client.ts";
import { makeKvResponse, type KvRequest, type KvResponse } from "../transport/kv-protocol.ts";
import { assert } from "../util/assert.ts";

/** Codes that say the member itself could not serve (as opposed to an answer about the key). */
const memberFailureCodes: ReadonlySet<string> = new Set(["UNREACHABLE", "TIMEOUT", "UNAVAILABLE"]);

export function isMemberFailure(response: KvResponse): boolean {
  return memberFailureCodes.has(response.code);
}

function withTimeout(answer: Promise<KvResponse>, timeoutMs: number, address: string): Promise<KvResponse> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timedOut = new Promise<KvResponse>((resolve) => {
    timer = setTimeout(() => resolve(makeKvResponse(0, "TIMEOUT", { message: `No answer from ${address} within ${timeoutMs} ms` })), timeoutMs);
  });
  return Promise.race([answer, timedOut]).finally(() => {
    if (timer !== null) clearTimeout(timer);
  });
}

export interface MemberHealth {
  /** performance.now() of the last answer that was not a member failure; null if never. */
  lastAnswerMs: number | null;
  /** performance.now() of the last member failure; null if never. */
  lastFailureMs: number | null;
}

export interface MemberPoolOptions {
  /** Per request sent to a member. */
  requestTimeoutMs: number;
  connectTimeoutMs?: number;
  /** Clock for health stamps; default performance.now (tests pass their own). */
  nowMs?: () => number;
  /**
   * Where a request to the member at `address` is sent, when not there (inside a store: writes go
   * to the member's Raft port, see Store.raftAddressOfClient). Health stays the member's.
   */
  dialAddressOf?: (address: string, fields: Omit<KvRequest, "id">) => string;
}

/**
 * MemberPoolOptions.dialAddressOf for writes through Raft ports: follower GETs go to the member's
 * client port (where a store's read pool answers them), everything else to its Raft port (served
 * on the store's Raft thread, one thread hop shorter when a read pool owns the client port).
 * `raftAddressOf` maps a client address to that store's Raft address, null when unknown.
 */
export function dialRaftPortForWrites(raftAddressOf: (clientAddress: string) => string | null): (address: string, fields: Omit<KvRequest, "id">) => string {
  return (address, fields) => (fields.op === "GET" && !fields.linearizable ? address : (raftAddressOf(address) ?? address));
}

/** Bound on distinct member addresses (every member of the largest config, with room). */
export const memberPoolAddressCountMax = 64 * 9 * 4;

export class MemberPool {
  readonly #options: MemberPoolOptions;
  readonly #clients = new Map<string, KvClient>();
  readonly #health = new Map<string, MemberHealth>();
  readonly #nowMs: () => number;
  #closed = false;

  constructor(options: MemberPoolOptions) {
    assert(options.requestTimeoutMs > 0, "the member request timeout is positive");
    this.#options = options;
    this.#nowMs = options.nowMs ?? (() => performance.now());
  }

  nowMs(): number {
    return this.#nowMs();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends one request to `address` and records how the member did. Never rejects. `timeoutMs`
   * (shorter than the pool's) answers TIMEOUT early, for probes; the request itself runs on to
   * the pool's timeout, so the member's queue stays bounded by it.
   */
  async send(address: string, fields: Omit<KvRequest, "id">, timeoutMs?: number): Promise<KvResponse> {
    const answer = this.#client(this.#options.dialAddressOf?.(address, fields) ?? address).request(fields);
    const response = timeoutMs === undefined ? await answer : await withTimeout(answer, timeoutMs, address);
    const health = this.health(address);
    if (isMemberFailure(response)) health.lastFailureMs = this.#nowMs();
    else health.lastAnswerMs = this.#nowMs();
    return response;
  }

  /** The health record of `address` (created empty on first use). */
  health(address: string): MemberHealth {
    let health = this.#health.get(address);
    if (health === undefined) {
      health = { lastAnswerMs: null, lastFailureMs: null };
      this.#health.set(address, health);
    }
    return health;
  }

  /** Answered within `windowMs` and not failed since that answer. */
  answeredRecently(address: string, windowMs: number): boolean {
    const health = this.#health.get(address);
    if (health === undefined || health.lastAnswerMs === null) return false;
    if (health.lastFailureMs !== null && health.lastFailureMs > health.lastAnswerMs) return false;
    return this.#nowMs() - health.lastAnswerMs <= windowMs;
  }

  /** Failed within `windowMs` with no answer since: skip it for reads until the window passes. */
  failedRecently(address: string, windowMs: number): boolean {
    const health = this.#health.get(address);
    if (health === undefined || health.lastFailureMs === null) return false;
    if (health.lastAnswerMs !== null && health.lastAnswerMs > health.lastFailureMs) return false;
    return this.#nowMs() - health.lastFailureMs <= windowMs;
  }

  close(): void {
    this.#closed = true;
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }

  #client(address: string): KvClient {
    let client = this.#clients.get(address);
    if (client === undefined) {
      assert(this.#clients.size < memberPoolAddressCountMax, "member addresses come from a bounded topology");
      client = new KvClient(address, {
        timeoutMs: this.#options.requestTimeoutMs,
        ...(this.#options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: this.#options.connectTimeoutMs }),
      });
      // After close() a KvClient answers UNREACHABLE at once; keep that behaviour for the pool.
      if (this.#closed) client.close();
      else this.#clients.set(address, client);
    }
    return client;
  }
}
