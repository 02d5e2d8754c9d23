// The cluster topology as the metadata group serves it (JSON in a STATUS/WATCH answer): shared by
// the meta store that produces it and the router and smart client that consume it.

export interface TopologyMember {
  id: number;
  raftAddress: string;
  clientAddress: string;
}

export interface TopologyShard {
  id: number;
  members: TopologyMember[];
  learners?: TopologyMember[];
}

export interface TopologyLayout {
  shards: TopologyShard[];
}

export interface LeaderReport {
  nodeId: number;
  term: number;
}

export interface HealthReport {
  nodeId: number;
  shardId: number;
  role: string;
  term: number;
  leader: number;
  commitIndex: number;
  appliedIndex: number;
  keyCount: number;
  reportedAtMs: number;
}

export interface Topology {
  epoch: number;
  layout: TopologyLayout | null;
  leaders: Record<string, LeaderReport>;
  health: Record<string, HealthReport>;
  /** Each shard's newest membership report, by shard id (already merged into layout). */
  memberships: Record<string, MembershipReport>;
}

export interface MembershipReport {
  /** Log index of the conf change (or snapshot) that set this membership. */
  confIndex: number;
  voters: number[];
  learners: number[];
  addresses: Record<string, { raftAddress: string; clientAddress: string }>;
}
