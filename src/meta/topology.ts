// The topology held by the metadata group, as keys of its replicated table:
//   layout               JSON: the stores and shards the cluster was created with (bootstrap)
//   store/<storeId>      JSON StoreInfo: a store that joined at run time (`ukv node --join`)
//   membership/<shardId> JSON: the shard's voters, learners and addresses as its leader applied
//                        them, versioned by the log index of that change (newest wins; overrides
//                        the layout's placement)
//   leader/<shardId>     JSON: the shard's current leader as reported by it {nodeId, term}
//   health/<storeId>     JSON: a store's last report of its replicas
//   range/<shardId>      JSON KeyRangeJson: the shard's hash range as its replicas reported it
//                        (newest version wins; overrides the layout's range; a shard born of a
//                        split is in the topology from its first range and membership report)
//   drain/<storeId>      "1": the store is being drained (no replica is placed on it, every
//                        replica moves off it); deleted to undo
//   next-shard-id        decimal: the next id a split may give its new shard
//   shard-id/<token>     decimal: the id allocated to the request that wrote this token (a split
//                        allocates its child's id here before proposing, so no two splits share one)
//   epoch                decimal: increases on every change of placement (layout, stores,
//                        memberships); a leader change or a health report is not a change of
//                        placement, so thousands of shards electing leaders do not make every
//                        router refetch the topology (they follow NOT_LEADER hints instead)
// Stores write one key, report/<storeId> (a StoreReport), which the rules below expand into
// health, leader and membership keys when the batch is APPLIED, so every metadata replica derives
// the same state from the same log: a stale leader report (lower term) or an older membership is
// dropped, an unchanged value is no change, and only the machine itself writes `epoch`.
import type { TableOp } from "../storage/table.ts";
import { rangeFromJson, type KeyRangeJson } from "../ring/range-map.ts";
import type { LeaderReport, MembershipReport, StoreInfo, StoreReport, Topology, TopologyLayout, TopologyMember } from "../transport/topology-wire.ts";
import { UkvError } from "../util/errors.ts";

export const layoutKey = "layout";
export const epochKey = "epoch";
export const leaderKeyPrefix = "leader/";
export const healthKeyPrefix = "health/";
export const membershipKeyPrefix = "membership/";
export const storeKeyPrefix = "store/";
export const reportKeyPrefix = "report/";
export const rangeKeyPrefix = "range/";
export const nextShardIdKey = "next-shard-id";
export const shardIdAllocKeyPrefix = "shard-id/";
export const drainKeyPrefix = "drain/";

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

export function healthKey(storeId: number): string {
  return `${healthKeyPrefix}${storeId}`;
}

export function reportKey(storeId: number): string {
  return `${reportKeyPrefix}${storeId}`;
}

export function shardIdAllocKey(token: string): string {
  return `${shardIdAllocKeyPrefix}${token}`;
}

export function drainKey(storeId: number): string {
  return `${drainKeyPrefix}${storeId}`;
}

export function storeKey(storeId: number): string {
  return `${storeKeyPrefix}${storeId}`;
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

function parseRange(value: unknown): KeyRangeJson | null {
  try {
    rangeFromJson(value);
    return value as KeyRangeJson;
  } catch {
    return null;
  }
}

function isLeaderReport(value: unknown): value is LeaderReport {
  const report = value as LeaderReport | null;
  return report !== null && typeof report === "object" && Number.isInteger(report.nodeId) && Number.isInteger(report.term);
}

function isStoreReport(value: unknown): value is StoreReport {
  const report = value as StoreReport | null;
  return (
    report !== null &&
    typeof report === "object" &&
    Number.isInteger(report.storeId) &&
    report.health !== null &&
    typeof report.health === "object" &&
    Array.isArray(report.health.groups) &&
    Array.isArray(report.leaders) &&
    report.memberships !== null &&
    typeof report.memberships === "object"
  );
}

function isStoreInfo(value: unknown): value is StoreInfo {
  const info = value as StoreInfo | null;
  return info !== null && typeof info === "object" && Number.isInteger(info.id) && typeof info.raftAddress === "string" && typeof info.clientAddress === "string";
}

function equalBytes(left: Uint8Array, right: Uint8Array): boolean {
  if (left.byteLength !== right.byteLength) return false;
  for (let index = 0; index < left.byteLength; index++) if (left[index] !== right[index]) return false;
  return true;
}

/** Keys whose change is a change of placement (bumps the epoch). */
function isPlacementKey(key: string): boolean {
  return key === layoutKey || key.startsWith(membershipKeyPrefix) || key.startsWith(storeKeyPrefix) || key.startsWith(rangeKeyPrefix) || key.startsWith(drainKeyPrefix);
}

/** A store report as the plain key writes it stands for. */
function expandReport(op: TableOp & { kind: "set" }): TableOp[] {
  const report = safeParse(op.value);
  if (!isStoreReport(report)) return [];
  const ops: TableOp[] = [{ kind: "set", key: encoder.encode(healthKey(report.storeId)), value: encodeJson(report.health) }];
  for (const leader of report.leaders) {
    ops.push({ kind: "set", key: encoder.encode(leaderKey(leader.shardId)), value: encodeJson({ nodeId: report.storeId, term: leader.term }) });
  }
  for (const [shardId, membership] of Object.entries(report.memberships)) {
    ops.push({ kind: "set", key: encoder.encode(`${membershipKeyPrefix}${shardId}`), value: encodeJson(membership) });
  }
  for (const [shardId, range] of Object.entries(report.ranges ?? {})) {
    ops.push({ kind: "set", key: encoder.encode(`${rangeKeyPrefix}${shardId}`), value: encodeJson(range) });
  }
  return ops;
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
  const expanded = ops.flatMap((op) => (op.kind === "set" && decoder.decode(op.key).startsWith(reportKeyPrefix) ? expandReport(op) : [op]));
  for (const op of expanded) {
    const key = decoder.decode(op.key);
    if (key === epochKey || key === nextShardIdKey || key.startsWith(reportKeyPrefix)) continue; // only the machine writes these
    if (key.startsWith(shardIdAllocKeyPrefix)) {
      // An allocation request: the machine answers it with the next shard id, once per token.
      if (op.kind === "delete" || current(key) !== null) continue;
      const id = nextShardId(current);
      for (const allocation of [
        { kind: "set", key: op.key, value: encoder.encode(String(id)) },
        { kind: "set", key: encoder.encode(nextShardIdKey), value: encoder.encode(String(id + 1)) },
      ] satisfies TableOp[]) {
        overlay.set(decoder.decode(allocation.key), allocation.value);
        result.push(allocation);
      }
      continue;
    }
    if (op.kind === "delete") {
      if (current(key) === null) continue;
      overlay.set(key, null);
      result.push(op);
      if (isPlacementKey(key)) changeCount++;
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
    if (key.startsWith(rangeKeyPrefix)) {
      const next = parseRange(safeParse(op.value));
      if (next === null) continue;
      const previous = before === null ? null : parseRange(safeParse(before));
      if (previous !== null && next.version <= previous.version) continue; // an older range
    }
    if (key.startsWith(storeKeyPrefix) && !isStoreInfo(safeParse(op.value))) continue;
    overlay.set(key, op.value);
    result.push(op);
    if (isPlacementKey(key)) changeCount++;
  }
  if (changeCount > 0) {
    const epochBefore = current(epochKey);
    const epoch = (epochBefore === null ? 0 : Number(decoder.decode(epochBefore))) + changeCount;
    result.push({ kind: "set", key: encoder.encode(epochKey), value: encoder.encode(String(epoch)) });
  }
  return result;
}

/** The next free shard id: the counter, or (before the first split) one above the layout's shards. */
function nextShardId(current: (key: string) => Uint8Array | null): number {
  const counter = current(nextShardIdKey);
  if (counter !== null) return Number(decoder.decode(counter));
  const layoutBytes = current(layoutKey);
  const layout = layoutBytes === null ? null : (safeParse(layoutBytes) as TopologyLayout | null);
  const ids = layout?.shards?.map((shard) => shard.id) ?? [];
  return Math.max(0, ...ids) + 1;
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
  const topology: Topology = { epoch: 0, layout: null, leaders: {}, health: {}, memberships: {}, draining: [] };
  const memberships = new Map<number, MembershipReport>();
  const joinedStores: StoreInfo[] = [];
  const ranges = new Map<number, KeyRangeJson>();
  for (const [keyBytes, value] of entries) {
    const key = decoder.decode(keyBytes);
    if (key === epochKey) topology.epoch = Number(decoder.decode(value));
    else if (key === layoutKey) topology.layout = parseJson(value, key) as TopologyLayout;
    else if (key.startsWith(leaderKeyPrefix)) topology.leaders[key.slice(leaderKeyPrefix.length)] = parseJson(value, key) as LeaderReport;
    else if (key.startsWith(healthKeyPrefix)) topology.health[key.slice(healthKeyPrefix.length)] = parseJson(value, key) as Topology["health"][string];
    else if (key.startsWith(storeKeyPrefix)) joinedStores.push(parseJson(value, key) as StoreInfo);
    else if (key.startsWith(drainKeyPrefix)) topology.draining!.push(Number(key.slice(drainKeyPrefix.length)));
    else if (key.startsWith(rangeKeyPrefix)) ranges.set(Number(key.slice(rangeKeyPrefix.length)), parseJson(value, key) as KeyRangeJson);
    else if (key.startsWith(membershipKeyPrefix)) {
      const report = parseJson(value, key) as MembershipReport;
      memberships.set(Number(key.slice(membershipKeyPrefix.length)), report);
      topology.memberships[key.slice(membershipKeyPrefix.length)] = report;
    }
  }
  const layout = topology.layout;
  if (layout === null) return topology;
  for (const store of joinedStores) {
    if (!layout.stores.some((known) => known.id === store.id)) layout.stores.push(store);
  }
  layout.stores.sort((left, right) => left.id - right.id);
  const storeById = new Map(layout.stores.map((store) => [store.id, store]));
  // A shard born of a split joins the layout with its first range and membership report (both
  // come in the same store report); the newest reported range overrides the layout's.
  for (const [shardId, range] of ranges) {
    const shard = layout.shards.find((candidate) => candidate.id === shardId);
    if (shard !== undefined) {
      if (range.version > shard.range.version) shard.range = range;
    } else if (memberships.has(shardId)) {
      layout.shards.push({ id: shardId, members: [], range });
    }
  }
  layout.shards.sort((left, right) => left.id - right.id);
  // A shard's reported membership (newest by conf index) overrides its bootstrap placement.
  for (const shard of layout.shards) {
    const report = memberships.get(shard.id);
    if (report === undefined) continue;
    const memberOf = (id: number): TopologyMember => {
      const store = storeById.get(id);
      const address = store === undefined ? report.addresses[String(id)] : { raftAddress: store.raftAddress, clientAddress: store.clientAddress };
      return { id, ...(address ?? { raftAddress: "", clientAddress: "" }) };
    };
    shard.members = report.voters.map(memberOf);
    shard.learners = report.learners.map(memberOf);
  }
  return topology;
}
