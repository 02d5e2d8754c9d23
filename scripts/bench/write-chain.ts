// Starts the bare write chain of write-ceiling-node.ts (redis-compare.ts --ceiling, and its test).
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Subprocess } from "bun";
import { readUntil } from "./child-output.ts";

export interface WriteChain {
  /** The entry's RESP port (the port base). */
  respPort: number;
  /** Its three processes, follower, leader and entry: the caller stops them. */
  children: Subprocess[];
}

/** The chain's three processes on ports portBase..portBase+3, each ready to take SETs. */
export async function startWriteChain(dir: string, portBase: number, mode: "forward" | "local"): Promise<WriteChain> {
  mkdirSync(dir, { recursive: true });
  const script = resolve(import.meta.dir, "write-ceiling-node.ts");
  const roles = ["follower", "leader", "entry"];
  const children = roles.map((role) => Bun.spawn([process.execPath, script, role, String(portBase), dir, mode], { stdout: "pipe", stderr: "inherit" }));
  try {
    for (const [index, role] of roles.entries()) await readUntil(children[index]!, `${role} ready`, `write chain ${role}`);
  } catch (error) {
    for (const child of children) child.kill("SIGKILL");
    throw error;
  }
  return { respPort: portBase, children };
}
