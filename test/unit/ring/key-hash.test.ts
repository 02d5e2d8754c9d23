// The documented key hash: xxHash64 with seed 0 (Bun's native XXH64), which every client must
// reproduce to route like the stores; keyHash is that hash of the whole key.
import { expect, test } from "bun:test";
import { keyHash, xxHash64 } from "../../../src/ring/key-hash.ts";

const text = (value: string): Uint8Array => new TextEncoder().encode(value);

test("known vectors of XXH64 with seed 0", () => {
  expect(xxHash64(text("abc"))).toBe(0x44bc2cf5ad770999n);
  expect(xxHash64(new Uint8Array(0))).toBe(0xef46db3751d8e999n);
});

test("a key's routing hash is the XXH64 of its bytes, unsigned", () => {
  expect(keyHash(text("abc"))).toBe(0x44bc2cf5ad770999n);
  for (const key of ["", "a", "user:1000", "x".repeat(300)]) {
    const hash = keyHash(text(key));
    expect(hash >= 0n && hash < 1n << 64n).toBe(true);
  }
});
