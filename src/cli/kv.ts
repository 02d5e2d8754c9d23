// `ukv kv get|set|del|status ... --node HOST:PORT`: one request to one node's client port,
// following NOT_LEADER redirects (at most redirectHopsMax other nodes; while the shard has no
// leader yet, short growing waits, at most noLeaderRetriesMax). Prints the value (get), the status
// JSON (status) or OK; a failure prints "error (CODE): message" on stderr and exits with the
// code's status (NOT_FOUND is 1; the table agrees with src/cli/errors.ts).
import { Command, Option } from "clipanion";
import { ShardedClient } from "../client/sharded-client.ts";
import { MetaTopologySource } from "../client/meta-topology.ts";
import { parseAddressList } from "../transport/meta-api.ts";
import { loadClusterConfig } from "../config/cluster-config.ts";
import { KvClient } from "../transport/kv-client.ts";
import type { KvCode, KvRequest, KvResponse } from "../transport/kv-protocol.ts";
import { parseAddress } from "../transport/socket-util.ts";
import { isUkvError } from "../util/errors.ts";

export const redirectHopsMax = 5;
export const noLeaderRetriesMax = 10;
const noLeaderWaitMsMin = 50;
const noLeaderWaitMsMax = 1000;
const requestTimeoutMsDefault = 5000;

const exitStatusByCode: Record<Exclude<KvCode, "OK">, number> = {
  NOT_FOUND: 1,
  INTERNAL: 2,
  BAD_REQUEST: 4,
  NOT_LEADER: 6,
  SHARD_UNAVAILABLE: 7,
  TIMEOUT: 8,
  UNREACHABLE: 9,
  KEY_TOO_LARGE: 10,
  VALUE_TOO_LARGE: 11,
  UNAVAILABLE: 12,
};
const configInvalidExitStatus = 3;

export function kvExitStatus(code: KvCode): number {
  return code === "OK" ? 0 : exitStatusByCode[code];
}

export interface RedirectOptions {
  timeoutMs: number;
  /** Tells the user about each hop (stderr). */
  note(line: string): void;
}

/** Sends `request` to `address`, following leader hints; returns the final answer. */
export async function requestFollowingLeader(address: string, request: Omit<KvRequest, "id">, options: RedirectOptions): Promise<KvResponse> {
  let current = address;
  let hopCount = 0;
  let noLeaderCount = 0;
  for (;;) {
    const client = new KvClient(current, { timeoutMs: options.timeoutMs });
    let response: KvResponse;
    try {
      response = await client.request(request);
    } finally {
      client.close();
    }
    if (response.code !== "NOT_LEADER") return response;
    if (response.leaderAddress !== "" && response.leaderAddress !== current) {
      if (hopCount >= redirectHopsMax) return withMessage(response, `Gave up after ${hopCount} redirects (last node ${current})`);
      hopCount++;
      options.note(`redirected: ${current} -> ${response.leaderAddress}`);
      current = response.leaderAddress;
      continue;
    }
    // No leader known yet (an election is running): wait a little and ask the same node again.
    if (noLeaderCount >= noLeaderRetriesMax) return withMessage(response, `No leader after ${noLeaderCount} retries at ${current}`);
    const waitMs = Math.min(noLeaderWaitMsMin * 2 ** noLeaderCount, noLeaderWaitMsMax);
    noLeaderCount++;
    await new Promise((resolve) => setTimeout(resolve, waitMs));
  }
}

function withMessage(response: KvResponse, message: string): KvResponse {
  return { ...response, message: response.message === "" ? message : `${response.message}; ${message}` };
}

abstract class KvBaseCommand extends Command {
  node = Option.String("--node", { description: "A node's client address, HOST:PORT" });
  router = Option.String("--router", { description: "The router's address, HOST:PORT: it routes the key to its shard" });
  config = Option.String("--config", { description: "Cluster config: route the key to its shard in-process (smart client)" });
  meta = Option.String("--meta", { description: "Metadata members HOST:PORT[,...]: smart client with the topology read from them" });
  timeoutMs = Option.String("--timeout-ms", { description: `Per-request timeout (default ${requestTimeoutMsDefault})` });

  protected abstract buildRequest(): Omit<KvRequest, "id">;
  protected abstract printSuccess(response: KvResponse): void;

  override async execute(): Promise<number> {
    const timeoutMs = this.timeoutMs === undefined ? requestTimeoutMsDefault : Number(this.timeoutMs);
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) {
      this.context.stderr.write(`error (BAD_REQUEST): --timeout-ms must be a positive integer: ${JSON.stringify(this.timeoutMs)}\n`);
      return exitStatusByCode.BAD_REQUEST;
    }
    const targetCount = [this.node, this.router, this.config, this.meta].filter((target) => target !== undefined).length;
    if (targetCount !== 1) {
      this.context.stderr.write("error (BAD_REQUEST): pass exactly one of --node, --router, --config, --meta\n");
      return exitStatusByCode.BAD_REQUEST;
    }
    let response: KvResponse;
    try {
      response =
        this.config === undefined && this.meta === undefined
          ? await this.#viaAddress(this.node ?? this.router ?? "", timeoutMs)
          : await this.#viaSmartClient(timeoutMs);
    } catch (error) {
      this.context.stderr.write(`error (CONFIG_INVALID): ${isUkvError(error) ? error.message : String(error)}\n`);
      return configInvalidExitStatus;
    }
    if (response.code === "OK") {
      this.printSuccess(response);
      return 0;
    }
    this.context.stderr.write(`error (${response.code}): ${this.describeFailure(response)}\n`);
    return kvExitStatus(response.code);
  }

  #viaAddress(address: string, timeoutMs: number): Promise<KvResponse> {
    parseAddress(address);
    return requestFollowingLeader(address, this.buildRequest(), { timeoutMs, note: (line) => this.context.stderr.write(`${line}\n`) });
  }

  /** The smart client: topology from the metadata group (--meta, or the config's meta group), else the config. */
  async #viaSmartClient(timeoutMs: number): Promise<KvResponse> {
    const request = this.buildRequest();
    if (request.op === "STATUS") return { id: 0, code: "BAD_REQUEST", value: noBytes, leaderAddress: "", message: "STATUS names one node: use --node, or `ukv status --config FILE` for the whole cluster", statusJson: "" };
    let source: MetaTopologySource | null = null;
    let client: ShardedClient;
    if (this.meta !== undefined) {
      source = await MetaTopologySource.connect({ metaAddresses: parseAddressList(this.meta) });
      client = new ShardedClient({ topologySource: source, requestTimeoutMs: timeoutMs });
    } else {
      const config = loadClusterConfig(this.config ?? "");
      if (config.meta.members.length > 0) {
        source = new MetaTopologySource({ metaAddresses: config.meta.members.map((member) => member.clientAddress), fallback: config });
        await source.start({ firstWaitMs: 2000 });
      }
      client = new ShardedClient({ ...(source === null ? { config } : { topologySource: source }), requestTimeoutMs: timeoutMs });
    }
    try {
      return await client.request(request);
    } finally {
      client.close();
      await source?.close();
    }
  }

  protected describeFailure(response: KvResponse): string {
    return response.message === "" ? response.code : response.message;
  }
}

const encoder = new TextEncoder();
const noBytes = new Uint8Array(0);

export class KvGetCommand extends KvBaseCommand {
  static override paths = [["kv", "get"]];
  static override usage = Command.Usage({
    category: "Data",
    description: "Read a key",
    details: "Served by the node asked (possibly stale) unless --linearizable, which reads through the leader.",
    examples: [["Read a key", "ukv kv get user:1 --node 127.0.0.1:7101"]],
  });
  key = Option.String();
  linearizable = Option.Boolean("--linearizable", false, { description: "Read through the leader (no stale reads)" });

  protected buildRequest(): Omit<KvRequest, "id"> {
    return { op: "GET", key: encoder.encode(this.key), value: noBytes, linearizable: this.linearizable };
  }

  protected printSuccess(response: KvResponse): void {
    this.context.stdout.write(response.value);
    this.context.stdout.write("\n");
  }

  protected override describeFailure(response: KvResponse): string {
    return response.code === "NOT_FOUND" ? `Key not found: ${this.key}` : super.describeFailure(response);
  }
}

export class KvSetCommand extends KvBaseCommand {
  static override paths = [["kv", "set"]];
  static override usage = Command.Usage({
    category: "Data",
    description: "Write a key (replicated to a majority before OK)",
    examples: [["Write a key", "ukv kv set user:1 alice --node 127.0.0.1:7101"]],
  });
  key = Option.String();
  value = Option.String();

  protected buildRequest(): Omit<KvRequest, "id"> {
    return { op: "SET", key: encoder.encode(this.key), value: encoder.encode(this.value), linearizable: false };
  }

  protected printSuccess(): void {
    this.context.stdout.write("OK\n");
  }
}

export class KvDeleteCommand extends KvBaseCommand {
  static override paths = [
    ["kv", "del"],
    ["kv", "delete"],
  ];
  static override usage = Command.Usage({
    category: "Data",
    description: "Delete a key (OK whether or not it existed)",
    examples: [["Delete a key", "ukv kv del user:1 --node 127.0.0.1:7101"]],
  });
  key = Option.String();

  protected buildRequest(): Omit<KvRequest, "id"> {
    return { op: "DELETE", key: encoder.encode(this.key), value: noBytes, linearizable: false };
  }

  protected printSuccess(): void {
    this.context.stdout.write("OK\n");
  }
}

export class KvStatusCommand extends KvBaseCommand {
  static override paths = [["kv", "status"]];
  static override usage = Command.Usage({
    category: "Data",
    description: "Print a node's status as JSON",
    examples: [["Status of one node", "ukv kv status --node 127.0.0.1:7101"]],
  });

  protected buildRequest(): Omit<KvRequest, "id"> {
    return { op: "STATUS", key: noBytes, value: noBytes, linearizable: false };
  }

  protected printSuccess(response: KvResponse): void {
    this.context.stdout.write(`${response.statusJson}\n`);
  }
}

export const kvCommands = [KvGetCommand, KvSetCommand, KvDeleteCommand, KvStatusCommand] as const;
