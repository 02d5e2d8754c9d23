// Membership administration of one group, answered by its leader (the ADMIN request of the client
// protocol, value = JSON AdminRequest). The safety rules live here: one change at a time, a new
// member joins as a learner and is promoted only once caught up, removing a voter never leaves
// fewer than 3 voters unless forced, and the leader hands leadership over before removing itself.
import { ConfChangeType } from "../raft/types.ts";
import { formatHash, parseHash, rangeToJson } from "../ring/range-map.ts";
import { UkvError } from "../util/errors.ts";
import type { GroupRuntime } from "./group-runtime.ts";

/** A learner is promoted only when at most this many entries behind the leader. */
export const promoteLagEntriesMax = 200;
export const minimumVoterCount = 3;
const transferWaitMs = 5000;

export type AdminRequest =
  | { action: "add-learner"; nodeId: number; raftAddress: string; clientAddress: string }
  | { action: "promote"; nodeId: number }
  | { action: "remove"; nodeId: number; force?: boolean }
  | { action: "transfer-leader"; nodeId: number }
  /** at: a hash, "load" (where the leader's store saw the load's median), or null (the keys' median). */
  | { action: "split"; childId: number; at: bigint | "load" | null }

  | { action: "snapshot" };

export function parseAdminRequest(bytes: Uint8Array): AdminRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new UkvError("BAD_REQUEST", "Admin request is not JSON", { cause: error });
  }
  const request = parsed as Partial<Record<string, unknown>> | null;
  if (request === null || typeof request !== "object") throw new UkvError("BAD_REQUEST", "Admin request must be an object");
  if (request.action === "split") {
    if (!Number.isSafeInteger(request.childId) || (request.childId as number) <= 0) throw new UkvError("BAD_REQUEST", `split needs a positive childId: ${String(request.childId)}`);
    if (request.at !== undefined && request.at !== null && typeof request.at !== "string") throw new UkvError("BAD_REQUEST", "split's at must be a hash string");
    const at = request.at === "load" ? "load" : typeof request.at === "string" ? parseHash(request.at) : null;
    return { action: "split", childId: request.childId as number, at };
  }
  if (request.action === "snapshot") return { action: "snapshot" };
  const nodeId = request.nodeId;
  if (!Number.isSafeInteger(nodeId) || (nodeId as number) <= 0) throw new UkvError("BAD_REQUEST", `Admin request needs a positive nodeId: ${String(nodeId)}`);
  switch (request.action) {
    case "add-learner":
      if (typeof request.raftAddress !== "string" || typeof request.clientAddress !== "string") {
        throw new UkvError("BAD_REQUEST", "add-learner needs raftAddress and clientAddress");
      }
      return { action: "add-learner", nodeId: nodeId as number, raftAddress: request.raftAddress, clientAddress: request.clientAddress };
    case "promote":
    case "transfer-leader":
      return { action: request.action, nodeId: nodeId as number };
    case "remove":
      return { action: "remove", nodeId: nodeId as number, force: request.force === true };
    default:
      throw new UkvError("BAD_REQUEST", `Unknown admin action: ${String(request.action)}`);
  }
}

/** Runs one admin request on the leader; returns a JSON-able result or throws a typed error. */
export async function runAdminRequest(runtime: GroupRuntime, request: AdminRequest): Promise<Record<string, unknown>> {
  if (!runtime.isLeader()) throw runtime.notLeaderError();
  if (request.action === "split") {
    // The store resolves "load" from its access sample before it comes here.
    if (request.at === "load") throw new UkvError("BAD_REQUEST", "A split at the load's median is answered by a store");
    const { parent, child, at } = await runtime.split(request.childId, request.at);
    return { done: "split", shardId: runtime.groupId, childId: request.childId, at: formatHash(at), parent: rangeToJson(parent), child: rangeToJson(child) };
  }
  if (request.action === "snapshot") {
    const snapshot = await runtime.snapshotNow();
    return { done: "snapshot", store: runtime.nodeId, index: snapshot.index, term: snapshot.term, path: snapshot.location, sizeBytes: snapshot.sizeBytes };
  }
  const { conf } = runtime.membership();
  const isVoter = conf.voters.includes(request.nodeId);
  const isLearner = conf.learners.includes(request.nodeId);
  switch (request.action) {
    case "add-learner": {
      if (isVoter || isLearner) throw new UkvError("BAD_REQUEST", `Node ${request.nodeId} is already a member of group ${runtime.groupId}`);
      const membership = await runtime.changeMembership({
        type: ConfChangeType.AddLearner,
        nodeId: request.nodeId,
        address: { raftAddress: request.raftAddress, clientAddress: request.clientAddress },
      });
      return { done: "add-learner", voters: membership.conf.voters, learners: membership.conf.learners };
    }
    case "promote": {
      if (!isLearner) throw new UkvError("BAD_REQUEST", `Node ${request.nodeId} is not a learner of group ${runtime.groupId}`);
      const match = runtime.progress().get(request.nodeId)?.match ?? 0;
      const lag = runtime.lastIndex() - match;
      if (lag > promoteLagEntriesMax) {
        throw new UkvError("BAD_REQUEST", `Learner ${request.nodeId} is ${lag} entries behind (limit ${promoteLagEntriesMax}): not promoted yet`, {
          data: { lag },
        });
      }
      const membership = await runtime.changeMembership({ type: ConfChangeType.AddVoter, nodeId: request.nodeId });
      return { done: "promote", voters: membership.conf.voters, learners: membership.conf.learners };
    }
    case "remove":
      return removeMember(runtime, request, { isVoter, isLearner, voters: conf.voters });
    case "transfer-leader":
      return transferLeader(runtime, request.nodeId, conf.voters);
  }
}

async function removeMember(
  runtime: GroupRuntime,
  request: { nodeId: number; force?: boolean },
  state: { isVoter: boolean; isLearner: boolean; voters: number[] },
): Promise<Record<string, unknown>> {
  if (!state.isVoter && !state.isLearner) throw new UkvError("BAD_REQUEST", `Node ${request.nodeId} is not a member of group ${runtime.groupId}`);
  if (state.isVoter && state.voters.length - 1 < minimumVoterCount && request.force !== true) {
    throw new UkvError(
      "BAD_REQUEST",
      `Removing node ${request.nodeId} would leave ${state.voters.length - 1} voters (minimum ${minimumVoterCount}): use --force to do it anyway`,
    );
  }
  if (request.nodeId === runtime.nodeId) {
    // The leader never removes itself: it hands leadership to the most caught-up voter, and the
    // caller retries the removal there (NOT_LEADER names the new leader once it won).
    const progress = runtime.progress();
    const candidates = state.voters.filter((id) => id !== runtime.nodeId).sort((a, b) => (progress.get(b)?.match ?? 0) - (progress.get(a)?.match ?? 0));
    const target = candidates[0];
    if (target === undefined) throw new UkvError("BAD_REQUEST", `Node ${request.nodeId} is the only voter: it cannot be removed`);
    await transferLeader(runtime, target, state.voters);
    throw runtime.notLeaderError();
  }
  const membership = await runtime.changeMembership({ type: ConfChangeType.RemoveNode, nodeId: request.nodeId });
  return { done: "remove", voters: membership.conf.voters, learners: membership.conf.learners };
}

async function transferLeader(runtime: GroupRuntime, to: number, voters: number[]): Promise<Record<string, unknown>> {
  if (!voters.includes(to)) throw new UkvError("BAD_REQUEST", `Node ${to} is not a voter of group ${runtime.groupId}: it cannot lead`);
  if (runtime.nodeId === to) return { done: "transfer-leader", leader: to };
  runtime.transferLeadership(to);
  const deadline = Date.now() + transferWaitMs;
  while (Date.now() < deadline) {
    if (runtime.leaderId() === to) return { done: "transfer-leader", leader: to };
    await Bun.sleep(20);
  }
  throw new UkvError("TIMEOUT", `Leadership did not move to node ${to} within ${transferWaitMs} ms`);
}
