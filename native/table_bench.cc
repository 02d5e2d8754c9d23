// Pure C++ benchmark of ukv::SwissTable against absl::flat_hash_map<std::string, std::string>
// (built by scripts/bench/table-cpp.sh; excluded from the addon by the *_bench.cc rule).
// Memory: keys live in one contiguous array of kKeySizeBytes-byte records; each map gets the same
// keys and kValueSizeBytes-byte values. First a correctness pass against std::unordered_map (so
// the SWAR build, -U__SSE2__, is checked too), then hit and miss lookups in a shuffled order.
//
//   table_bench [entryCount...]     default: 1000000 10000000
#include <absl/container/flat_hash_map.h>
#include <absl/strings/string_view.h>

#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "table.h"

namespace {

constexpr size_t kKeySizeBytes = 16;
constexpr size_t kValueSizeBytes = 100;
constexpr size_t kLookupCount = 5'000'000;
constexpr size_t kCheckOpCount = 1'000'000;

uint64_t splitmix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::vector<uint8_t> makeKeys(size_t count, uint64_t seed) {
  std::vector<uint8_t> keys(count * kKeySizeBytes);
  for (size_t i = 0; i < keys.size(); i += 8) {
    uint64_t word = splitmix(seed);
    std::memcpy(keys.data() + i, &word, 8);
  }
  return keys;
}

std::vector<uint32_t> makeOrder(size_t count, size_t bound, uint64_t seed) {
  std::vector<uint32_t> order(count);
  for (auto& index : order) index = static_cast<uint32_t>(splitmix(seed) % bound);
  return order;
}

// Thread CPU time, not wall time: the bench machine is shared, and time spent descheduled is not
// the table's. (Cache pollution by neighbours still shows; rerun when the load is low.)
double nowNs() {
  timespec now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e9 + static_cast<double>(now.tv_nsec);
}

// Random sets, deletes and gets against std::unordered_map, over a small key space.
bool checkAgainstReference() {
  ukv::SwissTable table;
  std::unordered_map<std::string, std::string> reference;
  uint64_t seed = 42;
  for (size_t op = 0; op < kCheckOpCount; op++) {
    uint64_t roll = splitmix(seed);
    std::string key = std::to_string(roll % 50'000);
    if (roll % 7 == 0) key.clear();
    uint64_t kind = (roll >> 20) % 10;
    if (kind < 4) {
      std::string value(static_cast<size_t>((roll >> 32) % 64), static_cast<char>(roll >> 40));
      table.set(reinterpret_cast<const uint8_t*>(key.data()), key.size(), reinterpret_cast<const uint8_t*>(value.data()), value.size());
      reference[key] = value;
    } else if (kind < 7) {
      bool erased = table.erase(reinterpret_cast<const uint8_t*>(key.data()), key.size());
      if (erased != (reference.erase(key) == 1)) return false;
    } else {
      const ukv::Entry* entry = table.find(reinterpret_cast<const uint8_t*>(key.data()), key.size());
      auto found = reference.find(key);
      if ((entry == nullptr) != (found == reference.end())) return false;
      if (entry != nullptr && std::string(reinterpret_cast<const char*>(entry->value()), entry->valueSize) != found->second) return false;
    }
    if (table.count() != reference.size()) return false;
  }
  return true;
}

void benchAt(size_t entryCount) {
  std::vector<uint8_t> keys = makeKeys(entryCount, entryCount);
  std::vector<uint8_t> missKeys = makeKeys(entryCount, entryCount + 1);
  std::vector<uint32_t> order = makeOrder(kLookupCount, entryCount, 7);
  std::string value(kValueSizeBytes, 'v');
  const uint8_t* valueBytes = reinterpret_cast<const uint8_t*>(value.data());
  uint64_t sink = 0;

  double ukvHitNs;
  double ukvMissNs;
  double ukvFillNs;
  {
    ukv::SwissTable table;
    double start = nowNs();
    for (size_t i = 0; i < entryCount; i++) table.set(&keys[i * kKeySizeBytes], kKeySizeBytes, valueBytes, kValueSizeBytes);
    ukvFillNs = (nowNs() - start) / static_cast<double>(entryCount);
    start = nowNs();
    for (uint32_t index : order) sink += table.find(&keys[size_t{index} * kKeySizeBytes], kKeySizeBytes)->value()[0];
    ukvHitNs = (nowNs() - start) / kLookupCount;
    start = nowNs();
    for (uint32_t index : order) sink += table.find(&missKeys[size_t{index} * kKeySizeBytes], kKeySizeBytes) == nullptr;
    ukvMissNs = (nowNs() - start) / kLookupCount;
  }

  double abslHitNs;
  double abslMissNs;
  double abslFillNs;
  {
    absl::flat_hash_map<std::string, std::string> map;
    double start = nowNs();
    for (size_t i = 0; i < entryCount; i++) {
      map.emplace(std::string(reinterpret_cast<const char*>(&keys[i * kKeySizeBytes]), kKeySizeBytes), value);
    }
    abslFillNs = (nowNs() - start) / static_cast<double>(entryCount);
    start = nowNs();
    for (uint32_t index : order) {
      absl::string_view key(reinterpret_cast<const char*>(&keys[size_t{index} * kKeySizeBytes]), kKeySizeBytes);
      sink += static_cast<uint8_t>(map.find(key)->second[0]);
    }
    abslHitNs = (nowNs() - start) / kLookupCount;
    start = nowNs();
    for (uint32_t index : order) {
      absl::string_view key(reinterpret_cast<const char*>(&missKeys[size_t{index} * kKeySizeBytes]), kKeySizeBytes);
      sink += map.find(key) == map.end();
    }
    abslMissNs = (nowNs() - start) / kLookupCount;
  }

  std::printf("entries %zu (key %zu B, value %zu B), %zu lookups each\n", entryCount, kKeySizeBytes, kValueSizeBytes, kLookupCount);
  std::printf("  fill        ukv %7.1f ns/op   absl %7.1f ns/op\n", ukvFillNs, abslFillNs);
  std::printf("  lookup hit  ukv %7.1f ns/op   absl %7.1f ns/op   ukv/absl %.2fx\n", ukvHitNs, abslHitNs, ukvHitNs / abslHitNs);
  std::printf("  lookup miss ukv %7.1f ns/op   absl %7.1f ns/op   ukv/absl %.2fx\n", ukvMissNs, abslMissNs, ukvMissNs / abslMissNs);
  std::printf("  (sink %llu)\n", static_cast<unsigned long long>(sink));
}

}  // namespace

int main(int argc, char** argv) {
#ifdef __SSE2__
  std::printf("group matching: SSE2 (16 slots)\n");
#else
  std::printf("group matching: portable SWAR (8 slots)\n");
#endif
  if (!checkAgainstReference()) {
    std::printf("FAILED: SwissTable disagrees with std::unordered_map\n");
    return 1;
  }
  std::printf("check: %zu random ops agree with std::unordered_map\n", kCheckOpCount);
  std::vector<size_t> entryCounts;
  for (int i = 1; i < argc; i++) entryCounts.push_back(std::strtoull(argv[i], nullptr, 10));
  if (entryCounts.empty()) entryCounts = {1'000'000, 10'000'000};
  for (size_t entryCount : entryCounts) benchAt(entryCount);
  return 0;
}
