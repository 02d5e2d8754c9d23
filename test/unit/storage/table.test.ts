// The native Swiss table through its TS face: agreement with a reference Map under a long seeded
// op sequence, byte-string keys, limits, batch calls equal to single calls, memory accounting.
import { afterEach, expect, test } from "bun:test";
import { Table, type TableOp } from "../../../src/storage/table.ts";
import { isUkvError, type ErrorCode } from "../../../src/util/errors.ts";
import { keySizeBytesMax, tableBatchCountMax, valueSizeBytesMax } from "../../../src/util/limits.ts";
import { Prng } from "../../../src/util/prng.ts";

const tables: Table[] = [];
afterEach(() => {
  for (const table of tables.splice(0)) table.close();
});

function newTable(capacityHint?: number): Table {
  const table = Table.create(capacityHint === undefined ? {} : { capacityHint });
  tables.push(table);
  return table;
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** A key or value as a Map key: one char per byte, so distinct byte strings stay distinct. */
function latin1(data: Uint8Array): string {
  let text = "";
  for (const byte of data) text += String.fromCharCode(byte);
  return text;
}

function randomBytes(prng: Prng, sizeBytes: number): Uint8Array {
  const data = new Uint8Array(sizeBytes);
  for (let i = 0; i < sizeBytes; i++) data[i] = prng.nextUint32() & 0xff;
  return data;
}

function expectCode(run: () => unknown, code: ErrorCode): void {
  let caught: unknown = null;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(isUkvError(caught, code)).toBe(true);
}

test("the table agrees with a reference Map on every get, has and count over 1,000,000 seeded random ops", () => {
  const seed = 20240611;
  const prng = new Prng(seed);
  const keySpaceCount = 20_000;
  const keys: Uint8Array[] = [];
  const keyNames: string[] = [];
  for (let i = 0; i < keySpaceCount; i++) {
    // Variable sizes 0..24 so short, empty and > 16-byte keys (the hash's long path) all occur.
    const key = randomBytes(prng, i === 0 ? 0 : 1 + (prng.nextUint32() % 24));
    keys.push(key);
    keyNames.push(latin1(key));
  }
  const table = newTable();
  const reference = new Map<string, Uint8Array>();
  // Phases: grow (mostly sets), churn (sets and deletes: tombstones and their reuse), shrink.
  const phases = [
    { opCount: 300_000, setChance: 0.6, deleteChance: 0.1 },
    { opCount: 400_000, setChance: 0.35, deleteChance: 0.35 },
    { opCount: 300_000, setChance: 0.1, deleteChance: 0.6 },
  ];
  let mismatchCount = 0;
  let overwriteCount = 0;
  let deleteHitCount = 0;
  for (const phase of phases) {
    for (let op = 0; op < phase.opCount; op++) {
      const keyIndex = prng.nextInt(keySpaceCount);
      const key = keys[keyIndex] as Uint8Array;
      const name = keyNames[keyIndex] as string;
      const roll = prng.nextFloat();
      if (roll < phase.setChance) {
        // Mostly small values; 1% straddle the arena's 1024-byte block limit (malloc'd blocks).
        const value = randomBytes(prng, prng.chance(0.01) ? 990 + prng.nextInt(60) : prng.nextInt(40));
        if (reference.has(name)) overwriteCount++;
        table.set(key, value);
        reference.set(name, value);
      } else if (roll < phase.setChance + phase.deleteChance) {
        const expected = reference.delete(name);
        if (expected) deleteHitCount++;
        if (table.delete(key) !== expected) mismatchCount++;
      } else if (roll < 0.95) {
        const got = table.get(key);
        const expected = reference.get(name);
        if (expected === undefined ? got !== null : got === null || latin1(got) !== latin1(expected)) mismatchCount++;
      } else if (table.has(key) !== reference.has(name)) {
        mismatchCount++;
      }
      if (table.count() !== reference.size) mismatchCount++;
    }
    // At each phase end the whole content agrees, entry by entry.
    const entries = table.entries();
    expect(entries.length).toBe(reference.size);
    for (const [key, value] of entries) expect(latin1(value)).toBe(latin1(reference.get(latin1(key)) as Uint8Array));
  }
  expect(mismatchCount).toBe(0);
  // The sequence really exercised overwrites and deletes of present keys.
  expect(overwriteCount).toBeGreaterThan(100_000);
  expect(deleteHitCount).toBeGreaterThan(100_000);
}, 30_000);

test("the empty key and binary keys holding every byte value are distinct keys", () => {
  const table = newTable();
  const empty = new Uint8Array(0);
  table.set(empty, bytes("empty"));
  for (let byte = 0; byte < 256; byte++) {
    table.set(Uint8Array.of(byte), Uint8Array.of(byte, 1));
    table.set(Uint8Array.of(byte, byte), Uint8Array.of(byte, 2));
    table.set(Uint8Array.of(0, byte), Uint8Array.of(byte, 3));
  }
  const allBytes = Uint8Array.from({ length: 256 }, (_, index) => index);
  table.set(allBytes, allBytes);
  // (0,0) is both "byte, byte" and "0, byte" for byte 0: one key, written twice.
  expect(table.count()).toBe(1 + 256 * 3 - 1 + 1);
  expect(latin1(table.get(empty) as Uint8Array)).toBe("empty");
  for (let byte = 0; byte < 256; byte++) {
    expect(Array.from(table.get(Uint8Array.of(byte)) as Uint8Array)).toEqual([byte, 1]);
    if (byte !== 0) expect(Array.from(table.get(Uint8Array.of(byte, byte)) as Uint8Array)).toEqual([byte, 2]);
    expect(Array.from(table.get(Uint8Array.of(0, byte)) as Uint8Array)).toEqual([byte, 3]);
  }
  expect(table.get(allBytes)).toEqual(allBytes);
  expect(table.delete(empty)).toBe(true);
  expect(table.get(empty)).toBeNull();
  expect(table.has(Uint8Array.of(0))).toBe(true);
});

test("a key, value or batch over its limit throws KEY_TOO_LARGE, VALUE_TOO_LARGE or BATCH_TOO_LARGE and changes nothing", () => {
  const table = newTable();
  const bigKey = new Uint8Array(keySizeBytesMax + 1);
  const bigValue = new Uint8Array(valueSizeBytesMax + 1);
  expectCode(() => table.set(bigKey, bytes("v")), "KEY_TOO_LARGE");
  expectCode(() => table.get(bigKey), "KEY_TOO_LARGE");
  expectCode(() => table.delete(bigKey), "KEY_TOO_LARGE");
  expectCode(() => table.has(bigKey), "KEY_TOO_LARGE");
  expectCode(() => table.set(bytes("k"), bigValue), "VALUE_TOO_LARGE");
  expectCode(() => table.getMany([bytes("a"), bigKey]), "KEY_TOO_LARGE");
  const tooMany = Array.from({ length: tableBatchCountMax + 1 }, () => bytes("a"));
  expectCode(() => table.getMany(tooMany), "BATCH_TOO_LARGE");
  expectCode(
    () => table.applyBatch(tooMany.map((key): TableOp => ({ kind: "set", key, value: key }))),
    "BATCH_TOO_LARGE",
  );
  // A bad op anywhere in a batch applies none of it.
  expectCode(
    () =>
      table.applyBatch([
        { kind: "set", key: bytes("first"), value: bytes("1") },
        { kind: "set", key: bytes("second"), value: bigValue },
      ]),
    "VALUE_TOO_LARGE",
  );
  expect(table.count()).toBe(0);
  // Exactly at the limits is allowed.
  const maxKey = new Uint8Array(keySizeBytesMax).fill(7);
  const maxValue = new Uint8Array(valueSizeBytesMax).fill(9);
  table.set(maxKey, maxValue);
  expect(table.get(maxKey)).toEqual(maxValue);
  expect(table.getMany([maxKey])[0]).toEqual(maxValue);
});

test("getMany and applyBatch give the same results as the same single ops in order", () => {
  const prng = new Prng(77);
  const single = newTable();
  const batched = newTable();
  const keys = Array.from({ length: 500 }, (_, index) => bytes(`key-${index}`));
  for (let round = 0; round < 40; round++) {
    const ops: TableOp[] = [];
    for (let i = 0; i < 200; i++) {
      const key = keys[prng.nextInt(keys.length)] as Uint8Array;
      if (prng.chance(0.3)) ops.push({ kind: "delete", key });
      else ops.push({ kind: "set", key, value: randomBytes(prng, prng.nextInt(20)) });
    }
    for (const op of ops) {
      if (op.kind === "set") single.set(op.key, op.value);
      else single.delete(op.key);
    }
    batched.applyBatch(ops);
    expect(batched.count()).toBe(single.count());
    const probe = Array.from({ length: 100 }, () => keys[prng.nextInt(keys.length)] as Uint8Array);
    const many = batched.getMany(probe);
    expect(many.length).toBe(probe.length);
    for (let i = 0; i < probe.length; i++) expect(many[i] ?? null).toEqual(single.get(probe[i] as Uint8Array));
  }
  expect(batched.getMany([])).toEqual([]);
  batched.applyBatch([]);
  // The same op sequence gives the same slot order: snapshots of the two are byte-identical.
  expect(batched.entries()).toEqual(single.entries());
});

test("get and getMany return copies: changing them does not change the table", () => {
  const table = newTable();
  table.set(bytes("k"), bytes("value"));
  const got = table.get(bytes("k")) as Uint8Array;
  got.fill(0);
  const many = table.getMany([bytes("k")])[0] as Uint8Array;
  many.fill(0);
  expect(latin1(table.get(bytes("k")) as Uint8Array)).toBe("value");
  // And the table does not keep a reference to the caller's buffers either.
  const key = bytes("own");
  const value = bytes("data");
  table.set(key, value);
  key.fill(0);
  value.fill(0);
  expect(latin1(table.get(bytes("own")) as Uint8Array)).toBe("data");
});

test("values come back intact whether they fit the reused read buffer or not, and later reads do not change them", () => {
  const table = newTable();
  const small = bytes("small value");
  const large = new Uint8Array(200 * 1024).fill(3);
  table.set(bytes("small"), small);
  table.set(bytes("large"), large);
  table.set(bytes("other"), bytes("other value"));
  const one = table.get(bytes("small")) as Uint8Array;
  const fitting = table.getMany([bytes("small"), bytes("missing"), bytes("other")]);
  // 400 KiB in one batch: past the read buffer, so in a buffer of its own.
  const spilling = table.getMany([bytes("large"), bytes("small"), bytes("large")]);
  table.get(bytes("other"));
  table.getMany([bytes("large"), bytes("other")]);
  expect(latin1(one)).toBe("small value");
  expect(fitting.map((value) => (value === null ? null : latin1(value)))).toEqual(["small value", null, "other value"]);
  expect(spilling[0]).toEqual(large);
  expect(latin1(spilling[1] as Uint8Array)).toBe("small value");
  expect(spilling[2]).toEqual(large);
});

test("bytesUsed grows with entries and shrinks after deletes and clear", () => {
  const table = newTable();
  const emptyBytes = table.bytesUsed();
  expect(emptyBytes).toBeGreaterThan(0);
  const value = new Uint8Array(100);
  for (let i = 0; i < 10_000; i++) table.set(bytes(`key-${i.toString().padStart(8, "0")}`), value);
  const fullBytes = table.bytesUsed();
  // At least the key and value bytes, at most a few times them (slots at <= 7/8 load, headers).
  expect(fullBytes).toBeGreaterThan(10_000 * (12 + 100));
  expect(fullBytes).toBeLessThan(10_000 * (12 + 100) * 2);
  for (let i = 0; i < 5_000; i++) table.delete(bytes(`key-${i.toString().padStart(8, "0")}`));
  const halfBytes = table.bytesUsed();
  expect(halfBytes).toBeLessThan(fullBytes - 5_000 * (12 + 100));
  // Overwriting with a larger value grows the entry block.
  table.set(bytes("key-00009999"), new Uint8Array(1000));
  expect(table.bytesUsed()).toBe(halfBytes + 900);
  table.clear();
  expect(table.count()).toBe(0);
  expect(table.bytesUsed()).toBe(emptyBytes);
  table.set(bytes("after"), bytes("clear"));
  expect(table.count()).toBe(1);
});

test("a capacity hint presizes the table so filling it to the hint does not grow it; a larger hint shapes the segments", () => {
  const table = newTable(20_000);
  const before = table.bytesUsed();
  for (let i = 0; i < 20_000; i++) table.set(bytes(`k${i}`), new Uint8Array(0));
  const entryBytes = table.bytesUsed() - before;
  // Only the entry blocks were added: 8-byte header + key per entry, no slot array growth.
  let keyBytes = 0;
  for (let i = 0; i < 20_000; i++) keyBytes += `k${i}`.length;
  expect(entryBytes).toBe(20_000 * 8 + keyBytes);
  // Past half a segment's keys, the hint starts the table as that many segments (a snapshot load's shape).
  expect(newTable(1_000_000).segmentCount()).toBe(64);
  expect(newTable(20_000).segmentCount()).toBe(1);
  expectCode(() => Table.create({ capacityHint: -1 }), "CONFIG_INVALID");
});

test("a closed handle throws CLOSED, other handles keep the table, and it is gone after the last close", () => {
  const table = Table.create();
  table.set(bytes("k"), bytes("v"));
  const second = Table.attach(table.tableId);
  expect(second.tableId).toBe(table.tableId);
  table.close();
  table.close();
  expectCode(() => table.get(bytes("k")), "CLOSED");
  expect(latin1(second.get(bytes("k")) as Uint8Array)).toBe("v");
  second.close();
  expectCode(() => Table.attach(table.tableId), "CLOSED");
  expectCode(() => Table.attach(0), "CLOSED");
  expect(Table.create().tableId).not.toBe(table.tableId);
});

test("scan with a first-byte mask returns exactly the entries whose value's first byte shares a bit with it, walking the same slots", () => {
  const table = newTable();
  const expected = new Set<string>();
  for (let index = 0; index < 5000; index++) {
    // First bytes cycle through 0..7; an empty value never matches a nonzero mask.
    const first = index % 9 === 8 ? null : index % 8;
    table.set(bytes(`k${index}`), first === null ? new Uint8Array(0) : new Uint8Array([first, 1, 2]));
    if (first !== null && (first & 0b101) !== 0) expected.add(`k${index}`);
  }
  const capacity = table.scan(0, 1, 1, 0).capacity;
  let seen = 0;
  const matched = new Set<string>();
  for (let slot = 0; slot < capacity; ) {
    const all = table.scan(slot, 700, 100_000, 1);
    const filtered = table.scan(slot, 700, 100_000, 1, 0b101);
    expect(filtered.next).toBe(all.next);
    seen += all.keys.length;
    for (const [index, key] of filtered.keys.entries()) {
      expect((filtered.values[index]![0]! & 0b101) !== 0).toBe(true);
      matched.add(new TextDecoder().decode(key));
    }
    slot = all.next;
  }
  expect(seen).toBe(5000);
  expect([...matched].sort()).toEqual([...expected].sort());
  expect(() => table.scan(0, 10, 10, 1, 256)).toThrow();
});
