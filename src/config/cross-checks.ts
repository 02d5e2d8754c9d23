// The config rules that span fields, run once the shape is valid: node ids are unique across the
// whole file (meta and shards share one id space, because a node id names one process and one
// data directory), shard ids are unique, no two listeners share a host and port, every Raft
// group has at least 3 members unless it opts out, and an election timeout outlasts heartbeats.
import { addressCollisionKey, parseAddress } from "./address.ts";
import type { ConfigProblem, ParsedClusterConfig } from "./schema.ts";

/** A Raft group survives one failure only with 3 members: 2 of 2 is no better than 1. */
export const groupMemberCountSafeMin = 3;

interface GroupView {
  path: string;
  members: readonly { id: number; raftAddress: string; clientAddress: string }[];
  allowFewerThanThreeMembers: boolean;
}

function groupsOf(config: ParsedClusterConfig): GroupView[] {
  const groups: GroupView[] = [{ path: "meta", ...config.meta }];
  config.shards.forEach((shard, index) => groups.push({ path: `shards[${index}]`, ...shard }));
  return groups;
}

function checkGroupSizes(groups: readonly GroupView[], problems: ConfigProblem[]): void {
  for (const group of groups) {
    if (group.members.length >= groupMemberCountSafeMin || group.allowFewerThanThreeMembers) continue;
    problems.push({
      path: `${group.path}.members`,
      reason:
        `has ${group.members.length} member(s); a Raft group needs at least ${groupMemberCountSafeMin} to survive a failure ` +
        `(set ${group.path}.allowFewerThanThreeMembers: true to allow it)`,
    });
  }
}

function checkNodeIds(groups: readonly GroupView[], problems: ConfigProblem[]): void {
  const firstPathById = new Map<number, string>();
  for (const group of groups) {
    group.members.forEach((member, index) => {
      const path = `${group.path}.members[${index}].id`;
      const firstPath = firstPathById.get(member.id);
      if (firstPath === undefined) firstPathById.set(member.id, path);
      else problems.push({ path, reason: `duplicate node id ${member.id}, already used at ${firstPath} (meta and shards share one id space)` });
    });
  }
}

function checkShardIds(config: ParsedClusterConfig, problems: ConfigProblem[]): void {
  const firstPathById = new Map<number, string>();
  config.shards.forEach((shard, index) => {
    const path = `shards[${index}].id`;
    const firstPath = firstPathById.get(shard.id);
    if (firstPath === undefined) firstPathById.set(shard.id, path);
    else problems.push({ path, reason: `duplicate shard id ${shard.id}, already used at ${firstPath}` });
  });
}

function listenAddresses(config: ParsedClusterConfig, groups: readonly GroupView[]): { path: string; text: string }[] {
  const addresses: { path: string; text: string }[] = [];
  for (const group of groups) {
    group.members.forEach((member, index) => {
      addresses.push({ path: `${group.path}.members[${index}].raftAddress`, text: member.raftAddress });
      addresses.push({ path: `${group.path}.members[${index}].clientAddress`, text: member.clientAddress });
    });
  }
  if (config.router !== null) {
    addresses.push({ path: "router.clientAddress", text: config.router.clientAddress });
    if (config.router.respAddress !== null) addresses.push({ path: "router.respAddress", text: config.router.respAddress });
  }
  return addresses;
}

function checkAddresses(config: ParsedClusterConfig, groups: readonly GroupView[], problems: ConfigProblem[]): void {
  const firstPathByKey = new Map<string, string>();
  for (const { path, text } of listenAddresses(config, groups)) {
    const parsed = parseAddress(text);
    if ("reason" in parsed) continue; // the shape check reported it already
    const key = addressCollisionKey(parsed);
    const firstPath = firstPathByKey.get(key);
    if (firstPath === undefined) firstPathByKey.set(key, path);
    else problems.push({ path, reason: `address ${text} (host and port) is already used at ${firstPath}` });
  }
}

/** Every cross-field problem of a config whose shape is valid. */
export function crossCheck(config: ParsedClusterConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (config.electionTicks <= config.heartbeatTicks) {
    problems.push({
      path: "electionTicks",
      reason: `must be greater than heartbeatTicks (${config.heartbeatTicks}), got ${config.electionTicks}: followers would start elections between heartbeats`,
    });
  }
  const groups = groupsOf(config);
  checkGroupSizes(groups, problems);
  checkNodeIds(groups, problems);
  checkShardIds(config, problems);
  checkAddresses(config, groups, problems);
  return problems;
}
