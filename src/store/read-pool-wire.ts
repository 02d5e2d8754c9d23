// The messages between a store's Raft thread (read-pool.ts) and its read-pool Workers
// (read-pool-worker.ts). Structured clone carries them, a turn's messages in one batch
// (post-batcher.ts); bytes are Uint8Arrays.
import type { KvRequest, KvResponse } from "../transport/kv-protocol.ts";
import type { PoolReplica } from "./pool-reads.ts";

/** The session state a Worker needs to decide whether it may answer a read itself. */
export interface PoolSessionFlags {
  authenticated: boolean;
  protocol: 2 | 3;
  /** CLIENT READMODE linearizable: every read goes through the Raft thread (ReadIndex). */
  linearizable: boolean;
  /** Between MULTI and EXEC: reads are queued, not answered. */
  inMulti: boolean;
}

/** Reads a Worker answered itself, by command. */
export interface PoolReadCountsByCommand {
  get: number;
  mget: number;
  exists: number;
  /** GETs of the raw client protocol, without and with a shard (metrics: listener client / peer). */
  kvGet: number;
  kvShardGet: number;
}

export type ToWorker =
  /** `resp` / `client`: the listeners to share (null: that one is not the pool's). */
  | { type: "start"; workerIndex: number; resp: PoolListen | null; client: PoolListen | null; requirepass: string | null }
  | { type: "routing"; replicas: PoolReplica[] }
  /** Replies of the Raft thread for connection `conn`; `answered`: how many of its forwarded commands they complete. */
  | { type: "reply"; conn: number; bytes: Uint8Array; answered: number; session: PoolSessionFlags }
  /** The Raft thread's session ended the connection (QUIT, protocol error) after the replies sent. */
  | { type: "end"; conn: number }
  | { type: "stop"; drainTimeoutMs: number }
  /** The store's answer to a forwarded raw-protocol request. */
  | { type: "kv-response"; conn: number; response: KvResponse };

export interface PoolListen {
  host: string;
  /** 0: ephemeral (the first Worker's port becomes every Worker's). */
  port: number;
  connectionCountMax: number;
}

export type FromWorker =
  | { type: "listening"; respPort: number | null; clientPort: number | null }
  | { type: "listen-failed"; message: string }
  | { type: "open"; conn: number; remote: string }
  /** `count` complete commands, RESP-encoded, for the Raft thread's session of `conn`. */
  | { type: "forward"; conn: number; bytes: Uint8Array; count: number }
  | { type: "closed"; conn: number }
  /** Counters since the last report (INFO's totals). */
  | { type: "stats"; commands: number; reads: PoolReadCountsByCommand; hits: number; misses: number; /** [shardId, keys read] */ keysReadByShard: [number, number][]; /** [shardId, sampled hashes] */ hashesByShard: [number, bigint[]][] }
  | { type: "stopped" }
  /** Raw client protocol: a connection opened or closed (counted for metrics), a request for the store's handler. */
  | { type: "kv-open" }
  | { type: "kv-closed" }
  | { type: "kv-request"; conn: number; request: KvRequest };
