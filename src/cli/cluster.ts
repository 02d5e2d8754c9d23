// `ukv cluster up [--dir DIR] [--stores 3] [--shards 8] [--replicas 3] [--port-base 7100]`: a local cluster as
// child processes, until Ctrl-C / SIGTERM. Also re-exports the parent watch that main.ts starts in
// every process, so a child of `cluster up` stops itself when its supervisor dies.
//
// Stopping, in any order of events: one signal handler for the life of the command (so no window
// exists in which a second Ctrl-C finds no handler and kills the supervisor halfway); a signal
// during start-up stops the start-up at its next poll; after start-up the supervisor waits for
// the first of a stop signal and "every store exited", and both end in stopAll (which skips the
// children already gone) and an exit. A supervisor whose stores all died exits non-zero.
import { setClientPassword } from "../transport/client-auth.ts";
import { Command, Option } from "clipanion";
import { LocalCluster, storeListenAddresses } from "../cluster/cluster-up.ts";
import { checkAddressesFree } from "../transport/socket-util.ts";
import { UkvError } from "../util/errors.ts";
import { parsePositiveInt, reportCliError } from "./errors.ts";

export { watchParentFromEnvironment } from "../cluster/parent-watch.ts";

/** How long "every store exited" waits for a stop signal that may be in flight to us too. */
const signalGraceMs = 500;

/** 128 + SIGINT's number, what a shell reports for a command stopped by Ctrl-C during start-up. */
const interruptedExitStatus = 130;

/** Every SIGINT/SIGTERM from the start: the first resolves `first`, later ones call `repeated`. */
function listenForStopSignals(repeated: () => void): { first: Promise<NodeJS.Signals>; received(): NodeJS.Signals | null } {
  let signalReceived: NodeJS.Signals | null = null;
  let resolveFirst: (signal: NodeJS.Signals) => void = () => undefined;
  const first = new Promise<NodeJS.Signals>((resolve) => {
    resolveFirst = resolve;
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalReceived !== null) {
      repeated();
      return;
    }
    signalReceived = signal;
    resolveFirst(signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return { first, received: () => signalReceived };
}

export class ClusterUpCommand extends Command {
  static override paths = [["cluster", "up"]];
  static override usage = Command.Usage({
    category: "Local cluster",
    description: "Start a complete local cluster (one store process per simulated server) on 127.0.0.1",
    details: [
      "Writes DIR/cluster.yaml on the first run (reused on later runs, which restart the same cluster with its data), ",
      "checks that every port it needs is free, starts one `ukv node` per store as child processes (logs in DIR/logs/store-<id>.log; the first three also hold the ",
      "metadata group), waits until the metadata group and every shard have a leader, prints every store's client and ",
      "RESP address and `ukv cluster ready`, and on Ctrl-C or SIGTERM stops them all. Every store routes any key. ",
      "A directory another `cluster up` is using is refused before anything starts. If every store exits on its own, ",
      "`cluster up` exits non-zero.",
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
  portBase = Option.String("--port-base", "7100", { description: "First port; store N takes raft/client/RESP/HTTP ports P+10(N-1)+0..3 (default 7100)" });

  override async execute(): Promise<number> {
    const print = (line: string): void => {
      this.context.stdout.write(`${line}\n`);
    };
    // Listen from the start: a Ctrl-C during start-up must still stop what was started.
    const signals = listenForStopSignals(() => print("already stopping (children get SIGKILL after the stop timeout)"));
    let cluster: LocalCluster;
    try {
      cluster = await LocalCluster.up({
        dir: this.dir,
        stores: parsePositiveInt("--stores", this.stores),
        shards: parsePositiveInt("--shards", this.shards),
        replicas: parsePositiveInt("--replicas", this.replicas),
        portBase: parsePositiveInt("--port-base", this.portBase),
        print,
        useConfig: (config) => setClientPassword(config.requirepass ?? null),
        checkPorts: (config) => checkAddressesFree(storeListenAddresses(config), "stop it, or pass another --port-base (with a new --dir, or delete the dir's cluster.yaml)"),
        stopRequested: () => signals.received() !== null,
      });
    } catch (error) {
      const signal = signals.received();
      if (signal !== null) {
        print(`${signal}: start-up stopped, every store stopped`);
        return interruptedExitStatus;
      }
      return reportCliError(this.context, error);
    }
    for (const line of cluster.endpoints()) print(line);
    print("ukv cluster ready");
    cluster.supervisor.onUnexpectedExit((child) => print(`${child.name} exited with code ${child.exitCode} (log: ${child.logPath})`));
    const raced = await Promise.race([signals.first, cluster.supervisor.allExited().then(() => null)]);
    // Ctrl-C in a terminal may reach the stores too and they can all be gone before our handler
    // runs: a signal received counts as a requested stop whichever event won the race.
    // A signal sent to the whole process group can reach the stores (which exit at once) before it
    // reaches us: after they all exit, give a signal in flight a moment before calling it a crash.
    if (raced === null && signals.received() === null) {
      await Promise.race([signals.first, Bun.sleep(signalGraceMs)]);
    }
    const outcome = raced ?? signals.received();
    if (outcome === null) {
      await cluster.down();
      return reportCliError(this.context, new UkvError("UNAVAILABLE", `Every store exited: the cluster is down (logs in ${cluster.supervisor.logDir})`));
    }
    print(`${outcome}: stopping the cluster`);
    await cluster.down();
    print("ukv cluster stopped");
    return 0;
  }
}
