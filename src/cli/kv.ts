// `ukv kv get|set|del|status ... --node HOST:PORT`: one request to one store's client port (the
// store routes the key to its shard: served locally or by the shard's leader store), or through
// the optional router, or with the smart client (--config / --meta: routed in-process, no proxy
// hop). Prints the value (get), the status JSON (status) or OK; a failure prints
// "error (CODE): message" on stderr and exits with the code's status (NOT_FOUND is 1; the table
// agrees with src/cli/errors.ts).
import { passwordOption, useCliPassword } from "./password.ts";
import { Command, Option } from "clipanion";
import { ShardedClient } from "../client/sharded-client.ts";
import { MetaTopologySource } from "../client/meta-topology.ts";
import { parseAddressList } from "../transport/meta-api.ts";
import { loadClusterConfig } from "../config/cluster-config.ts";
import { layoutFromConfig } from "../meta/meta-service.ts";
import { metaStoreAddresses } from "../store/store-process.ts";
import { KvClient } from "../transport/kv-client.ts";
import type { KvCode, KvRequest, KvResponse } from "../transport/kv-protocol.ts";
import { parseAddress } from "../transport/socket-util.ts";
import { isUkvError, UkvError } from "../util/errors.ts";
import { valueSizeBytesMax } from "../util/limits.ts";

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
  WRONG_SHARD: 13,
  STALE_EPOCH: 16,
  UNAUTHENTICATED: 17,
  WRONG_TYPE: 18,
};
const configInvalidExitStatus = 3;

export function kvExitStatus(code: KvCode): number {
  return code === "OK" ? 0 : exitStatusByCode[code];
}

abstract class KvBaseCommand extends Command {
  node = Option.String("--node", { description: "Any store's client address, HOST:PORT: it routes the key to its shard" });
  router = Option.String("--router", { description: "The optional router's address, HOST:PORT" });
  config = Option.String("--config", { description: "Cluster config: route the key to its shard in-process (smart client)" });
  meta = Option.String("--meta", { description: "Metadata stores' client addresses HOST:PORT[,...]: smart client with the topology read from them" });
  timeoutMs = Option.String("--timeout-ms", { description: `Per-request timeout (default ${requestTimeoutMsDefault})` });
  password = passwordOption();

  protected abstract buildRequest(): Omit<KvRequest, "id">;
  /** Reads what the request needs before it is built (set's value from stdin); may throw UkvError. */
  protected prepare(): Promise<void> {
    return Promise.resolve();
  }
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
    useCliPassword(this.password);
    try {
      await this.prepare();
    } catch (error) {
      if (!isUkvError(error)) throw error;
      this.context.stderr.write(`error (${error.code}): ${error.message}\n`);
      return error.code === "VALUE_TOO_LARGE" ? exitStatusByCode.VALUE_TOO_LARGE : exitStatusByCode.BAD_REQUEST;
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

  async #viaAddress(address: string, timeoutMs: number): Promise<KvResponse> {
    parseAddress(address);
    const client = new KvClient(address, { timeoutMs });
    try {
      return await client.request(this.buildRequest());
    } finally {
      client.close();
    }
  }

  /** The smart client: topology from the metadata group (--meta, or the config's meta group), else the config. */
  async #viaSmartClient(timeoutMs: number): Promise<KvResponse> {
    const request = this.buildRequest();
    if (request.op === "STATUS") return { id: 0, code: "BAD_REQUEST", value: noBytes, leaderAddress: "", message: "STATUS names one store: use --node, or `ukv status --config FILE` for the whole cluster", statusJson: "" };
    let source: MetaTopologySource | null = null;
    let client: ShardedClient;
    if (this.meta !== undefined) {
      source = await MetaTopologySource.connect({ metaAddresses: parseAddressList(this.meta) });
      client = new ShardedClient({ topologySource: source, requestTimeoutMs: timeoutMs });
    } else {
      const config = loadClusterConfig(this.config ?? "");
      useCliPassword(this.password, config.requirepass);
      source = new MetaTopologySource({ metaAddresses: metaStoreAddresses(config), fallback: layoutFromConfig(config) });
      await source.start({ firstWaitMs: 2000 });
      client = new ShardedClient({ topologySource: source, requestTimeoutMs: timeoutMs });
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
    details: "A follower read (possibly stale) from a replica of the key's shard unless --linearizable, which reads through the leader.",
    examples: [
      ["Read a key through store 1 of `ukv cluster up`", "ukv kv get user:1 --node 127.0.0.1:7101"],
      ["Read through the shard's leader, with the smart client", "ukv kv get user:1 --linearizable --config ukv-data/cluster.yaml"],
    ],
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

/** Reads stdin to its end as bytes; more than valueSizeBytesMax is VALUE_TOO_LARGE (read no further). */
async function readStdinValue(): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let sizeBytes = 0;
  for await (const chunk of Bun.stdin.stream()) {
    sizeBytes += chunk.byteLength;
    if (sizeBytes > valueSizeBytesMax) throw new UkvError("VALUE_TOO_LARGE", `The value on stdin is over ${valueSizeBytesMax} bytes, the limit of a value`);
    chunks.push(chunk);
  }
  const value = new Uint8Array(sizeBytes);
  let offset = 0;
  for (const chunk of chunks) {
    value.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return value;
}

export class KvSetCommand extends KvBaseCommand {
  static override paths = [["kv", "set"]];
  static override usage = Command.Usage({
    category: "Data",
    description: "Write a key (replicated to a majority before OK); VALUE - reads the value from stdin",
    details: "VALUE `-` reads the value from stdin, as bytes, to its end (binary values, and values longer than a command line allows; up to the value limit). To store the one-character value `-`, pipe it: `printf - | ukv kv set k - ...`.",
    examples: [
      ["Write a key through store 1 of `ukv cluster up`", "ukv kv set user:1 alice --node 127.0.0.1:7101"],
      ["Write a file's bytes as the value", "ukv kv set photo:1 - --node 127.0.0.1:7101 < photo.jpg"],
    ],
  });
  key = Option.String({ name: "key" });
  value = Option.String({ name: "value" });
  #valueBytes: Uint8Array | null = null;

  protected override async prepare(): Promise<void> {
    this.#valueBytes = this.value === "-" ? await readStdinValue() : encoder.encode(this.value);
  }

  protected buildRequest(): Omit<KvRequest, "id"> {
    return { op: "SET", key: encoder.encode(this.key), value: this.#valueBytes ?? encoder.encode(this.value), linearizable: false };
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
    details: "`ukv kv delete` is the same command.",
    examples: [["Delete a key through store 1 of `ukv cluster up`", "ukv kv del user:1 --node 127.0.0.1:7101"]],
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
    description: "Print a store's status (every replica it hosts) as JSON",
    examples: [["Status of store 1 of `ukv cluster up`", "ukv kv status --node 127.0.0.1:7101"]],
  });

  protected buildRequest(): Omit<KvRequest, "id"> {
    return { op: "STATUS", key: noBytes, value: noBytes, linearizable: false };
  }

  protected printSuccess(response: KvResponse): void {
    this.context.stdout.write(`${response.statusJson}\n`);
  }
}

export const kvCommands = [KvGetCommand, KvSetCommand, KvDeleteCommand, KvStatusCommand] as const;
