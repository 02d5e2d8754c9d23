// The client API of a shard member (the raw protocol): SET and DELETE go through Raft and are
// answered after commit + apply; GET is a follower read unless the request asks for a
// linearizable one; STATUS describes this member. Errors become protocol codes here.
import type { KvResponse } from "../transport/kv-protocol.ts";
import type { KvHandler } from "../transport/kv-server.ts";
import { kvResponseFromError, makeKvResponse } from "../transport/kv-protocol.ts";
import { isUkvError } from "../util/errors.ts";
import { parseAdminRequest, runAdminRequest } from "./admin.ts";
import { CommandOp } from "./command.ts";
import type { GroupRuntime } from "./group-runtime.ts";

export function createKvHandler(runtime: GroupRuntime): KvHandler {
  return async (request): Promise<KvResponse> => {
    try {
      switch (request.op) {
        case "GET": {
          const value = request.linearizable ? await runtime.readLinearizable(request.key) : runtime.read(request.key);
          return value === null ? makeKvResponse(request.id, "NOT_FOUND") : makeKvResponse(request.id, "OK", { value });
        }
        case "SET":
          await runtime.write(CommandOp.Set, request.key, request.value);
          return makeKvResponse(request.id, "OK");
        case "DELETE":
          await runtime.write(CommandOp.Delete, request.key, new Uint8Array(0));
          return makeKvResponse(request.id, "OK");
        case "STATUS":
          return makeKvResponse(request.id, "OK", { statusJson: JSON.stringify(runtime.status()) });
        case "ADMIN": {
          const result = await runAdminRequest(runtime, parseAdminRequest(request.value));
          return makeKvResponse(request.id, "OK", { statusJson: JSON.stringify(result) });
        }
      }
    } catch (error) {
      if (isUkvError(error, "CLOSED") || isUkvError(error, "DISK_FULL") || isUkvError(error, "IO_ERROR")) {
        return makeKvResponse(request.id, "UNAVAILABLE", { message: error.message });
      }
      return kvResponseFromError(request.id, error);
    }
  };
}
