// CRC32C (Castagnoli), used by WAL records and snapshot files.
// Hardware (SSE4.2 crc32 instruction) when the CPU has it, a slicing table otherwise;
// both give identical results, checked by the unit tests through the addon.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ukv {

// Extends `crc` (start with 0) over `size` bytes. crc32c_extend(0, "123456789", 9) == 0xE3069283.
uint32_t crc32c_extend(uint32_t crc, const uint8_t* data, size_t size);

inline uint32_t crc32c(const uint8_t* data, size_t size) { return crc32c_extend(0, data, size); }

}  // namespace ukv
