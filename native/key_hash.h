// The routing hash of a key: XXH64 with seed 0, the same 64 bits as src/ring/key-hash.ts
// (Bun.hash.xxHash64), so native code can sort keys into hash ranges without crossing into JS.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ukv {

uint64_t xxHash64(const uint8_t* data, size_t size, uint64_t seed = 0);

// The hash a key routes by: XXH64 of its Redis hash tag (the bytes between the first '{' and the
// first '}' after it, when not empty), else of the whole key; src/ring/hash-tag.ts is the TS twin.
uint64_t routingHash(const uint8_t* key, size_t size);

}  // namespace ukv
