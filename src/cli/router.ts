// `ukv router --config FILE [--listen HOST:PORT]`: runs the optional stateless routing proxy (the
// same routing every store has built in) until SIGTERM/SIGINT.
import { setClientPassword } from "../transport/client-auth.ts";
import { Command, Option } from "clipanion";
import { loadClusterConfig } from "../config/cluster-config.ts";
import { RespServer } from "../router/resp/resp-server.ts";
import { RouterServer } from "../router/router-server.ts";
import { MetaTopologySource } from "../client/meta-topology.ts";
import { StaticTopologySource, type TopologySource } from "../client/topology.ts";
import { layoutFromConfig } from "../meta/meta-service.ts";
import { metaStoreAddresses } from "../store/store-process.ts";
import { checkAddressesFree, parseAddress } from "../transport/socket-util.ts";
import { UkvError } from "../util/errors.ts";
import { rootLogger } from "../util/log.ts";
import { nameAddressInUse, reportCliError, waitForStopSignal } from "./errors.ts";

export class RouterCommand extends Command {
  static override paths = [["router"]];
  static override usage = Command.Usage({
    description: "Run the optional routing proxy in front of the stores (every store routes too)",
    details:
      "Accepts client connections (the raw protocol), maps each key to its shard by the range map (hash ranges from the metadata group), sends writes to the shard leader and reads to any live replica. A shard that lost quorum is answered `shard N unavailable: no quorum` with a CRITICAL log line per request. STATUS returns the router's view as JSON.",
    examples: [["Route for the example cluster", "ukv router --config configs/cluster-example.yaml"]],
  });

  config = Option.String("--config", { required: true, description: "Cluster config (YAML)" });
  listen = Option.String("--listen", { description: "host:port to listen on (default: router.clientAddress of the config)" });
  respListen = Option.String("--resp-listen", { description: "host:port for the Redis protocol (RESP) listener (default: router.respAddress of the config; off when neither is set)" });
  respPort = Option.String("--resp-port", { description: "Port for the RESP listener on the host of --listen (e.g. 6380)" });
  staticTopology = Option.Boolean("--static-topology", false, {
    description: "Route by the config's shard list only, without watching the metadata group",
  });

  override async execute(): Promise<number> {
    let router: RouterServer;
    let resp: RespServer | null = null;
    let topologySource: MetaTopologySource | null = null;
    let source: TopologySource;
    const roles = new Map<string, string>();
    try {
      const config = loadClusterConfig(this.config);
      const listenAddress = this.listen ?? config.router?.clientAddress;
      if (listenAddress === undefined) {
        throw new UkvError("BAD_REQUEST", `No address to listen on: pass --listen HOST:PORT or set router.clientAddress in ${this.config}`);
      }
      const { host, port } = parseAddress(listenAddress);
      roles.set(`${host}:${port}`, "router's client address");
      // Before the topology watch starts: a port in use is one line and an exit, not a router
      // that logged its start and then failed.
      const respWanted = this.respListen ?? (this.respPort === undefined ? config.router?.respAddress ?? null : `${host}:${this.respPort}`);
      const wanted = [{ address: `${host}:${port}`, role: "router's client address" }];
      if (respWanted !== null) wanted.push({ address: respWanted, role: "router's RESP address" });
      await checkAddressesFree(wanted, "stop that process or choose another port");
      if (this.staticTopology) {
        source = new StaticTopologySource(layoutFromConfig(config));
      } else {
        // Placement changes come from the metadata group (watched by epoch); the config's initial
        // placement serves until it first answers, and whenever it cannot be reached.
        topologySource = new MetaTopologySource({ metaAddresses: metaStoreAddresses(config), fallback: layoutFromConfig(config), logger: rootLogger });
        await topologySource.start();
        source = topologySource;
      }
      setClientPassword(config.requirepass ?? null);
      router = await RouterServer.start({
        password: config.requirepass ?? null,
        electionTimeoutMs: config.electionTicks * config.tickMs,
        topologySource: source,
        listen: { host, port },
        logger: rootLogger,
      });
      const respAddress = respWanted;
      if (respAddress !== null) {
        const respParsed = parseAddress(respAddress);
        roles.set(`${respParsed.host}:${respParsed.port}`, "router's RESP address");
        try {
          resp = await RespServer.start({ backend: router, host: respParsed.host, port: respParsed.port, logger: rootLogger, requirepass: config.requirepass ?? null });
        } catch (error) {
          await router.close();
          throw error;
        }
      }
    } catch (error) {
      // Nothing started may keep the process alive: the topology watch has timers and sockets.
      await topologySource?.close();
      return reportCliError(this.context, nameAddressInUse(error, roles));
    }
    const signal = await waitForStopSignal();
    rootLogger.info({ event: "signal", signal, component: "router" });
    await resp?.close();
    await router.close();
    await topologySource?.close();
    return 0;
  }
}
