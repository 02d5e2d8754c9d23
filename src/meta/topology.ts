// The topology held by the metadata group, as keys of its replicated table:
//   layout            JSON: every shard with its members and addresses (the source of truth)
//   leader/<shardId>  JSON: the shard's current leader as reported by it {nodeId, term}
//   health/<nodeId>   JSON: a member's last self-report (role, term, applied index, time)
//   membership/<shardId> JSON: the shard's voters, learners and addresses as its leader applied
//                     them, versioned by the log index of that change (newest wins; overrides layout)
//   epoch             decimal: increases by one on every change of layout or of a leader
// The rules that keep these consistent run when a batch is APPLIED (topologyTransform below), so
// every meta member derives the same state from the same log: a stale leader report (lower term)
// is dropped, an unchanged value is not a change, and only the machine itself writes `epoch`.
import type { TableOp } from "../storage/table.ts";
import type { HealthReport, LeaderReport, MembershipReport, Topology, TopologyLayout, TopologyMember } from "../transport/topology-wire.ts";
import { UkvError } from "../util/errors.ts";

export const layoutKey = "layout";
export const epochKey = "epoch";
export const leaderKeyPrefix = "leader/";
export const healthKeyPrefix = "health/";
export const membershipKeyPrefix = "membership/";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new UkvError("BAD_REQUEST", `Topology value of ${what} is not JSON`, { cause: error });
  }
}

export function leaderKey(shardId: number): string {
  return `${leaderKeyPrefix}${shardId}`;
}

export function healthKey(nodeId: number): string {
  return `${healthKeyPrefix}${nodeId}`;
}

function isMembershipReport(value: unknown): value is MembershipReport {
  const report = value as MembershipReport | null;
  return (
    report !== null &&
    typeof report === "object" &&
    Number.isInteger(report.confIndex) &&
    Array.isArray(report.voters) &&
    Array.isArray(report.learners) &&
    report.addresses !== null &&
    typeof report.addresses === "object"
  );
}

function isLeaderReport(value: unknown): value is LeaderReport {
  const report = value as LeaderReport | null;
  return report !== null && typeof report === "object" && Number.isInteger(report.nodeId) && Number.isInteger(report.term);
}

function equalBytes(left: Uint8Array, right: Uint8Array): boolean {
  if (left.byteLength !== right.byteLength) return false;
  for (let index = 0; index < left.byteLength; index++) if (left[index] !== right[index]) return false;
  return true;
}

/**
 * Applies the topology rules to one batch of committed ops. `read` sees the table before the
 * batch; the result is what the table must apply instead (rejected ops dropped, epoch bumps added).
 */
export function topologyTransform(ops: TableOp[], read: (key: Uint8Array) => Uint8Array | null): TableOp[] {
  const overlay = new Map<string, Uint8Array | null>();
  const current = (key: string): Uint8Array | null => (overlay.has(key) ? overlay.get(key)! : read(encoder.encode(key)));
  const result: TableOp[] = [];
  let changeCount = 0;
  for (const op of ops) {
    const key = decoder.decode(op.key);
    if (key === epochKey) continue; // only the machine writes the epoch
    if (op.kind === "delete") {
      if (current(key) === null) continue;
      overlay.set(key, null);
      result.push(op);
      if (!key.startsWith(healthKeyPrefix)) changeCount++;
      continue;
    }
    const before = current(key);
    if (before !== null && equalBytes(before, op.value)) continue;
    if (key.startsWith(membershipKeyPrefix)) {
      const next = safeParse(op.value) as MembershipReport | null;
      if (!isMembershipReport(next)) continue;
      const previous = before === null ? null : (safeParse(before) as MembershipReport | null);
      if (isMembershipReport(previous) && next.confIndex <= previous.confIndex) continue; // older membership
    }
    if (key.startsWith(leaderKeyPrefix)) {
      const next = safeParse(op.value);
      if (!isLeaderReport(next)) continue;
      const previous = before === null ? null : safeParse(before);
      if (isLeaderReport(previous) && next.term <= previous.term) continue; // stale or same-term report
    }
    overlay.set(key, op.value);
    result.push(op);
    if (!key.startsWith(healthKeyPrefix)) changeCount++;
  }
  if (changeCount > 0) {
    const epochBefore = current(epochKey);
    const epoch = (epochBefore === null ? 0 : Number(decoder.decode(epochBefore))) + changeCount;
    result.push({ kind: "set", key: encoder.encode(epochKey), value: encoder.encode(String(epoch)) });
  }
  return result;
}

function safeParse(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    return null;
  }
}

/** The topology from the meta table's entries. */
export function readTopology(entries: Iterable<[Uint8Array, Uint8Array]>): Topology {
  const topology: Topology = { epoch: 0, layout: null, leaders: {}, health: {}, memberships: {} };
  const memberships = new Map<number, MembershipReport>();
  for (const [keyBytes, value] of entries) {
    const key = decoder.decode(keyBytes);
    if (key === epochKey) topology.epoch = Number(decoder.decode(value));
    else if (key === layoutKey) topology.layout = parseJson(value, key) as TopologyLayout;
    else if (key.startsWith(leaderKeyPrefix)) topology.leaders[key.slice(leaderKeyPrefix.length)] = parseJson(value, key) as LeaderReport;
    else if (key.startsWith(healthKeyPrefix)) topology.health[key.slice(healthKeyPrefix.length)] = parseJson(value, key) as HealthReport;
    else if (key.startsWith(membershipKeyPrefix)) {
      const report = parseJson(value, key) as MembershipReport;
      memberships.set(Number(key.slice(membershipKeyPrefix.length)), report);
      topology.memberships[key.slice(membershipKeyPrefix.length)] = report;
    }
  }
  // A shard's reported membership (newest by conf index) overrides its bootstrap layout.
  for (const shard of topology.layout?.shards ?? []) {
    const report = memberships.get(shard.id);
    if (report === undefined) continue;
    const memberOf = (id: number): TopologyMember => ({ id, ...(report.addresses[String(id)] ?? { raftAddress: "", clientAddress: "" }) });
    shard.members = report.voters.map(memberOf);
    shard.learners = report.learners.map(memberOf);
  }
  return topology;
}
