// The cluster password of a CLI that talks to stores (ukv kv, admin, status, load): --password,
// else UKV_PASSWORD, else the config's requirepass when the command read a config. Set once for
// the process (client-auth.ts), so every client the command makes sends it.
import { Option } from "clipanion";
import { resolveCliPassword, setClientPassword } from "../transport/client-auth.ts";

export function passwordOption(): string | undefined {
  return Option.String("--password", { description: "The cluster's requirepass (default: $UKV_PASSWORD, else the config's)" });
}

/** Call before making clients; `configPassword`: the config's requirepass when one was read. */
export function useCliPassword(flag: string | undefined, configPassword: string | null | undefined = null): void {
  setClientPassword(resolveCliPassword(flag, configPassword ?? null));
}
