// Cluster config rules (the store format): each rule has a fixture under fixtures/ (or, for the
// choice between `shards` and `initialShards` + `replication`, an inline variant of one base
// file) and an assertion that the error names the file, the field path and the reason. Valid
// files parse with defaults; rendered configs round-trip through the parser.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  findStore,
  loadClusterConfig,
  parseClusterConfig,
  renderClusterConfig,
  storeDataDir,
} from "../../../src/config/cluster-config.ts";
import { isUkvError, type UkvError } from "../../../src/util/errors.ts";
import { walSegmentSizeBytesDefault } from "../../../src/util/limits.ts";

const fixturesDir = join(import.meta.dir, "fixtures");
const repoRoot = join(import.meta.dir, "../../..");
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
function expectProblemsAt(path: string, expected: readonly [field: string, reason: string][]): void {
  const error = loadError(path);
  const lines = error.message.split("\n").slice(1);
  expect(error.message.split("\n")[0]).toBe(`Invalid cluster config ${path}: ${expected.length === 1 ? "1 problem" : `${expected.length} problems`}`);
  expect(lines.length).toBe(expected.length);
  for (const [field, reason] of expected) {
    const found = lines.some((line) => line.startsWith(`  ${path}: ${field}: `) && line.includes(reason));
    if (!found) throw new Error(`no problem "${field}: ...${reason}..." in:\n${lines.join("\n")}`);
  }
  expect(error.data["file"]).toBe(path);
}

function expectProblems(name: string, expected: readonly [field: string, reason: string][]): void {
  expectProblemsAt(fixture(name), expected);
}

/** Writes `text` to a file in the temp dir (named `name`) and returns its path. */
function tempFile(name: string, text: string): string {
  const path = join(tempDir, name);
  writeFileSync(path, text);
  return path;
}

const threeStores = [
  "stores:",
  '  - { id: 1, raftAddress: "127.0.0.1:7100", clientAddress: "127.0.0.1:7101" }',
  '  - { id: 2, raftAddress: "127.0.0.1:7110", clientAddress: "127.0.0.1:7111" }',
  '  - { id: 3, raftAddress: "127.0.0.1:7120", clientAddress: "127.0.0.1:7121" }',
  "metaStores: [1, 2, 3]",
].join("\n");
const baseText = `clusterName: inline\ndataDir: d\n${threeStores}\n`;
const explicitShards = "shards:\n  - { id: 1, replicas: [1, 2, 3] }\n";

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
    expect(config.allowSmallGroups).toBe(false);
    expect(config.router).toBeNull();
    expect(config.metaStores).toEqual([1, 2, 3]);
    // Explicit placement keeps the file's order: the first replica is the preferred leader.
    expect(config.shards).toEqual([{ id: 1, replicas: [2, 3, 1] }]);
    expect(config.stores[0]).toEqual({
      id: 1,
      raftAddress: "127.0.0.1:7100",
      clientAddress: "127.0.0.1:7101",
      respAddress: null,
      advertised: { raftAddress: "127.0.0.1:7100", clientAddress: "127.0.0.1:7101", respAddress: null },
      httpAddress: null,
      advertisedHttpAddress: null,
    });
  });

  test("parseClusterConfig resolves a relative dataDir against baseDir", () => {
    const text = baseText + explicitShards;
    expect(parseClusterConfig(text, "inline", "/srv/ukv").dataDir).toBe("/srv/ukv/d");
    expect(parseClusterConfig(text.replace("dataDir: d", "dataDir: /abs"), "inline", "/srv/ukv").dataDir).toBe("/abs");
  });

  test("initialShards + replication fill shards with the computed placement, over the stores in file order", () => {
    const config = loadClusterConfig(fixture("valid-computed.yaml"));
    expect(config.shards.map((shard) => shard.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(config.shards[0]).toEqual({ id: 1, replicas: [50, 10, 20] });
    expect(config.shards.every((shard) => shard.replicas.length === 3 && new Set(shard.replicas).size === 3)).toBe(true);
    expect(config.stores.map((store) => store.respAddress)).toEqual(["127.0.0.1:7102", "127.0.0.1:7112", null, null, null]);
  });

  test("advertised addresses default to the bind address, field by field; a wildcard bind with an advertised address loads", () => {
    const config = loadClusterConfig(fixture("valid-advertise.yaml"));
    expect(config.stores.map((store) => store.advertised)).toEqual([
      { raftAddress: "ks1.example.com:7100", clientAddress: "ks1.example.com:7101", respAddress: "ks1.example.com:7102" },
      { raftAddress: "10.0.0.2:7110", clientAddress: "10.0.0.2:7111", respAddress: null },
      { raftAddress: "10.0.0.3:7120", clientAddress: "10.0.0.3:7121", respAddress: "10.0.0.3:6379" },
    ]);
    expect(config.stores[0]?.raftAddress).toBe("0.0.0.0:7100");
    expect(config.router).toEqual({ clientAddress: "10.0.0.10:7300", respAddress: null });
  });

  test("groups smaller than 3 load with allowSmallGroups, for meta, for listed shards and for replication", () => {
    const config = loadClusterConfig(fixture("small-groups-allowed.yaml"));
    expect(config.allowSmallGroups).toBe(true);
    expect(config.metaStores).toEqual([1]);
    expect(config.shards).toEqual([{ id: 1, replicas: [1, 2] }]);
    const computed = parseClusterConfig(`${baseText}allowSmallGroups: true\ninitialShards: 3\nreplication: 1\n`, "inline", "/");
    expect(computed.shards).toEqual([
      { id: 1, replicas: [1] },
      { id: 2, replicas: [2] },
      { id: 3, replicas: [3] },
    ]);
  });

  test("1000 shards of 3 on 3 stores (the benchmark's layout) load: every store holds 1000 replicas and leads 333 or 334", () => {
    const config = parseClusterConfig(`${baseText}initialShards: 1000\nreplication: 3\n`, "inline", "/");
    expect(config.shards.length).toBe(1000);
    for (const storeId of [1, 2, 3]) {
      expect(config.shards.filter((shard) => shard.replicas.includes(storeId)).length).toBe(1000);
      expect([333, 334]).toContain(config.shards.filter((shard) => shard.replicas[0] === storeId).length);
    }
  });

  test("configs/cluster-example.yaml: 5 stores, meta on 3, 8 computed shards of 3, advertise, a router", () => {
    const config = loadClusterConfig(join(repoRoot, "configs/cluster-example.yaml"));
    expect(config.stores.map((store) => store.id)).toEqual([1, 2, 3, 4, 5]);
    expect(config.metaStores).toEqual([1, 2, 3]);
    expect(config.shards.length).toBe(8);
    expect(config.shards.every((shard) => shard.replicas.length === 3)).toBe(true);
    expect(config.stores.some((store) => store.advertised.raftAddress !== store.raftAddress)).toBe(true);
    expect(config.router).toEqual({ clientAddress: "10.0.0.10:7300", respAddress: "10.0.0.10:6379" });
  });
});

describe("each rule names the file, the field and the reason", () => {
  test("the old per-process format is refused key by key", () => {
    expectProblems("old-format.yaml", [
      ["meta", "unknown field"],
      ["shards[0].members", "unknown field"],
      ["shards[0].allowFewerThanThreeMembers", "unknown field"],
      ["shards[0].replicas", "missing field"],
      ["stores", "missing field"],
      ["metaStores", "missing field"],
    ]);
  });

  test("unknown keys are rejected (a typo must not silently fall back to a default)", () => {
    expectProblems("unknown-field.yaml", [
      ["tickMS", "unknown field"],
      ["stores[0].advertise.raft", "unknown field"],
      ["stores[1].raftAddr", "unknown field"],
      ["stores[1].raftAddress", "missing field"],
      ["shards[0].leader", "unknown field"],
    ]);
  });

  test("missing required fields are named", () => {
    expectProblems("missing-field.yaml", [
      ["clusterName", "missing field"],
      ["stores[2].clientAddress", "missing field"],
      ["metaStores", "missing field"],
      ["shards[0].id", "missing field"],
    ]);
  });

  test("wrong types name the expected and the received type", () => {
    expectProblems("wrong-type.yaml", [
      ["tickMs", 'expected a number, got string "fast"'],
      ["electionTicks", "must be an integer, got 2.5"],
      ["allowSmallGroups", 'expected a boolean, got string "yes"'],
      ["stores[0].clientAddress", "expected a string, got number 7101"],
      ["stores[1].advertise", "expected a mapping, got a list"],
      ["metaStores", 'expected a list, got string "1, 2, 3"'],
      ["shards", "expected a list, got a mapping"],
    ]);
  });

  test("addresses must be host:port with a port in 1..65535 (IPv6 in brackets and DNS names accepted), advertised ones too", () => {
    expectProblems("bad-address.yaml", [
      ["stores[0].raftAddress", 'expected host:port (e.g. "127.0.0.1:7101"), got "127.0.0.1"'],
      ["stores[1].raftAddress", "port must be in 1..65535, got 70000"],
      ["stores[1].respAddress", "port must be in 1..65535, got 0"],
      ["stores[2].clientAddress", 'got "store three:7121"'],
      ["stores[2].advertise.raftAddress", 'got "127.0.0.1:port"'],
    ]);
  });

  test("values out of range name the bound and the value", () => {
    expectProblems("out-of-range.yaml", [
      ["clusterName", 'starting with a letter or digit, got "-bad name"'],
      ["dataDir", "must not be empty"],
      ["tickMs", "must be at least 1, got 0"],
      ["snapshotEntriesThreshold", "must be at least 1, got -5"],
      ["walSegmentSizeBytes", "must be at least 8388608, got 1024"],
      ["stores[0].id", "must be at least 1, got 0"],
      ["stores[1].id", "must be at most 2147483647, got 2147483648"],
      ["metaStores", "must list at least one store"],
      ["shards", "must list at least one shard"],
    ]);
    expectProblems("out-of-range-computed.yaml", [
      ["initialShards", "must be at most 4096, got 4097"],
      ["replication", "must be at least 1, got 0"],
    ]);
  });

  test("store ids are unique", () => {
    expectProblems("duplicate-store-id.yaml", [
      ["stores[2].id", "duplicate store id 1, already used at stores[0].id"],
      ["stores[3].id", "duplicate store id 2, already used at stores[1].id"],
    ]);
  });

  test("shard ids are unique", () => {
    expectProblems("duplicate-shard-id.yaml", [["shards[1].id", "duplicate shard id 7, already used at shards[0].id"]]);
  });

  test("metaStores and shard replicas name stores that exist", () => {
    expectProblems("unknown-store.yaml", [
      ["metaStores[2]", "store 9 is not listed in stores"],
      ["shards[1].replicas[0]", "store 8 is not listed in stores"],
    ]);
  });

  test("a store holds at most one replica of a group (its id is the replica's Raft id)", () => {
    expectProblems("duplicate-replica.yaml", [
      ["metaStores[1]", "duplicate store 1, already listed at metaStores[0] (a store holds at most one replica of a group)"],
      ["shards[0].replicas[2]", "duplicate store 2, already listed at shards[0].replicas[0]"],
    ]);
  });

  test("a group of fewer than 3 replicas needs allowSmallGroups: meta, listed shards, replication", () => {
    const hint = "a Raft group needs at least 3 to survive a failure (set allowSmallGroups: true to allow it)";
    expectProblems("small-groups.yaml", [
      ["metaStores", `has 1 replica(s); ${hint}`],
      ["shards[0].replicas", `has 2 replica(s); ${hint}`],
    ]);
    expectProblems("small-replication.yaml", [["replication", `is 2; ${hint}`]]);
  });

  test("replication is at most the number of stores", () => {
    expectProblems("replication-over-stores.yaml", [["replication", "must be at most the number of stores (3), got 4: a store holds at most one replica of a shard"]]);
  });

  test("the initial shards come from exactly one of shards or initialShards + replication", () => {
    const cases: [name: string, keys: string, field: string, reason: string][] = [
      ["neither.yaml", "", "shards", "missing field: give shards (each shard's replicas) or initialShards and replication"],
      ["both.yaml", `${explicitShards}initialShards: 2\nreplication: 3\n`, "initialShards", "cannot be combined with shards"],
      ["shards-and-replication.yaml", `${explicitShards}replication: 3\n`, "replication", "goes only with initialShards"],
      ["no-replication.yaml", "initialShards: 2\n", "replication", "missing field: initialShards needs replication"],
      ["no-initial-shards.yaml", "replication: 3\n", "initialShards", "missing field: replication needs initialShards"],
    ];
    for (const [name, keys, field, reason] of cases) expectProblemsAt(tempFile(name, baseText + keys), [[field, reason]]);
  });

  test("no two listeners share a host and port (localhost is 127.0.0.1; a wildcard takes its port on every host)", () => {
    expectProblems("duplicate-address.yaml", [
      ["stores[1].raftAddress", "address 127.0.0.1:7100 (host and port) is already used at stores[0].raftAddress"],
      ["stores[1].respAddress", "address localhost:6379 (host and port) is already used at stores[0].respAddress"],
      ["stores[2].raftAddress", "address 0.0.0.0:7101 collides with 127.0.0.1:7101 at stores[0].clientAddress: a wildcard address binds its port on every interface"],
      ["router.respAddress", "address 127.0.0.1:7300 (host and port) is already used at router.clientAddress"],
    ]);
  });

  test("a wildcard bind (0.0.0.0 or ::) needs an advertised address; the router, which has none, cannot bind one", () => {
    expectProblems("wildcard-without-advertise.yaml", [
      ["stores[0].raftAddress", "binds every interface (0.0.0.0:7100), which other processes cannot dial: set stores[0].advertise.raftAddress to the address they should use"],
      ["stores[1].clientAddress", "binds every interface ([::]:7111), which other processes cannot dial: set stores[1].advertise.clientAddress"],
      ["router.clientAddress", "binds every interface (0.0.0.0:7300), but the router has no advertise address"],
    ]);
  });

  test("an advertised address is dialable, belongs to a listener, and is no other store's", () => {
    expectProblems("advertise-problems.yaml", [
      ["stores[0].advertise.raftAddress", "must be an address other processes can dial, got the wildcard 0.0.0.0:7100"],
      ["stores[1].advertise.respAddress", "is set, but stores[1].respAddress is not: there is no such listener to advertise"],
      ["stores[2].advertise.clientAddress", "advertised address 10.0.0.1:7101 is already advertised at stores[0].clientAddress"],
    ]);
  });

  test("electionTicks must exceed heartbeatTicks", () => {
    expectProblems("election-ticks.yaml", [["electionTicks", "must be greater than heartbeatTicks (3), got 3"]]);
  });

  test("at most 9 replicas a group, 4096 shards and 256 stores", () => {
    expectProblems("too-many-replicas.yaml", [
      ["metaStores", "must list at most 9 stores (groupMemberCountMax), got 10"],
      ["shards[0].replicas", "must list at most 9 replicas (groupMemberCountMax), got 10"],
    ]);
    const shards = Array.from({ length: 4097 }, (_, index) => `  - { id: ${index + 1}, replicas: [1, 2, 3] }`).join("\n");
    expectProblemsAt(tempFile("too-many-shards.yaml", `${baseText}shards:\n${shards}\n`), [["shards", "must list at most 4096 shards (shardCountMax), got 4097"]]);
    const stores = Array.from({ length: 257 }, (_, index) => `  - { id: ${index + 1}, raftAddress: "127.0.0.1:${10000 + 2 * index}", clientAddress: "127.0.0.1:${10001 + 2 * index}" }`);
    const manyStores = `clusterName: wide\ndataDir: d\nstores:\n${stores.join("\n")}\nmetaStores: [1, 2, 3]\n${explicitShards}`;
    expectProblemsAt(tempFile("too-many-stores.yaml", manyStores), [["stores", "must list at most 256 stores (storeCountMax), got 257"]]);
  });

  test("several problems are all listed in one error", () => {
    expectProblems("several-problems.yaml", [
      ["electionTicks", "must be greater than heartbeatTicks (5), got 2"],
      ["metaStores", "has 2 replica(s)"],
      ["shards[0].replicas[2]", "store 5 is not listed in stores"],
      ["stores[1].raftAddress", "address 127.0.0.1:7100 (host and port) is already used at stores[0].raftAddress"],
    ]);
    const error = loadError(fixture("several-problems.yaml"));
    expect((error.data["problems"] as unknown[]).length).toBe(4);
  });

  test("shape problems do not hide cross-field problems: both kinds are listed", () => {
    expectProblems("shape-and-cross-problems.yaml", [
      ["tickMs", 'expected a number, got string "fast"'],
      ["stores[1].weight", "unknown field"],
      ["stores[2].id", 'expected a number, got string "three"'],
      ["metaStores", "has 2 replica(s)"],
      ["shards[0].replicas[2]", "store 7 is not listed in stores"],
      ["stores[2].raftAddress", "address 127.0.0.1:7100 (host and port) is already used at stores[0].raftAddress"],
    ]);
  });

  test("an empty file says so", () => {
    expectProblems("empty.yaml", [["(root)", "the file is empty"]]);
  });

  test("a file that is not a mapping is one problem, not one a missing key", () => {
    expectProblemsAt(tempFile("list.yaml", "- clusterName: x\n"), [["(root)", "expected a mapping, got a list"]]);
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
  const config = loadClusterConfig(fixture("valid-computed.yaml"));

  test("findStore finds a store by id, or null", () => {
    expect(findStore(config, 20)?.clientAddress).toBe("127.0.0.1:7121");
    expect(findStore(config, 20)).toBe(config.stores[2] ?? null);
    expect(findStore(config, 99)).toBeNull();
  });

  test("storeDataDir is <dataDir>/store-<id>", () => {
    expect(storeDataDir(config, 10)).toBe("/srv/ukv/store-10");
  });
});

describe("render", () => {
  test("renderClusterConfig round-trips every valid fixture (a computed placement is written as an explicit list)", () => {
    const paths = ["valid-minimal.yaml", "valid-computed.yaml", "valid-advertise.yaml", "small-groups-allowed.yaml"].map(fixture);
    for (const path of [...paths, join(repoRoot, "configs/cluster-example.yaml")]) {
      const config = loadClusterConfig(path);
      const text = renderClusterConfig(config);
      expect(parseClusterConfig(text, "rendered", "/")).toEqual(config);
      expect(text).not.toContain("initialShards");
    }
  });
});
