// The key hash every store, router and client routes by: h = xxHash64(routingKey(keyBytes), seed
// 0), the reference XXH64 (Bun.hash.xxHash64, native), read as an unsigned 64-bit integer in
// [0, 2^64); routingKey (hash-tag.ts) is the key, or its `{tag}` as in Redis Cluster. keyHash is
// the ONE place a key becomes a hash (native/key_hash.cc's routingHash is its C++ twin, for splits).
import { routingKey } from "./hash-tag.ts";

export const hashMax = (1n << 64n) - 1n;

/** xxHash64(data, seed 0) as an unsigned 64-bit bigint. */
export function xxHash64(data: Uint8Array): bigint {
  return BigInt.asUintN(64, BigInt(Bun.hash.xxHash64(data, 0n)));
}

/** The routing hash of `key`: which range, and so which shard, owns it. */
export function keyHash(key: Uint8Array): bigint {
  return xxHash64(routingKey(key));
}
