// `ukv cluster up [--dir DIR] [--stores 3] [--shards 8] [--replicas 3] [--port-base 7100]`: a local cluster as
// child processes, until Ctrl-C / SIGTERM. Also re-exports the parent watch that main.ts starts in
// every process, so a child of `cluster up` stops itself when its supervisor dies.
import { Command, Option } from "clipanion";
import { LocalCluster } from "../cluster/cluster-up.ts";
import { parsePositiveInt, reportCliError, waitForStopSignal } from "./errors.ts";

export { watchParentFromEnvironment } from "../cluster/parent-watch.ts";

export class ClusterUpCommand extends Command {
  static override paths = [["cluster", "up"]];
  static override usage = Command.Usage({
    description: "Start a complete local cluster (one store process per simulated server) on 127.0.0.1",
    details: [
      "Writes DIR/cluster.yaml on the first run (reused on later runs, which restart the same cluster with its data), ",
      "starts one `ukv node` per store as child processes (logs in DIR/logs/store-<id>.log; the first three also hold the ",
      "metadata group), waits until the metadata group and every shard have a leader, prints every store's client and ",
      "RESP address and `ukv cluster ready`, and on Ctrl-C or SIGTERM stops them all. Every store routes any key. ",
      "A directory another `cluster up` is using is refused before anything starts.",
    ].join(""),
    examples: [
      ["Three stores, eight shards of three replicas, in ./ukv-data", "ukv cluster up"],
      ["Five stores, sixteen shards, ports from 9000", "ukv cluster up --dir /tmp/ukv --stores 5 --shards 16 --port-base 9000"],
    ],
  });

  dir = Option.String("--dir", "ukv-data", { description: "Cluster directory: cluster.yaml, data/, logs/ (default ./ukv-data)" });
  stores = Option.String("--stores", "3", { description: "Store processes (default 3)" });
  shards = Option.String("--shards", "8", { description: "Data shards (default 8)" });
  replicas = Option.String("--replicas", "3", { description: "Replicas per shard, on distinct stores (default 3)" });
  portBase = Option.String("--port-base", "7100", { description: "First port; store N takes raft/client/RESP ports P+10(N-1)+0..2 (default 7100)" });

  override async execute(): Promise<number> {
    const print = (line: string): void => {
      this.context.stdout.write(`${line}\n`);
    };
    let cluster: LocalCluster;
    // Listen from the start: a Ctrl-C during start-up must still stop what was started.
    const stopSignal = waitForStopSignal();
    try {
      const startUp = LocalCluster.up({
        dir: this.dir,
        stores: parsePositiveInt("--stores", this.stores),
        shards: parsePositiveInt("--shards", this.shards),
        replicas: parsePositiveInt("--replicas", this.replicas),
        portBase: parsePositiveInt("--port-base", this.portBase),
        print,
      });
      cluster = await startUp;
    } catch (error) {
      return reportCliError(this.context, error);
    }
    for (const line of cluster.endpoints()) print(line);
    print("ukv cluster ready");
    cluster.supervisor.onUnexpectedExit((child) => print(`${child.name} exited with code ${child.exitCode} (log: ${child.logPath})`));
    const signal = await stopSignal;
    print(`${signal}: stopping the cluster`);
    // A second Ctrl-C must not kill the supervisor halfway (its children would then be left to
    // the parent watch): the stop is already bounded by SIGKILL after the stop timeout.
    const repeated = (): void => print("already stopping (children get SIGKILL after the stop timeout)");
    process.on("SIGINT", repeated);
    process.on("SIGTERM", repeated);
    await cluster.down();
    print("ukv cluster stopped");
    return 0;
  }
}
