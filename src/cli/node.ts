// `ukv node --config FILE --id ID [--data-dir DIR]`: runs store ID (one per server) until
// SIGTERM/SIGINT, then drains and exits 0. `--join` starts a store that is not in the config: it
// registers its addresses with the metadata group and hosts whatever replicas are placed on it.
import { setClientPassword } from "../transport/client-auth.ts";
import { Command, Option } from "clipanion";
import { existsSync } from "node:fs";
import { loadClusterConfig, storeDataDir, type ClusterConfig } from "../config/cluster-config.ts";
import { DirLock } from "../storage/dir-lock.ts";
import { StoreProcess } from "../store/store-process.ts";
import { checkAddressesFree, parseAddress } from "../transport/socket-util.ts";
import { rootLogger } from "../util/log.ts";
import { UkvError } from "../util/errors.ts";
import { nameAddressInUse, parsePositiveInt, reportCliError, waitForStopSignal } from "./errors.ts";

export class NodeCommand extends Command {
  static override paths = [["node"]];
  static override usage = Command.Usage({
    description: "Run one store: the replicas of every shard placed on this server",
    details:
      "Reads the cluster config, locks the store's data dir, recovers every replica it hosts (snapshots + the shared log), and serves the raw client protocol and RESP, routing each request to its shard. Run one per server.",
    examples: [
      ["Run store 1 of a local cluster made by `ukv cluster up`", "ukv node --config ukv-data/cluster.yaml --id 1"],
      ["Start a new store 4 that joins a running cluster", "ukv node --config ukv-data/cluster.yaml --id 4 --join --raft-addr 127.0.0.1:7130 --client-addr 127.0.0.1:7131"],
    ],
  });

  config = Option.String("--config", { required: true, description: "Cluster config (YAML): stores, metadata stores, shards, timing" });
  id = Option.String("--id", { required: true, description: "This store's id (in the config's stores, unless --join)" });
  join = Option.Boolean("--join", false, { description: "A store not in the config: register with the metadata group; needs --raft-addr and --client-addr" });
  raftAddr = Option.String("--raft-addr", { description: "With --join: where this store listens for other stores (host:port)" });
  clientAddr = Option.String("--client-addr", { description: "With --join: where this store serves clients (host:port)" });
  respAddr = Option.String("--resp-addr", { description: "With --join: where this store serves RESP (host:port; default none)" });
  httpAddr = Option.String("--http-addr", { description: "With --join: where this store serves /metrics and the dashboard (host:port; default none)" });
  dataDir = Option.String("--data-dir", { description: "Data directory (default: <config dataDir>/store-<id>)" });
  slowFailover = Option.Boolean("--no-fast-failover", false, {
    description: "Wait out the full election timeout when a leader's store connection drops",
  });

  /** Every address this store will listen on, with its role (for the message of a port in use). */
  #listenAddresses(config: ClusterConfig, storeId: number): { address: string; role: string }[] {
    const store = config.stores.find((candidate) => candidate.id === storeId);
    const raft = this.raftAddr ?? store?.raftAddress;
    const client = this.clientAddr ?? store?.clientAddress;
    const resp = this.join ? this.respAddr : store?.respAddress;
    const http = this.join ? this.httpAddr : store?.httpAddress;
    const addresses: { address: string; role: string }[] = [];
    if (raft !== undefined) addresses.push({ address: raft, role: `store ${storeId}'s Raft address` });
    if (client !== undefined) addresses.push({ address: client, role: `store ${storeId}'s client address` });
    if (resp !== undefined && resp !== null) addresses.push({ address: resp, role: `store ${storeId}'s RESP address` });
    if (http !== undefined && http !== null) addresses.push({ address: http, role: `store ${storeId}'s HTTP address` });
    return addresses;
  }

  override async execute(): Promise<number> {
    let node: StoreProcess;
    let listenAddresses: { address: string; role: string }[] = [];
    try {
      const storeId = parsePositiveInt("--id", this.id);
      const config = loadClusterConfig(this.config);
      // The store's own clients (forwarding, coordinator, dashboard monitor) use the cluster's secret.
      setClientPassword(config.requirepass ?? null);
      let joining = undefined;
      if (this.join) {
        if (this.raftAddr === undefined || this.clientAddr === undefined) throw new UkvError("BAD_REQUEST", "--join needs --raft-addr and --client-addr");
        if (config.stores.some((store) => store.id === storeId)) throw new UkvError("BAD_REQUEST", `Store ${storeId} is in the config already: start it without --join`);
        for (const text of [this.raftAddr, this.clientAddr, this.respAddr, this.httpAddr]) if (text !== undefined) parseAddress(text);
        const addresses = { raftAddress: this.raftAddr, clientAddress: this.clientAddr, respAddress: this.respAddr ?? null };
        const httpAddress = this.httpAddr ?? null;
        joining = { id: storeId, ...addresses, advertised: addresses, httpAddress, advertisedHttpAddress: httpAddress };
      }
      listenAddresses = this.#listenAddresses(config, storeId);
      // The same store started twice holds both its dir and its ports: say the dir (DIR_LOCKED),
      // the more precise answer. Then the ports, before the dir is locked or its log opened: a
      // port in use is one line and an exit, and leaves no data dir behind.
      const dataDir = this.dataDir ?? storeDataDir(config, storeId);
      if (existsSync(dataDir)) DirLock.acquire(dataDir).release();
      await checkAddressesFree(listenAddresses, "stop that process or choose another port");
      node = await StoreProcess.start({
        config,
        storeId,
        ...(this.dataDir === undefined ? {} : { dataDir: this.dataDir }),
        logger: rootLogger.child({ store: storeId }),
        fastFailover: !this.slowFailover,
        ...(joining === undefined ? {} : { joining }),
      });
    } catch (error) {
      // The listen itself can still lose a race with another process: name the role then too.
      const roles = new Map(listenAddresses.map(({ address, role }) => [address, role]));
      return reportCliError(this.context, nameAddressInUse(error, roles));
    }
    const signal = await waitForStopSignal();
    rootLogger.info({ event: "signal", signal, store: node.store.storeId });
    await node.close();
    return 0;
  }
}
