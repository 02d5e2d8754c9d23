// The documented key hash: our pure-TS xxHash64 must equal the reference (Bun's native XXH64)
// bit for bit, for every length class (stripes of 32, 8-byte lanes, a 4-byte word, tail bytes).
import { expect, test } from "bun:test";
import { xxHash64, xxHash64Halves } from "../../../src/ring/xxhash64.ts";
import { Prng } from "../../../src/util/prng.ts";

const text = (value: string): Uint8Array => new TextEncoder().encode(value);
const reference = (data: Uint8Array, seed: bigint): bigint => BigInt.asUintN(64, BigInt(Bun.hash.xxHash64(data, seed)));

function randomBytes(prng: Prng, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = prng.nextInt(256);
  return bytes;
}

test("known vectors of XXH64 with seed 0", () => {
  expect(xxHash64(text("abc"))).toBe(0x44bc2cf5ad770999n);
  expect(xxHash64(new Uint8Array(0))).toBe(0xef46db3751d8e999n);
  expect(xxHash64(text("abc"), 0n)).toBe(reference(text("abc"), 0n));
});

test("equals the reference on random inputs of every length 0..100 with seed 0", () => {
  const prng = new Prng(1);
  for (let length = 0; length <= 100; length++) {
    for (let sample = 0; sample < 20; sample++) {
      const data = randomBytes(prng, length);
      expect(xxHash64(data)).toBe(reference(data, 0n));
    }
  }
});

test("equals the reference with nonzero seeds, including seeds at and above 2^63", () => {
  const prng = new Prng(2);
  const seeds = [1n, 0xffffffffn, 0x100000000n, 0x8000000000000000n, 0xffffffffffffffffn, 0x9e3779b185ebca87n];
  for (const seed of seeds) {
    for (let length = 0; length <= 100; length += 3) {
      const data = randomBytes(prng, length);
      expect(xxHash64(data, seed)).toBe(reference(data, seed));
    }
  }
});

test("equals the reference on long inputs (many 32-byte stripes) and on subarray views", () => {
  const prng = new Prng(3);
  const big = randomBytes(prng, 10_000);
  expect(xxHash64(big)).toBe(reference(big, 0n));
  const view = big.subarray(7, 7 + 77);
  expect(xxHash64(view)).toBe(reference(view.slice(), 0n));
});

test("xxHash64Halves writes the same hash as high and low words", () => {
  const prng = new Prng(4);
  const out = new Uint32Array(2);
  for (let length = 0; length <= 64; length++) {
    const data = randomBytes(prng, length);
    xxHash64Halves(data, out);
    const hash = xxHash64(data);
    expect(out[0]).toBe(Number(hash >> 32n));
    expect(out[1]).toBe(Number(hash & 0xffffffffn));
  }
});
