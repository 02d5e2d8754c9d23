// `ukv cluster up [--dir DIR] [--shards 2] [--replicas 3] [--port-base 7100]`: a local cluster as
// child processes, until Ctrl-C / SIGTERM. Also re-exports the parent watch that main.ts starts in
// every process, so a child of `cluster up` stops itself when its supervisor dies.
import { Command, Option } from "clipanion";
import { LocalCluster } from "../cluster/cluster-up.ts";
import { parsePositiveInt, reportCliError, waitForStopSignal } from "./errors.ts";

export { watchParentFromEnvironment } from "../cluster/parent-watch.ts";

export class ClusterUpCommand extends Command {
  static override paths = [["cluster", "up"]];
  static override usage = Command.Usage({
    description: "Start a complete local cluster (meta group, data shards and a router) on 127.0.0.1",
    details: [
      "Writes DIR/cluster.yaml on the first run (reused on later runs, which restart the same cluster with its data), ",
      "starts the 3 metadata members (node ids 1..3), every data-shard member and one router as child processes (logs ",
      "in DIR/logs/<name>.log), waits until the meta group and every shard have a leader, prints the endpoints and ",
      "`ukv cluster ready`, and on Ctrl-C or SIGTERM stops them all. The router routes by the static shard list of the config.",
    ].join(""),
    examples: [
      ["Two shards of three replicas in ./ukv-data", "ukv cluster up"],
      ["Three shards of five, ports from 9000", "ukv cluster up --dir /tmp/ukv --shards 3 --replicas 5 --port-base 9000"],
    ],
  });

  dir = Option.String("--dir", "ukv-data", { description: "Cluster directory: cluster.yaml, data/, logs/ (default ./ukv-data)" });
  shards = Option.String("--shards", "2", { description: "Data shards (default 2)" });
  replicas = Option.String("--replicas", "3", { description: "Members per shard (default 3)" });
  portBase = Option.String("--port-base", "7100", { description: "First port; each node takes two, the router two after the nodes (default 7100)" });

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
