// The cluster topology as the metadata group serves it (JSON in a TOPOLOGY answer), and the report
// each store sends it: the one definition shared by the metadata state machine that produces it
// and the stores, routers, smart clients and admin commands that consume it.
import type { KeyRangeJson } from "../ring/range-map.ts";

/** A store: one `ukv node` process. Addresses are the advertised ones (what others dial). */
export interface StoreInfo {
  id: number;
  raftAddress: string;
  clientAddress: string;
  respAddress: string | null;
  /** Where its /metrics and dashboard answer (absent in layouts written before it was carried). */
  httpAddress?: string | null;
}

/** A replica of a shard, named by the store that hosts it (a replica's Raft id is its store id). */
export interface TopologyMember {
  id: number;
  raftAddress: string;
  clientAddress: string;
}

export interface TopologyShard {
  id: number;
  members: TopologyMember[];
  learners?: TopologyMember[];
  /** The hash range the shard owns (newest version reported; the layout's until a split). */
  range: KeyRangeJson;
}

export interface TopologyLayout {
  stores: StoreInfo[];
  shards: TopologyShard[];
}

export interface LeaderReport {
  nodeId: number;
  term: number;
}

/** One replica's state as its store last reported it. */
export interface GroupHealth {
  shardId: number;
  role: string;
  term: number;
  leader: number;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  keyCount: number;
  /** The replica's table memory (entries, slots, control bytes); absent in a report of an older store. */
  bytes?: number;
  /** Keys read from this replica since its store started; absent in a report of an older store. */
  keysRead?: number;
}

export interface StoreHealth {
  storeId: number;
  reportedAtMs: number;
  groups: GroupHealth[];
}

export interface MembershipReport {
  /** Log index of the conf change (or snapshot) that set this membership. */
  confIndex: number;
  voters: number[];
  learners: number[];
  addresses: Record<string, { raftAddress: string; clientAddress: string }>;
}

/**
 * What a store sends the metadata group every second (and at once when it wins a leadership):
 * its replicas' health, and for the groups it leads the leadership and membership. One write per
 * store, however many shards it hosts.
 */
export interface StoreReport {
  storeId: number;
  health: StoreHealth;
  leaders: { shardId: number; term: number }[];
  memberships: Record<string, MembershipReport>;
  /**
   * Shard id -> the range its replica here owns, for every replica of the store: the parent and
   * the child of a split are on the same stores, so one report carries both new ranges and the
   * metadata never sees a hole between them. Newer versions win.
   */
  ranges?: Record<string, KeyRangeJson>;
}

export interface Topology {
  /** Increases on every change of placement (layout, memberships, stores); not on leader changes. */
  epoch: number;
  layout: TopologyLayout | null;
  /** Shard id -> its leader as reported (informational; routing follows NOT_LEADER hints). */
  leaders: Record<string, LeaderReport>;
  /** Store id -> its last report. */
  health: Record<string, StoreHealth>;
  /** Each shard's newest membership report, by shard id (already merged into layout). */
  memberships: Record<string, MembershipReport>;
  /** Stores being drained (`ukv admin drain`): the coordinator moves every replica off them. */
  draining?: number[];
}
