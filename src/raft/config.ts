// RaftConfig defaults and the start-up check of every limit (etcd's Config.validate).
// A bad config is a typed CONFIG_INVALID error naming the field, its value and the limit.
import { frameSizeBytesMax } from "../util/limits.ts";
import type { Prng } from "../util/prng.ts";
import { configInvalid } from "./errors.ts";
import type { NodeId, RaftConfig, RaftStorage } from "./types.ts";

export const electionTicksDefault = 10;
export const heartbeatTicksDefault = 1;
export const maxSizePerMsgBytesDefault = 1024 * 1024;
export const maxInflightMsgsDefault = 256;
export const maxInflightBytesDefault = 32 * 1024 * 1024;
/** Ticks are counted in small integers; a larger timeout is certainly a unit mistake (ms for ticks). */
export const electionTicksMax = 10_000;
/** The inflight ring is preallocated per follower: keep it bounded. */
export const maxInflightMsgsMax = 4096;
/** An Append batch must fit a transport frame with room for the largest single record. */
export const maxSizePerMsgBytesMax = frameSizeBytesMax / 2;

export function defaultRaftConfig(args: { id: NodeId; storage: RaftStorage; random: Prng; applied?: number }): RaftConfig {
  return {
    id: args.id,
    storage: args.storage,
    random: args.random,
    electionTicks: electionTicksDefault,
    heartbeatTicks: heartbeatTicksDefault,
    applied: args.applied ?? 0,
    maxSizePerMsgBytes: maxSizePerMsgBytesDefault,
    maxInflightMsgs: maxInflightMsgsDefault,
    maxInflightBytes: maxInflightBytesDefault,
    preVote: true,
    checkQuorum: true,
  };
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw configInvalid(`Raft config ${name} out of range: ${value}, must be an integer in [${min}, ${max}]`, {
      field: name,
      value,
      min,
      max,
    });
  }
}

/** Throws UkvError CONFIG_INVALID on the first bad field. */
export function validateRaftConfig(config: RaftConfig): void {
  checkInteger("id", config.id, 1, Number.MAX_SAFE_INTEGER);
  checkInteger("heartbeatTicks", config.heartbeatTicks, 1, electionTicksMax - 1);
  checkInteger("electionTicks", config.electionTicks, config.heartbeatTicks + 1, electionTicksMax);
  checkInteger("applied", config.applied, 0, Number.MAX_SAFE_INTEGER);
  checkInteger("maxSizePerMsgBytes", config.maxSizePerMsgBytes, 0, maxSizePerMsgBytesMax);
  checkInteger("maxInflightMsgs", config.maxInflightMsgs, 1, maxInflightMsgsMax);
  // One message of maxSizePerMsgBytes must always fit, or a follower could never be sent to.
  checkInteger("maxInflightBytes", config.maxInflightBytes, Math.max(1, config.maxSizePerMsgBytes), Number.MAX_SAFE_INTEGER);
}
