// `ukv admin restore --snapshot FILE`: a shard's backup (a snapshot file) written back into a live
// cluster. The whole file is loaded and verified (checksums) into a scratch table first, so a
// damaged backup writes nothing; then every key is written through the smart client, routed by key
// with the topology of the metadata group, a bounded number of writes in flight. Each is one keyed
// RESTORE step carrying the stored bytes, so the value keeps its type (string, list, hash) and its
// deadline; keys already expired are skipped.
import { existsSync } from "node:fs";
import { MetaTopologySource } from "../client/meta-topology.ts";
import { errorFromResponse, ShardedClient } from "../client/sharded-client.ts";
import { loadSnapshotFile } from "../storage/snapshot-store.ts";
import { Table } from "../storage/table.ts";
import { UkvError } from "../util/errors.ts";
import { decodeKeyedReply, encodeKeyedTransaction, KeyedOp } from "../kv/keyed-commands.ts";
import { liveValue } from "../kv/stored-value.ts";

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
        if (liveValue(value, Date.now()) === null) continue;
        const command = encodeKeyedTransaction({ nowMs: 0, watches: [], steps: [{ op: KeyedOp.Restore, key, args: [value] }] });
        const response = await writer.request({ op: "KEYED", key, value: command, linearizable: false });
        const reply = response.code === "OK" ? decodeKeyedReply(response.value) : null;
        const failed = reply?.kind === "array" ? reply.items?.find((item) => item.kind === "error") : undefined;
        if (response.code !== "OK") throw errorFromResponse("RESTORE", response);
        if (failed !== undefined && failed.kind === "error") throw new UkvError("INTERNAL", `Restoring a key failed: ${failed.text}`);
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
