// `ukv admin restore --snapshot FILE`: a shard's backup (a snapshot file) written back into a live
// cluster. The whole file is loaded and verified (checksums) into a scratch table first, so a
// damaged backup writes nothing; then every key is SET through the smart client, routed by key
// with the topology of the metadata group, a bounded number of writes in flight.
import { existsSync } from "node:fs";
import { MetaTopologySource } from "../client/meta-topology.ts";
import { ShardedClient } from "../client/sharded-client.ts";
import { loadSnapshotFile } from "../storage/snapshot-store.ts";
import { Table } from "../storage/table.ts";
import { UkvError } from "../util/errors.ts";

/** Writes in flight at once: enough to fill a pipeline, few enough not to swamp a store. */
const restoreInflightMax = 64;
const progressEveryKeys = 100_000;

export async function restoreSnapshot(path: string, metaAddresses: string[], print: (line: string) => void): Promise<void> {
  if (!existsSync(path)) throw new UkvError("BAD_REQUEST", `Snapshot file not found: ${path}`);
  const table = Table.create();
  let source: MetaTopologySource | null = null;
  let client: ShardedClient | null = null;
  try {
    const info = await loadSnapshotFile(path, table);
    const entries = table.entries();
    print(`${path}: snapshot at index ${info.index} (term ${info.term}), ${entries.length} keys, verified`);
    source = await MetaTopologySource.connect({ metaAddresses });
    client = new ShardedClient({ topologySource: source });
    const writer = client;
    let next = 0;
    let written = 0;
    const worker = async (): Promise<void> => {
      while (next < entries.length) {
        const [key, value] = entries[next++]!;
        await writer.set(key, value);
        written++;
        if (written % progressEveryKeys === 0) print(`${written} of ${entries.length} keys written`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(restoreInflightMax, Math.max(1, entries.length)) }, worker));
    print(`restored ${written} keys from ${path}`);
  } finally {
    client?.close();
    await source?.close();
    table.close();
  }
}
