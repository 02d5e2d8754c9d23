// XXH64, written from the algorithm's published description (32-byte stripes of four lanes,
// then 8-, 4- and 1-byte tails, then the avalanche). test/unit/storage/table-split.test.ts checks
// it against Bun.hash.xxHash64 on inputs of every length 0..100 and on known vectors.
#include "key_hash.h"

#include <algorithm>

#include <cstring>

namespace ukv {
namespace {

constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ULL;
constexpr uint64_t kPrime2 = 0xC2B2AE3D27D4EB4FULL;
constexpr uint64_t kPrime3 = 0x165667B19E3779F9ULL;
constexpr uint64_t kPrime4 = 0x85EBCA77C2B2AE63ULL;
constexpr uint64_t kPrime5 = 0x27D4EB2F165667C5ULL;

inline uint64_t rotl(uint64_t value, int bits) { return (value << bits) | (value >> (64 - bits)); }

// Little-endian loads (memcpy: no alignment assumption); the hash is defined little-endian.
inline uint64_t read64(const uint8_t* at) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; i--) value = (value << 8) | at[i];
  return value;
}

inline uint64_t read32(const uint8_t* at) {
  return uint64_t{at[0]} | (uint64_t{at[1]} << 8) | (uint64_t{at[2]} << 16) | (uint64_t{at[3]} << 24);
}

inline uint64_t round(uint64_t accumulator, uint64_t input) {
  accumulator += input * kPrime2;
  accumulator = rotl(accumulator, 31);
  return accumulator * kPrime1;
}

inline uint64_t mergeRound(uint64_t accumulator, uint64_t lane) {
  accumulator ^= round(0, lane);
  return accumulator * kPrime1 + kPrime4;
}

}  // namespace

uint64_t xxHash64(const uint8_t* data, size_t size, uint64_t seed) {
  const uint8_t* at = data;
  const uint8_t* end = data + size;
  uint64_t hash;
  if (size >= 32) {
    uint64_t lane1 = seed + kPrime1 + kPrime2;
    uint64_t lane2 = seed + kPrime2;
    uint64_t lane3 = seed;
    uint64_t lane4 = seed - kPrime1;
    const uint8_t* lastStripe = end - 32;
    do {
      lane1 = round(lane1, read64(at));
      lane2 = round(lane2, read64(at + 8));
      lane3 = round(lane3, read64(at + 16));
      lane4 = round(lane4, read64(at + 24));
      at += 32;
    } while (at <= lastStripe);
    hash = rotl(lane1, 1) + rotl(lane2, 7) + rotl(lane3, 12) + rotl(lane4, 18);
    hash = mergeRound(hash, lane1);
    hash = mergeRound(hash, lane2);
    hash = mergeRound(hash, lane3);
    hash = mergeRound(hash, lane4);
  } else {
    hash = seed + kPrime5;
  }
  hash += static_cast<uint64_t>(size);
  while (end - at >= 8) {
    hash ^= round(0, read64(at));
    hash = rotl(hash, 27) * kPrime1 + kPrime4;
    at += 8;
  }
  if (end - at >= 4) {
    hash ^= read32(at) * kPrime1;
    hash = rotl(hash, 23) * kPrime2 + kPrime3;
    at += 4;
  }
  while (at < end) {
    hash ^= uint64_t{*at} * kPrime5;
    hash = rotl(hash, 11) * kPrime1;
    at++;
  }
  hash ^= hash >> 33;
  hash *= kPrime2;
  hash ^= hash >> 29;
  hash *= kPrime3;
  hash ^= hash >> 32;
  return hash;
}

uint64_t routingHash(const uint8_t* key, size_t size) {
  const uint8_t* end = key + size;
  const uint8_t* open = std::find(key, end, uint8_t{'{'});
  if (open != end) {
    const uint8_t* close = std::find(open + 1, end, uint8_t{'}'});
    if (close != end && close != open + 1) return xxHash64(open + 1, static_cast<size_t>(close - open - 1));
  }
  return xxHash64(key, size);
}

}  // namespace ukv
