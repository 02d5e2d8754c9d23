// The config rules that span fields: store ids are unique (a store id names one process, one data
// directory, and the Raft id of every replica the store hosts); the meta group and each shard list
// stores that exist, each at most once (a store hosts at most one replica of a group); a group has
// at least 3 replicas unless allowSmallGroups; the initial shards come from exactly one of
// `shards` or `initialShards` + `replication`; a listener bound to every interface has an address
// others can dial; no two listeners share a host and port, and no two stores advertise the same
// address; an election timeout outlasts heartbeats. They run on the raw YAML data next to the
// shape check (schema.ts), on whatever parts are well-formed, so that one error lists every
// problem of the file; a malformed part is skipped here because the shape check reports it.
import { addressCollisionKey, addressesCollide, isWildcardAddress, parseAddress, type HostPort } from "./address.ts";
import { configDefaults, type ConfigProblem } from "./schema.ts";

/** A Raft group survives one failure only with 3 replicas: 2 of 2 is no better than 1. */
export const groupMemberCountSafeMin = 3;

const smallGroupHint = `a Raft group needs at least ${groupMemberCountSafeMin} to survive a failure (set allowSmallGroups: true to allow it)`;

/** data[key] when data is a mapping, else undefined. */
function field(data: unknown, key: string): unknown {
  if (typeof data !== "object" || data === null || Array.isArray(data)) return undefined;
  return (data as Record<string, unknown>)[key];
}

function isId(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value);
}

/** The address text parsed, or null when it is absent, null, of a wrong type or malformed (the shape check reports those). */
function addressOf(text: unknown): HostPort | null {
  if (typeof text !== "string") return null;
  const parsed = parseAddress(text);
  return "reason" in parsed ? null : parsed;
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

/** Reports duplicate store ids; returns the well-formed ids, or null when `stores` is not a list. */
function checkStoreIds(data: unknown, problems: ConfigProblem[]): Set<number> | null {
  const stores = field(data, "stores");
  if (!Array.isArray(stores)) return null;
  const firstPathById = new Map<number, string>();
  stores.forEach((store: unknown, index) => {
    const id = field(store, "id");
    if (!isId(id)) return;
    const path = `stores[${index}].id`;
    const firstPath = firstPathById.get(id);
    if (firstPath === undefined) firstPathById.set(id, path);
    else problems.push({ path, reason: `duplicate store id ${id}, already used at ${firstPath}` });
  });
  return new Set(firstPathById.keys());
}

/** One Raft group's replica list (metaStores, shards[i].replicas): known stores, each once, enough of them. */
function checkGroup(path: string, list: unknown, storeIds: ReadonlySet<number> | null, allowSmallGroups: boolean, problems: ConfigProblem[]): void {
  if (!Array.isArray(list)) return;
  const firstPathById = new Map<number, string>();
  list.forEach((id: unknown, index) => {
    if (!isId(id)) return;
    const entryPath = `${path}[${index}]`;
    const firstPath = firstPathById.get(id);
    if (firstPath !== undefined) {
      problems.push({ path: entryPath, reason: `duplicate store ${id}, already listed at ${firstPath} (a store holds at most one replica of a group)` });
      return;
    }
    firstPathById.set(id, entryPath);
    if (storeIds !== null && !storeIds.has(id)) problems.push({ path: entryPath, reason: `store ${id} is not listed in stores` });
  });
  if (list.length === 0 || list.length >= groupMemberCountSafeMin || allowSmallGroups) return; // the shape check reports an empty list
  problems.push({ path, reason: `has ${list.length} replica(s); ${smallGroupHint}` });
}

function checkShardIds(shards: unknown, problems: ConfigProblem[]): void {
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

/** Exactly one of `shards` (explicit placement) or `initialShards` with `replication` (computed). */
function checkPlacementChoice(data: unknown, problems: ConfigProblem[]): void {
  const hasShards = field(data, "shards") !== undefined;
  const hasInitialShards = field(data, "initialShards") !== undefined;
  const hasReplication = field(data, "replication") !== undefined;
  if (hasShards && hasInitialShards) {
    problems.push({ path: "initialShards", reason: "cannot be combined with shards: list each shard's replicas in shards, or give initialShards and replication, not both" });
  } else if (hasShards && hasReplication) {
    problems.push({ path: "replication", reason: "goes only with initialShards: shards already lists each shard's replicas" });
  } else if (hasInitialShards && !hasReplication) {
    problems.push({ path: "replication", reason: "missing field: initialShards needs replication (replicas per shard)" });
  } else if (hasReplication && !hasInitialShards) {
    problems.push({ path: "initialShards", reason: "missing field: replication needs initialShards (how many shards)" });
  } else if (!hasShards && !hasInitialShards) {
    problems.push({ path: "shards", reason: "missing field: give shards (each shard's replicas) or initialShards and replication" });
  }
}

function checkReplication(data: unknown, storeCount: number | null, allowSmallGroups: boolean, problems: ConfigProblem[]): void {
  const replication = field(data, "replication");
  if (!isId(replication) || replication < 1) return; // the shape check reports it
  if (storeCount !== null && storeCount > 0 && replication > storeCount) {
    problems.push({ path: "replication", reason: `must be at most the number of stores (${storeCount}), got ${replication}: a store holds at most one replica of a shard` });
  }
  if (replication < groupMemberCountSafeMin && !allowSmallGroups) problems.push({ path: "replication", reason: `is ${replication}; ${smallGroupHint}` });
}

function checkGroups(data: unknown, storeIds: ReadonlySet<number> | null, problems: ConfigProblem[]): void {
  const allowSmallGroups = field(data, "allowSmallGroups") === true;
  checkGroup("metaStores", field(data, "metaStores"), storeIds, allowSmallGroups, problems);
  const shards = field(data, "shards");
  checkShardIds(shards, problems);
  if (Array.isArray(shards)) {
    shards.forEach((shard: unknown, index) => checkGroup(`shards[${index}].replicas`, field(shard, "replicas"), storeIds, allowSmallGroups, problems));
  }
  checkPlacementChoice(data, problems);
  const stores = field(data, "stores");
  checkReplication(data, Array.isArray(stores) ? stores.length : null, allowSmallGroups, problems);
}

const listenerKeys = ["raftAddress", "clientAddress", "respAddress", "httpAddress"] as const;

/** One listener: where it binds and, for a store, the address it advertises (absent: the bind address). */
interface ListenerView {
  path: string;
  text: unknown;
  /** Absent means "no such listener" (respAddress), not a missing field. */
  optional: boolean;
  /** null for the router, which has no advertise section. */
  advertisePath: string | null;
  advertiseText: unknown;
}

function listenersOf(data: unknown): ListenerView[] {
  const listeners: ListenerView[] = [];
  const stores = field(data, "stores");
  if (Array.isArray(stores)) {
    stores.forEach((store: unknown, index) => {
      for (const key of listenerKeys) {
        listeners.push({
          path: `stores[${index}].${key}`,
          text: field(store, key),
          optional: key === "respAddress" || key === "httpAddress",
          advertisePath: `stores[${index}].advertise.${key}`,
          advertiseText: field(field(store, "advertise"), key),
        });
      }
    });
  }
  const router = field(data, "router");
  for (const key of ["clientAddress", "respAddress"] as const) {
    listeners.push({ path: `router.${key}`, text: field(router, key), optional: key === "respAddress", advertisePath: null, advertiseText: undefined });
  }
  return listeners;
}

/** A wildcard bind needs an advertised address; an advertised address is dialable and has a listener. */
function checkAdvertise(listener: ListenerView, problems: ConfigProblem[]): void {
  const bound = addressOf(listener.text);
  const advertised = addressOf(listener.advertiseText);
  if (listener.advertisePath === null) {
    if (bound === null || !isWildcardAddress(bound)) return;
    problems.push({
      path: listener.path,
      reason: `binds every interface (${String(listener.text)}), but the router has no advertise address and clients and tools (ukv status) dial this one: give the host they should use`,
    });
    return;
  }
  const noListener = listener.text === null || (listener.text === undefined && listener.optional);
  if (listener.advertiseText !== undefined && noListener) {
    problems.push({ path: listener.advertisePath, reason: `is set, but ${listener.path} is not: there is no such listener to advertise` });
  }
  if (advertised !== null && isWildcardAddress(advertised)) {
    problems.push({ path: listener.advertisePath, reason: `must be an address other processes can dial, got the wildcard ${String(listener.advertiseText)}` });
  }
  if (bound !== null && isWildcardAddress(bound) && listener.advertiseText === undefined) {
    problems.push({
      path: listener.path,
      reason: `binds every interface (${String(listener.text)}), which other processes cannot dial: set ${listener.advertisePath} to the address they should use`,
    });
  }
}

/** No two listeners bind the same host and port; a wildcard takes its port on every host. */
function checkBindCollisions(listeners: readonly ListenerView[], problems: ConfigProblem[]): void {
  const boundByPort = new Map<number, { path: string; text: string; address: HostPort }[]>();
  for (const listener of listeners) {
    const address = addressOf(listener.text);
    if (address === null) continue;
    const text = listener.text as string;
    const samePort = boundByPort.get(address.port) ?? [];
    const first = samePort.find((other) => addressesCollide(other.address, address));
    if (first === undefined) {
      samePort.push({ path: listener.path, text, address });
      boundByPort.set(address.port, samePort);
    } else if (isWildcardAddress(first.address) || isWildcardAddress(address)) {
      problems.push({ path: listener.path, reason: `address ${text} collides with ${first.text} at ${first.path}: a wildcard address binds its port on every interface` });
    } else {
      problems.push({ path: listener.path, reason: `address ${text} (host and port) is already used at ${first.path}` });
    }
  }
}

/**
 * No two store listeners advertise the same address: a peer dialing one would reach the other.
 * Only pairs with an explicit advertise entry are checked; two plain bind addresses that are equal
 * are already a bind collision.
 */
function checkAdvertisedCollisions(listeners: readonly ListenerView[], problems: ConfigProblem[]): void {
  const firstByKey = new Map<string, { path: string; explicit: boolean }>();
  for (const listener of listeners) {
    if (listener.advertisePath === null) continue;
    const explicit = listener.advertiseText !== undefined;
    const path = explicit ? listener.advertisePath : listener.path;
    const text = explicit ? listener.advertiseText : listener.text;
    const address = addressOf(text);
    if (address === null || isWildcardAddress(address)) continue;
    const key = addressCollisionKey(address);
    const first = firstByKey.get(key);
    if (first === undefined) firstByKey.set(key, { path, explicit });
    else if (explicit || first.explicit) problems.push({ path, reason: `advertised address ${String(text)} is already advertised at ${first.path}: a process dialing it would reach one of the two` });
  }
}

function checkListeners(data: unknown, problems: ConfigProblem[]): void {
  const listeners = listenersOf(data);
  for (const listener of listeners) checkAdvertise(listener, problems);
  checkBindCollisions(listeners, problems);
  checkAdvertisedCollisions(listeners, problems);
}

/** Every cross-field problem of raw config data (parsed YAML), over its well-formed parts. */
export function crossCheck(data: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (typeof data !== "object" || data === null || Array.isArray(data)) return problems; // the shape check reports it
  checkTicks(data, problems);
  const storeIds = checkStoreIds(data, problems);
  checkGroups(data, storeIds, problems);
  checkListeners(data, problems);
  return problems;
}
