// Keeps the import arrows of STYLE.md true: each src/ folder may import only the folders listed
// for it, and the pure folders (raft, ring) never touch IO, clocks, randomness or the console.
// Run by `npm test` (test/unit/imports.test.ts) and by hand: `bun run scripts/check-imports.ts`.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";

const srcRoot = resolve(import.meta.dir, "../src");

/** folder -> folders it may import (besides itself). `util` and `proto` are open to all below. */
const allowedImports: Record<string, readonly string[]> = {
  main: ["cli", "util"],
  cli: ["store", "kv", "dashboard", "bulk", "cluster", "router", "client", "meta", "node", "config", "storage", "transport", "ring", "raft", "proto", "util"],
  bulk: ["ring", "util"],
  // storage: the DirLock `cluster up` holds on its directory (one supervisor a cluster dir).
  cluster: ["config", "client", "storage", "util"],
  router: ["ring", "kv", "transport", "client", "config", "proto", "util"],
  client: ["ring", "transport", "proto", "util"],
  store: ["dashboard", "metrics", "node", "kv", "meta", "router", "client", "ring", "raft", "storage", "transport", "config", "proto", "util"],
  // ring: a replica owns a hash range (issue 14), which node/ applies and meta/ records.
  meta: ["node", "raft", "ring", "storage", "transport", "config", "proto", "util"],
  node: ["kv", "raft", "ring", "storage", "transport", "config", "proto", "util"],
  transport: ["kv", "proto", "raft", "ring", "util"],
  // The Redis-compatible data model every layer shares: stored values (deadline header) and keyed commands.
  // ring: a list's chunk keys route with their list's key (kv/list-store.ts); both are pure.
  kv: ["ring", "util"],
  config: ["util"],
  // The HTTP listener's page and JSON; metrics: prom-client metrics fed by the store's hooks.
  dashboard: ["metrics", "node", "util"],
  metrics: ["node", "router", "transport", "util"],
  storage: ["util"],
  raft: ["util"],
  ring: ["util"],
  sim: ["raft", "ring", "kv", "node", "storage", "util"],
  chaos: ["store", "kv", "cluster", "router", "client", "meta", "node", "config", "storage", "transport", "ring", "raft", "proto", "util"],
  proto: [],
  util: [],
};

/** Folders that must stay pure: no IO, clocks, randomness or console. */
const pureFolders = new Set(["raft", "ring", "kv"]);
const impurePatterns: readonly [RegExp, string][] = [
  [/from\s+["']node:/, "imports a node: module"],
  [/from\s+["'](fs|net|os|child_process|worker_threads)["']/, "imports an IO module"],
  [/\bDate\.now\b|\bnew Date\(/, "reads the clock"],
  [/\bMath\.random\b/, "uses Math.random"],
  [/\b(setTimeout|setInterval|setImmediate)\(/, "uses a timer"],
  [/\bconsole\./, "writes to the console"],
  [/\bprocess\./, "touches process"],
  // Bun.hash.* is a pure function (the ring's key hash); anything else of Bun is IO or time.
  [/\bBun\.(?!hash\.)/, "touches Bun"],
];

export interface ImportViolation {
  file: string;
  message: string;
}

function listTsFiles(dir: string): string[] {
  const files: string[] = [];
  const stack = [dir];
  while (stack.length > 0) {
    const current = stack.pop() as string;
    for (const name of readdirSync(current)) {
      const path = join(current, name);
      if (statSync(path).isDirectory()) stack.push(path);
      else if (path.endsWith(".ts")) files.push(path);
    }
  }
  return files.sort();
}

function folderOf(file: string): string {
  const rel = relative(srcRoot, file);
  const first = rel.split("/")[0] ?? "";
  return first.endsWith(".ts") ? first.slice(0, -3) : first;
}

export function checkImports(): ImportViolation[] {
  const violations: ImportViolation[] = [];
  for (const file of listTsFiles(srcRoot)) {
    const folder = folderOf(file);
    const allowed = allowedImports[folder];
    const rel = relative(srcRoot, file);
    if (allowed === undefined) {
      violations.push({ file: rel, message: `folder "${folder}" has no entry in scripts/check-imports.ts` });
      continue;
    }
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*["'](\.[^"']+)["']/g)) {
      const target = resolve(dirname(file), match[1] as string);
      if (!target.startsWith(srcRoot)) continue;
      const targetFolder = folderOf(target);
      if (targetFolder !== folder && !allowed.includes(targetFolder)) {
        violations.push({ file: rel, message: `${folder}/ may not import ${targetFolder}/ (${match[1]})` });
      }
    }
    if (pureFolders.has(folder)) {
      const code = text.replace(/\/\/.*$/gm, "").replace(/\/\*[\s\S]*?\*\//g, "");
      for (const [pattern, why] of impurePatterns) {
        if (pattern.test(code)) violations.push({ file: rel, message: `pure folder ${folder}/ ${why}` });
      }
    }
  }
  return violations;
}

if (import.meta.main) {
  const violations = checkImports();
  for (const v of violations) console.error(`${v.file}: ${v.message}`);
  console.log(violations.length === 0 ? "imports ok" : `${violations.length} import violation(s)`);
  process.exit(violations.length === 0 ? 0 : 1);
}
