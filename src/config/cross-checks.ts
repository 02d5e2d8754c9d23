// The config rules that span fields: node ids are unique across the whole file (meta and shards
// share one id space, because a node id names one process and one data directory), shard ids are
// unique, no two listeners share a host and port, every Raft group has at least 3 members unless
// it opts out, and an election timeout outlasts heartbeats. They run on the raw YAML data next to
// the shape check (schema.ts), on whatever parts are well-formed, so that one error lists every
// problem of the file; a malformed part is skipped here because the shape check reports it.
import { addressCollisionKey, parseAddress } from "./address.ts";
import { configDefaults, type ConfigProblem } from "./schema.ts";

/** A Raft group survives one failure only with 3 members: 2 of 2 is no better than 1. */
export const groupMemberCountSafeMin = 3;

interface MemberView {
  path: string;
  id: unknown;
  raftAddress: unknown;
  clientAddress: unknown;
}

interface GroupView {
  path: string;
  members: MemberView[];
  allowFewerThanThreeMembers: boolean;
}

/** data[key] when data is a mapping, else undefined. */
function field(data: unknown, key: string): unknown {
  if (typeof data !== "object" || data === null || Array.isArray(data)) return undefined;
  return (data as Record<string, unknown>)[key];
}

function groupView(path: string, data: unknown): GroupView | null {
  const members = field(data, "members");
  if (!Array.isArray(members)) return null;
  return {
    path,
    members: members.map((member: unknown, index) => ({
      path: `${path}.members[${index}]`,
      id: field(member, "id"),
      raftAddress: field(member, "raftAddress"),
      clientAddress: field(member, "clientAddress"),
    })),
    allowFewerThanThreeMembers: field(data, "allowFewerThanThreeMembers") === true,
  };
}

function groupsOf(data: unknown): GroupView[] {
  const groups: GroupView[] = [];
  const meta = groupView("meta", field(data, "meta"));
  if (meta !== null) groups.push(meta);
  const shards = field(data, "shards");
  if (Array.isArray(shards)) {
    shards.forEach((shard: unknown, index) => {
      const group = groupView(`shards[${index}]`, shard);
      if (group !== null) groups.push(group);
    });
  }
  return groups;
}

/** A number field, its default when absent, or null when it has the wrong type (reported elsewhere). */
function numberOrDefault(data: unknown, key: string, fallback: number): number | null {
  const value = field(data, key);
  if (value === undefined) return fallback;
  return typeof value === "number" ? value : null;
}

function checkTicks(data: unknown, problems: ConfigProblem[]): void {
  const electionTicks = numberOrDefault(data, "electionTicks", configDefaults.electionTicks);
  const heartbeatTicks = numberOrDefault(data, "heartbeatTicks", configDefaults.heartbeatTicks);
  if (electionTicks === null || heartbeatTicks === null || electionTicks > heartbeatTicks) return;
  problems.push({
    path: "electionTicks",
    reason: `must be greater than heartbeatTicks (${heartbeatTicks}), got ${electionTicks}: followers would start elections between heartbeats`,
  });
}

function checkGroupSizes(groups: readonly GroupView[], problems: ConfigProblem[]): void {
  for (const group of groups) {
    if (group.members.length === 0) continue; // the shape check reports an empty list
    if (group.members.length >= groupMemberCountSafeMin || group.allowFewerThanThreeMembers) continue;
    problems.push({
      path: `${group.path}.members`,
      reason:
        `has ${group.members.length} member(s); a Raft group needs at least ${groupMemberCountSafeMin} to survive a failure ` +
        `(set ${group.path}.allowFewerThanThreeMembers: true to allow it)`,
    });
  }
}

function isId(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value);
}

function checkNodeIds(groups: readonly GroupView[], problems: ConfigProblem[]): void {
  const firstPathById = new Map<number, string>();
  for (const group of groups) {
    for (const member of group.members) {
      if (!isId(member.id)) continue;
      const path = `${member.path}.id`;
      const firstPath = firstPathById.get(member.id);
      if (firstPath === undefined) firstPathById.set(member.id, path);
      else problems.push({ path, reason: `duplicate node id ${member.id}, already used at ${firstPath} (meta and shards share one id space)` });
    }
  }
}

function checkShardIds(data: unknown, problems: ConfigProblem[]): void {
  const shards = field(data, "shards");
  if (!Array.isArray(shards)) return;
  const firstPathById = new Map<number, string>();
  shards.forEach((shard: unknown, index) => {
    const id = field(shard, "id");
    if (!isId(id)) return;
    const path = `shards[${index}].id`;
    const firstPath = firstPathById.get(id);
    if (firstPath === undefined) firstPathById.set(id, path);
    else problems.push({ path, reason: `duplicate shard id ${id}, already used at ${firstPath}` });
  });
}

function listenAddresses(data: unknown, groups: readonly GroupView[]): { path: string; text: unknown }[] {
  const addresses: { path: string; text: unknown }[] = [];
  for (const group of groups) {
    for (const member of group.members) {
      addresses.push({ path: `${member.path}.raftAddress`, text: member.raftAddress });
      addresses.push({ path: `${member.path}.clientAddress`, text: member.clientAddress });
    }
  }
  const router = field(data, "router");
  addresses.push({ path: "router.clientAddress", text: field(router, "clientAddress") });
  addresses.push({ path: "router.respAddress", text: field(router, "respAddress") });
  return addresses;
}

function checkAddresses(data: unknown, groups: readonly GroupView[], problems: ConfigProblem[]): void {
  const firstPathByKey = new Map<string, string>();
  for (const { path, text } of listenAddresses(data, groups)) {
    if (typeof text !== "string") continue; // absent, null, or a wrong type the shape check reports
    const parsed = parseAddress(text);
    if ("reason" in parsed) continue; // the shape check reports it
    const key = addressCollisionKey(parsed);
    const firstPath = firstPathByKey.get(key);
    if (firstPath === undefined) firstPathByKey.set(key, path);
    else problems.push({ path, reason: `address ${text} (host and port) is already used at ${firstPath}` });
  }
}

/** Every cross-field problem of raw config data (parsed YAML), over its well-formed parts. */
export function crossCheck(data: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  checkTicks(data, problems);
  const groups = groupsOf(data);
  checkGroupSizes(groups, problems);
  checkNodeIds(groups, problems);
  checkShardIds(data, problems);
  checkAddresses(data, groups, problems);
  return problems;
}
