// Reading the topology from the metadata group: a TOPOLOGY request to a metadata store (any
// replica answers from its applied state), optionally a long-poll that returns once the epoch passes a
// known one. Shared by nodes joining a shard, the admin commands, routers and smart clients.
import { UkvError } from "../util/errors.ts";
import type { KvRequest, KvResponse } from "./kv-protocol.ts";
import type { Topology, TopologyShard } from "./topology-wire.ts";

const encoder = new TextEncoder();

/** What reading the topology needs of a client of the metadata group (client/group-client.ts). */
export interface MetaGroupClient {
  readonly addresses: readonly string[];
  request(fields: Omit<KvRequest, "id">): Promise<KvResponse>;
}

export async function fetchTopology(meta: MetaGroupClient, options: { knownEpoch?: number } = {}): Promise<Topology> {
  const response = await meta.request({
    op: "TOPOLOGY",
    key: new Uint8Array(0),
    value: options.knownEpoch === undefined ? new Uint8Array(0) : encoder.encode(String(options.knownEpoch)),
    linearizable: false,
  });
  // A missing or wrong password is not a metadata group that is down: say so.
  if (response.code === "UNAUTHENTICATED") throw new UkvError("UNAUTHENTICATED", `${meta.addresses.join(", ")}: ${response.message}`);
  if (response.code !== "OK") {
    throw new UkvError("SHARD_UNAVAILABLE", `Metadata group did not answer: ${response.code} ${response.message}`);
  }
  const body = JSON.parse(response.statusJson) as { topology?: Topology };
  if (body.topology === undefined) throw new UkvError("BAD_REQUEST", `No topology in the answer of ${meta.addresses.join(", ")}: not a metadata store`);
  return body.topology;
}

export function findShard(topology: Topology, shardId: number): TopologyShard {
  const shard = topology.layout?.shards.find((candidate) => candidate.id === shardId);
  if (shard === undefined) throw new UkvError("BAD_REQUEST", `Unknown shard ${shardId}: the topology has ${topology.layout?.shards.map((entry) => entry.id).join(", ") ?? "no layout yet"}`);
  return shard;
}

export function parseAddressList(text: string): string[] {
  const addresses = text.split(",").map((part) => part.trim()).filter((part) => part.length > 0);
  if (addresses.length === 0) throw new UkvError("BAD_REQUEST", `Expected comma-separated host:port addresses: ${JSON.stringify(text)}`);
  return addresses;
}
