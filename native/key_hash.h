// The routing hash of a key: XXH64 with seed 0, the same 64 bits as src/ring/key-hash.ts
// (Bun.hash.xxHash64), so native code can sort keys into hash ranges without crossing into JS.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ukv {

uint64_t xxHash64(const uint8_t* data, size_t size, uint64_t seed = 0);

}  // namespace ukv
