// `bun run scripts/chaos-explain.ts <run folder>/history.jsonl KEY`: the first op of KEY that no
// linearization explains, and the key's ops around it (src/chaos/explain.ts). A chaos run adds the
// same to each linearizability anomaly; this reads a kept history again (for example one written
// before the explanation existed). Exit 0: explained; 1: the key is linearizable; 2: bad input.
import { explainViolation, formatExplanation } from "../src/chaos/explain.ts";
import { readHistory } from "../src/chaos/history.ts";

const [historyPath, key] = process.argv.slice(2);
if (historyPath === undefined || key === undefined) {
  console.error("Usage: bun run scripts/chaos-explain.ts <history.jsonl> <key>");
  process.exit(2);
}
const ops = readHistory(historyPath).filter((op) => op.key === key);
if (ops.length === 0) {
  console.error(`No op of key ${key} in ${historyPath}`);
  process.exit(2);
}
const explanation = explainViolation(ops);
if (explanation === null) {
  console.log(`Key ${key}: its ${ops.length} ops are linearizable`);
  process.exit(1);
}
console.log(`Key ${key} (${ops.length} ops): ${formatExplanation(explanation)}`);
