// The documented key hash: xxHash64 with seed 0 (Bun's native XXH64), which every client must
// reproduce to route like the stores. Known answers pin it, and the allocation-free halves the
// ring's hot path uses must be the same 64 bits.
import { expect, test } from "bun:test";
import { xxHash64, xxHash64Halves } from "../../../src/ring/ring.ts";
import { Prng } from "../../../src/util/prng.ts";

const text = (value: string): Uint8Array => new TextEncoder().encode(value);

test("known vectors of XXH64 with seed 0", () => {
  expect(xxHash64(text("abc"))).toBe(0x44bc2cf5ad770999n);
  expect(xxHash64(new Uint8Array(0))).toBe(0xef46db3751d8e999n);
});

test("the halves are the high and low 32 bits of the hash, for inputs of every length 0..100", () => {
  const prng = new Prng(1);
  const halves = new Uint32Array(2);
  for (let length = 0; length <= 100; length++) {
    const data = new Uint8Array(length);
    for (let index = 0; index < length; index++) data[index] = prng.nextInt(256);
    xxHash64Halves(data, halves);
    expect((BigInt(halves[0]!) << 32n) | BigInt(halves[1]!)).toBe(xxHash64(data));
  }
});
