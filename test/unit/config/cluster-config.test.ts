// Cluster config rules: each has a fixture under fixtures/ and an assertion that the error names
// the file, the field path and the reason. Valid files parse with defaults; generated and
// rendered configs round-trip through the parser.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  findMember,
  generateLocalClusterConfig,
  loadClusterConfig,
  nodeDataDir,
  parseClusterConfig,
  renderClusterConfig,
  type ClusterConfig,
} from "../../../src/config/cluster-config.ts";
import { isUkvError, type UkvError } from "../../../src/util/errors.ts";
import { walSegmentSizeBytesDefault } from "../../../src/util/limits.ts";

const fixturesDir = join(import.meta.dir, "fixtures");
const repoRoot = resolve(import.meta.dir, "../../..");
const tempDir = mkdtempSync(join(tmpdir(), "ukv-config-test-"));
afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

function fixture(name: string): string {
  return join(fixturesDir, name);
}

function loadError(path: string): UkvError {
  try {
    loadClusterConfig(path);
  } catch (error) {
    expect(isUkvError(error, "CONFIG_INVALID")).toBe(true);
    return error as UkvError;
  }
  throw new Error(`${path} loaded without error`);
}

/** Asserts the error lists exactly these problems, each as "<file>: <field>: <reason>". */
function expectProblems(name: string, expected: readonly [field: string, reason: string][]): void {
  const path = fixture(name);
  const error = loadError(path);
  const lines = error.message.split("\n").slice(1);
  expect(error.message.split("\n")[0]).toBe(`Invalid cluster config ${path}: ${expected.length === 1 ? "1 problem" : `${expected.length} problems`}`);
  expect(lines.length).toBe(expected.length);
  for (const [field, reason] of expected) {
    expect(lines.some((line) => line.startsWith(`  ${path}: ${field}: `) && line.includes(reason))).toBe(true);
  }
  expect(error.data["file"]).toBe(path);
}

describe("valid files", () => {
  test("a file with only the required keys gets every default, and dataDir resolves against the file's directory", () => {
    const config = loadClusterConfig(fixture("valid-minimal.yaml"));
    expect(config.clusterName).toBe("minimal");
    expect(config.dataDir).toBe(join(fixturesDir, "data"));
    expect(config.tickMs).toBe(50);
    expect(config.electionTicks).toBe(20);
    expect(config.heartbeatTicks).toBe(2);
    expect(config.snapshotEntriesThreshold).toBe(100_000);
    expect(config.walSegmentSizeBytes).toBe(walSegmentSizeBytesDefault);
    expect(config.router).toBeNull();
    expect(config.meta.allowFewerThanThreeMembers).toBe(false);
    expect(config.shards[0]?.allowFewerThanThreeMembers).toBe(false);
    expect(config.shards[0]?.members.map((member) => member.id)).toEqual([4, 5, 6]);
  });

  test("parseClusterConfig resolves a relative dataDir against baseDir", () => {
    const text = `clusterName: x\ndataDir: d\nmeta:\n  allowFewerThanThreeMembers: true\n  members: [{ id: 1, raftAddress: "h:1", clientAddress: "h:2" }]\nshards:\n  - { id: 1, allowFewerThanThreeMembers: true, members: [{ id: 2, raftAddress: "h:3", clientAddress: "h:4" }] }\n`;
    expect(parseClusterConfig(text, "inline", "/srv/ukv").dataDir).toBe("/srv/ukv/d");
    expect(parseClusterConfig(text.replace("dataDir: d", "dataDir: /abs"), "inline", "/srv/ukv").dataDir).toBe("/abs");
  });

  test("groups smaller than 3 load when allowFewerThanThreeMembers is set", () => {
    const config = loadClusterConfig(fixture("too-few-members-allowed.yaml"));
    expect(config.meta.members.length).toBe(1);
    expect(config.shards[0]?.allowFewerThanThreeMembers).toBe(true);
  });

  test("configs/cluster-example.yaml: 3 meta members, 2 shards of 3, a router", () => {
    const config = loadClusterConfig(join(repoRoot, "configs/cluster-example.yaml"));
    expect(config.meta.members.length).toBe(3);
    expect(config.shards.map((shard) => shard.members.length)).toEqual([3, 3]);
    expect(config.router).toEqual({ clientAddress: "10.0.0.10:7300", respAddress: "10.0.0.10:6379" });
  });

  test("configs/local-1shard.yaml equals the generated local cluster of 1 shard x 3 at port 7101", () => {
    const config = loadClusterConfig(join(repoRoot, "configs/local-1shard.yaml"));
    const generated = generateLocalClusterConfig({ dir: join(repoRoot, "data/local-1shard"), shards: 1, replicas: 3, portBase: 7101 });
    expect(config).toEqual(generated);
    expect(config.shards[0]?.members[0]?.raftAddress).toBe("127.0.0.1:7107");
  });
});

describe("each rule names the file, the field and the reason", () => {
  test("unknown keys are rejected (a typo must not silently fall back to a default)", () => {
    expectProblems("unknown-field.yaml", [
      ["tickMS", "unknown field"],
      ["shards[0].members[1].raftAddr", "unknown field"],
      ["shards[0].members[1].raftAddress", "missing field"],
    ]);
  });

  test("missing required fields are named", () => {
    expectProblems("missing-field.yaml", [
      ["clusterName", "missing field"],
      ["meta.members[2].clientAddress", "missing field"],
      ["shards[0].id", "missing field"],
    ]);
  });

  test("wrong types name the expected and the received type", () => {
    expectProblems("wrong-type.yaml", [
      ["tickMs", 'expected a number, got string "fast"'],
      ["electionTicks", "must be an integer, got 2.5"],
      ["meta.members[0].clientAddress", "expected a string, got number 7102"],
      ["meta.allowFewerThanThreeMembers", 'expected a boolean, got string "yes"'],
      ["shards", "expected a list, got a mapping"],
    ]);
  });

  test("addresses must be host:port with a port in 1..65535 (IPv6 in brackets and DNS names accepted)", () => {
    expectProblems("bad-address.yaml", [
      ["meta.members[0].raftAddress", 'expected host:port (e.g. "127.0.0.1:7101"), got "127.0.0.1"'],
      ["meta.members[1].raftAddress", "port must be in 1..65535, got 70000"],
      ["meta.members[2].clientAddress", "port must be in 1..65535, got 0"],
      ["shards[0].members[0].clientAddress", 'got "node four:7108"'],
      ["shards[0].members[2].clientAddress", 'got "127.0.0.1:port"'],
    ]);
  });

  test("node ids are unique across meta and shards", () => {
    expectProblems("duplicate-node-id.yaml", [
      ["shards[0].members[1].id", "duplicate node id 2, already used at meta.members[1].id"],
      ["shards[0].members[2].id", "duplicate node id 4, already used at shards[0].members[0].id"],
    ]);
  });

  test("no two listeners share a host and port (localhost is 127.0.0.1; another host may reuse a port)", () => {
    expectProblems("duplicate-address.yaml", [
      ["meta.members[1].raftAddress", "address 127.0.0.1:7101 (host and port) is already used at meta.members[0].raftAddress"],
      ["shards[0].members[0].clientAddress", "address localhost:7102 (host and port) is already used at meta.members[0].clientAddress"],
      ["router.respAddress", "address 127.0.0.1:7113 (host and port) is already used at router.clientAddress"],
    ]);
  });

  test("shard ids are unique", () => {
    expectProblems("duplicate-shard-id.yaml", [["shards[1].id", "duplicate shard id 7, already used at shards[0].id"]]);
  });

  test("a group of fewer than 3 members needs allowFewerThanThreeMembers, for meta and for shards", () => {
    expectProblems("too-few-members.yaml", [
      ["meta.members", "has 1 member(s); a Raft group needs at least 3 to survive a failure (set meta.allowFewerThanThreeMembers: true"],
      ["shards[0].members", "has 2 member(s); a Raft group needs at least 3 to survive a failure (set shards[0].allowFewerThanThreeMembers: true"],
    ]);
  });

  test("electionTicks must exceed heartbeatTicks", () => {
    expectProblems("election-ticks.yaml", [["electionTicks", "must be greater than heartbeatTicks (3), got 3"]]);
  });

  test("values out of range name the bound and the value", () => {
    expectProblems("out-of-range.yaml", [
      ["clusterName", 'starting with a letter or digit, got "-bad name"'],
      ["dataDir", "must not be empty"],
      ["tickMs", "must be at least 1, got 0"],
      ["snapshotEntriesThreshold", "must be at least 1, got -5"],
      ["walSegmentSizeBytes", "must be at least 8388608, got 1024"],
      ["meta.members[0].id", "must be at least 1, got 0"],
      ["shards", "must list at least one shard"],
    ]);
  });

  test("at most 9 members per group and 64 shards", () => {
    expectProblems("too-many-members.yaml", [["shards[0].members", "must list at most 9 members (groupMemberCountMax), got 10"]]);
    expectProblems("too-many-shards.yaml", [["shards", "must list at most 64 shards (shardCountMax), got 65"]]);
  });

  test("several problems are all listed in one error", () => {
    expectProblems("several-problems.yaml", [
      ["electionTicks", "must be greater than heartbeatTicks (5), got 2"],
      ["meta.members", "has 2 member(s)"],
      ["shards[0].members[0].id", "duplicate node id 1, already used at meta.members[0].id"],
      ["shards[0].members[1].raftAddress", "address 127.0.0.1:7107 (host and port) is already used at shards[0].members[0].raftAddress"],
    ]);
    const error = loadError(fixture("several-problems.yaml"));
    expect((error.data["problems"] as unknown[]).length).toBe(4);
  });

  test("shape problems do not hide cross-field problems: both kinds are listed", () => {
    expectProblems("shape-and-cross-problems.yaml", [
      ["tickMs", 'expected a number, got string "fast"'],
      ["meta.members[1].weight", "unknown field"],
      ["shards[0].members[1].id", 'expected a number, got string "five"'],
      ["meta.members", "has 2 member(s)"],
      ["shards[0].members[0].id", "duplicate node id 2, already used at meta.members[1].id"],
      ["shards[0].members[1].raftAddress", "address 127.0.0.1:7101 (host and port) is already used at meta.members[0].raftAddress"],
    ]);
  });

  test("an empty file says so", () => {
    expectProblems("empty.yaml", [["(root)", "the file is empty"]]);
  });
});

describe("files that cannot be read or parsed", () => {
  test("a YAML syntax error names the file and the line", () => {
    const path = fixture("syntax-error.yaml");
    const error = loadError(path);
    expect(error.message).toContain(`Invalid cluster config ${path}: YAML syntax error`);
    expect(error.message).toContain(`${path}: line 6, column 1:`);
    expect(error.data["line"]).toBe(6);
  });

  // Found by the config-yaml fuzzer: both escaped as a bare ReferenceError from the yaml library.
  test("an alias without its anchor, and an alias bomb, are CONFIG_INVALID", () => {
    const parseError = (text: string): UkvError => {
      try {
        parseClusterConfig(text, "aliases.yaml", "/");
      } catch (error) {
        expect(isUkvError(error, "CONFIG_INVALID")).toBe(true);
        return error as UkvError;
      }
      throw new Error("parsed without error");
    };
    expect(parseError("clusterName: *missing\n").message).toContain("Invalid cluster config aliases.yaml: Unresolved alias");
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let level = 1; level < 8; level++) levels.push(`${String.fromCharCode(97 + level)}: &${String.fromCharCode(97 + level)} [${Array(10).fill(`*${String.fromCharCode(96 + level)}`).join(", ")}]`);
    expect(parseError(levels.join("\n") + "\n").message).toContain("Invalid cluster config aliases.yaml: Excessive alias count");
  });

  test("a duplicate YAML key is a syntax error at its line", () => {
    const path = fixture("duplicate-yaml-key.yaml");
    const error = loadError(path);
    expect(error.message).toContain(`${path}: line 3, column 1: Map keys must be unique`);
  });

  test("a missing file is a clear CONFIG_INVALID naming the path", () => {
    const path = join(tempDir, "absent.yaml");
    const error = loadError(path);
    expect(error.message).toBe(`Cannot read cluster config ${path}: file not found (resolved to ${path})`);
  });

  test("a directory is not a config file", () => {
    expect(loadError(tempDir).message).toContain("is a directory, not a file");
  });
});

describe("lookups", () => {
  const config = loadClusterConfig(join(repoRoot, "configs/cluster-example.yaml"));

  test("findMember finds meta members (shard null) and shard members (with their shard)", () => {
    expect(findMember(config, 2)).toEqual({ member: config.meta.members[1] as ClusterConfig["meta"]["members"][number], shard: null });
    const found = findMember(config, 22);
    expect(found?.shard?.id).toBe(2);
    expect(found?.member.raftAddress).toBe("10.0.2.2:7100");
    expect(findMember(config, 99)).toBeNull();
  });

  test("nodeDataDir is <dataDir>/node-<id>", () => {
    expect(nodeDataDir(config, 11)).toBe("/var/lib/ukv/node-11");
  });
});

describe("render and generate", () => {
  test("renderClusterConfig round-trips every file fixture that loads", () => {
    for (const path of [fixture("valid-minimal.yaml"), fixture("too-few-members-allowed.yaml"), join(repoRoot, "configs/cluster-example.yaml")]) {
      const config = loadClusterConfig(path);
      expect(parseClusterConfig(renderClusterConfig(config), "rendered", "/")).toEqual(config);
    }
  });

  test("a generated local cluster has 3 meta members, S x R shard members, unique ports from portBase, and round-trips", () => {
    const config = generateLocalClusterConfig({ dir: join(tempDir, "cluster"), shards: 4, replicas: 5, portBase: 20000 });
    expect(config.dataDir).toBe(join(tempDir, "cluster"));
    expect(config.meta.members.map((member) => member.id)).toEqual([1, 2, 3]);
    expect(config.shards.map((shard) => shard.members.length)).toEqual([5, 5, 5, 5]);
    expect(config.shards[3]?.members.at(-1)?.id).toBe(23);
    const ports = [...config.meta.members, ...config.shards.flatMap((shard) => shard.members)]
      .flatMap((member) => [member.raftAddress, member.clientAddress])
      .concat([config.router?.clientAddress ?? "", config.router?.respAddress ?? ""])
      .map((address) => Number(address.split(":")[1]));
    expect(ports).toEqual(Array.from({ length: 2 * 23 + 2 }, (_, index) => 20000 + index));
    const path = join(tempDir, "generated.yaml");
    writeFileSync(path, renderClusterConfig(config));
    expect(loadClusterConfig(path)).toEqual(config);
  });

  test("a generated cluster of fewer than 3 replicas sets allowFewerThanThreeMembers", () => {
    const config = generateLocalClusterConfig({ dir: tempDir, shards: 2, replicas: 1, portBase: 30000 });
    expect(config.shards.every((shard) => shard.allowFewerThanThreeMembers && shard.members.length === 1)).toBe(true);
  });

  test("generator arguments out of range are CONFIG_INVALID naming the argument", () => {
    const expectArgument = (args: Parameters<typeof generateLocalClusterConfig>[0], message: RegExp): void => {
      expect(() => generateLocalClusterConfig(args)).toThrow(message);
    };
    expectArgument({ dir: tempDir, shards: 0, replicas: 3, portBase: 7000 }, /generated local cluster: shards: must be an integer in 1\.\.64, got 0/);
    expectArgument({ dir: tempDir, shards: 1, replicas: 10, portBase: 7000 }, /replicas: must be an integer in 1\.\.9, got 10/);
    expectArgument({ dir: tempDir, shards: 1, replicas: 3, portBase: 65530 }, /portBase: must be an integer such that ports 65530\.\.65543 lie in 1\.\.65535/);
  });
});
