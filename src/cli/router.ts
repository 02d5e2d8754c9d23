// `ukv router --config FILE [--listen HOST:PORT]`: runs the routing proxy until SIGTERM/SIGINT.
import { Command, Option } from "clipanion";
import { loadClusterConfig } from "../config/cluster-config.ts";
import { RouterServer } from "../router/router-server.ts";
import { parseAddress } from "../transport/socket-util.ts";
import { UkvError } from "../util/errors.ts";
import { rootLogger } from "../util/log.ts";
import { reportCliError, waitForStopSignal } from "./errors.ts";

export class RouterCommand extends Command {
  static override paths = [["router"]];
  static override usage = Command.Usage({
    description: "Run the routing proxy in front of the data shards",
    details:
      "Accepts client connections (the raw protocol), maps each key to its shard by the consistent-hash ring, sends writes to the shard leader and reads to any live replica. A shard that lost quorum is answered `shard N unavailable: no quorum` with a CRITICAL log line per request. STATUS returns the router's view as JSON.",
    examples: [["Route for the example cluster", "ukv router --config configs/cluster-example.yaml"]],
  });

  config = Option.String("--config", { required: true, description: "Cluster config (YAML)" });
  listen = Option.String("--listen", { description: "host:port to listen on (default: router.clientAddress of the config)" });

  override async execute(): Promise<number> {
    let router: RouterServer;
    try {
      const config = loadClusterConfig(this.config);
      const listenAddress = this.listen ?? config.router?.clientAddress;
      if (listenAddress === undefined) {
        throw new UkvError("BAD_REQUEST", `No address to listen on: pass --listen HOST:PORT or set router.clientAddress in ${this.config}`);
      }
      const { host, port } = parseAddress(listenAddress);
      router = await RouterServer.start({ config, host, port, logger: rootLogger });
    } catch (error) {
      return reportCliError(this.context, error);
    }
    const signal = await waitForStopSignal();
    rootLogger.info({ event: "signal", signal, component: "router" });
    await router.close();
    return 0;
  }
}
