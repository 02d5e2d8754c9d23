// Hash tags (the Redis Cluster rule): when a key holds a `{`, and a `}` after it with at least one
// byte between them, only the bytes between the first `{` and the first `}` after it are hashed
// for routing, so `{user:1}:name` and `{user:1}:mail` live on one shard (and can be one atomic
// transaction). `{}` or no closing brace: the whole key is hashed. Every place that hashes a key to
// find its shard goes through routingKey(); the stored key is always the whole key. Pure.
const openBrace = 0x7b;
const closeBrace = 0x7d;

/** The bytes of `key` that decide its shard: the hash tag's content, or the whole key. No copy. */
export function routingKey(key: Uint8Array): Uint8Array {
  const open = key.indexOf(openBrace);
  if (open < 0) return key;
  const close = key.indexOf(closeBrace, open + 1);
  if (close < 0 || close === open + 1) return key;
  return key.subarray(open + 1, close);
}
