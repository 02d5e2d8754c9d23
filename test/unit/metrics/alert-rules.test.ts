// configs/prometheus/ukv-alerts.yaml: valid rules (promtool check rules), and each alert fires on
// the series that should raise it and not on healthy ones (promtool test rules with
// ukv-alerts.test.yaml). Skips, saying so, where Debian's prometheus package is not installed.
import { expect, test } from "bun:test";
import { resolve } from "node:path";

const dir = resolve(import.meta.dir, "../../../configs/prometheus");
const promtool = Bun.which("promtool");

function run(args: string[]): { exitCode: number; output: string } {
  const result = Bun.spawnSync([promtool!, ...args], { cwd: dir });
  return { exitCode: result.exitCode, output: result.stdout.toString() + result.stderr.toString() };
}

test("promtool check rules accepts the alert rules", () => {
  if (promtool === null) {
    console.log("SKIP: promtool not installed (Debian package prometheus): alert rules not checked");
    return;
  }
  const result = run(["check", "rules", "ukv-alerts.yaml"]);
  expect(result.output).toContain("SUCCESS: 6 rules found");
  expect(result.exitCode).toBe(0);
});

test("promtool test rules: every alert fires when it should and only then", () => {
  if (promtool === null) {
    console.log("SKIP: promtool not installed (Debian package prometheus): alert rule tests not run");
    return;
  }
  const result = run(["test", "rules", "ukv-alerts.test.yaml"]);
  expect(result.output).toContain("SUCCESS");
  expect(result.exitCode).toBe(0);
});
