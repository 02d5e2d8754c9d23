// A read-pool Worker's view of its store's replicas (store/pool-reads.ts): which table owns which
// routing-hash range, at which epoch. One call answers a whole run of keys: each key is hashed
// (routingHash, the TS keyHash's twin), its range found by binary search, its table read under
// that table's shared lock with the epoch checked, and its value copied into the caller's reused
// buffer. In JS that was a BigInt hash, a linear range search and one N-API call per key, about
// three quarters of a pipelined GET's cost in the Worker.
//
// readRouteCreate(tableIds: Float64Array, epochs: Float64Array, starts: BigUint64Array,
//                 ends: BigUint64Array) -> External
//   Ranges come sorted by start and must not overlap (read-route.ts keeps one of overlapping
//   ranges). A table that is closed or unknown is left out (its keys read as "not here"). The route holds a reference to each table, so a table its replica dropped stays
//   allocated (retired, odd epoch: every read of it is refused) until the route is closed.
// readRouteGetMany(route, keys: Uint8Array, keyEnds: Uint32Array, count, outSizes: Int32Array,
//                  outOwners: Int32Array, out: Uint8Array) -> number (bytes written to out)
//   Per key, outSizes: the value's size (the values lie end to end in `out`, in key order), -1
//   absent, -2 not answerable here (no range owns it, or its table left the epoch the route was
//   made at), -3 the value did not fit the rest of `out`. outOwners: the index (in the create
//   arrays) of the range that owns it, or -1.
// readRouteClose(route): drops the table references now rather than at garbage collection.
#include <napi.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "key_hash.h"
#include "table_registry.h"

namespace {

constexpr int32_t kAbsent = -1;
constexpr int32_t kNotHere = -2;
constexpr int32_t kNoRoom = -3;

struct RouteRange {
  uint64_t start;
  uint64_t end;
  uint64_t epoch;
  int32_t index;  // position in the arrays JS passed to create
  std::shared_ptr<ukv::Table> table;
};

struct ReadRoute {
  std::vector<RouteRange> ranges;  // sorted by start, disjoint
  bool closed = false;
};

ReadRoute* routeOf(const Napi::CallbackInfo& info) {
  ReadRoute* route = info[0].As<Napi::External<ReadRoute>>().Data();
  if (route->closed) {
    Napi::Error error = Napi::Error::New(info.Env(), "Read route is closed");
    error.Set("code", Napi::String::New(info.Env(), "CLOSED"));
    error.ThrowAsJavaScriptException();
    return nullptr;
  }
  return route;
}

// The range holding `hash`, or nullptr.
const RouteRange* rangeOf(const std::vector<RouteRange>& ranges, uint64_t hash) {
  auto after = std::upper_bound(ranges.begin(), ranges.end(), hash, [](uint64_t value, const RouteRange& range) { return value < range.start; });
  if (after == ranges.begin()) return nullptr;
  const RouteRange& range = *(after - 1);
  return hash <= range.end ? &range : nullptr;
}

Napi::Value Create(const Napi::CallbackInfo& info) {
  auto tableIds = info[0].As<Napi::Float64Array>();
  auto epochs = info[1].As<Napi::Float64Array>();
  auto starts = info[2].As<Napi::BigUint64Array>();
  auto ends = info[3].As<Napi::BigUint64Array>();
  size_t count = tableIds.ElementLength();
  UKV_ASSERT(epochs.ElementLength() == count && starts.ElementLength() == count && ends.ElementLength() == count, "one id, epoch, start and end per range");
  auto* route = new ReadRoute();
  route->ranges.reserve(count);
  for (size_t i = 0; i < count; i++) {
    UKV_ASSERT(starts[i] <= ends[i], "a range starts at or before its end");
    std::shared_ptr<ukv::Table> table = ukv::TableRegistry::attach(static_cast<uint64_t>(tableIds[i]));
    if (!table) continue;
    route->ranges.push_back(RouteRange{starts[i], ends[i], static_cast<uint64_t>(epochs[i]), static_cast<int32_t>(i), std::move(table)});
  }
  for (size_t i = 1; i < route->ranges.size(); i++) {
    UKV_ASSERT(route->ranges[i - 1].end < route->ranges[i].start, "ranges are sorted and disjoint");
  }
  return Napi::External<ReadRoute>::New(info.Env(), route, [](Napi::Env, ReadRoute* dying) { delete dying; });
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  ReadRoute* route = info[0].As<Napi::External<ReadRoute>>().Data();
  route->ranges.clear();
  route->ranges.shrink_to_fit();
  route->closed = true;
  return info.Env().Undefined();
}

Napi::Value GetMany(const Napi::CallbackInfo& info) {
  ReadRoute* route = routeOf(info);
  if (route == nullptr) return info.Env().Undefined();
  auto keysArray = info[1].As<Napi::Uint8Array>();
  auto keyEnds = info[2].As<Napi::Uint32Array>();
  uint32_t count = info[3].As<Napi::Number>().Uint32Value();
  auto outSizes = info[4].As<Napi::Int32Array>();
  auto outOwners = info[5].As<Napi::Int32Array>();
  auto outArray = info[6].As<Napi::Uint8Array>();
  UKV_ASSERT(count <= ukv::kTableBatchCountMax, "batch count checked in TS");
  UKV_ASSERT(keyEnds.ElementLength() >= count && outSizes.ElementLength() >= count && outOwners.ElementLength() >= count, "scratch arrays hold the batch");
  const uint8_t* keys = keysArray.Data();
  const size_t keysSize = keysArray.ByteLength();
  const uint32_t* ends = keyEnds.Data();
  int32_t* sizes = outSizes.Data();
  int32_t* owners = outOwners.Data();
  uint8_t* out = outArray.Data();
  const size_t room = outArray.ByteLength();
  size_t used = 0;

  // The lock of the table the previous key read, kept while the next keys read the same table
  // (runs of one shard's keys take it once). Never two locks at a time: a split holds its two
  // tables' write locks together.
  const ukv::Table* locked = nullptr;
  std::shared_lock<std::shared_mutex> guard;
  uint32_t start = 0;
  for (uint32_t i = 0; i < count; i++) {
    UKV_ASSERT(ends[i] >= start && ends[i] <= keysSize, "key offsets are increasing and inside the buffer");
    UKV_ASSERT(ends[i] - start <= ukv::kKeySizeBytesMax, "key size checked in TS");
    const uint8_t* key = keys + start;
    const size_t keySize = ends[i] - start;
    start = ends[i];
    const RouteRange* range = rangeOf(route->ranges, ukv::routingHash(key, keySize));
    owners[i] = range == nullptr ? -1 : range->index;
    if (range == nullptr) {
      sizes[i] = kNotHere;
      continue;
    }
    if (locked != range->table.get()) {
      if (guard.owns_lock()) guard.unlock();
      guard = std::shared_lock<std::shared_mutex>(range->table->mutex);
      locked = range->table.get();
    }
    // Under the lock: no split or snapshot install lands between this check and the lookup.
    if (range->table->epoch.load(std::memory_order_acquire) != range->epoch) {
      sizes[i] = kNotHere;
      continue;
    }
    const ukv::Entry* entry = range->table->map.find(key, keySize);
    if (entry == nullptr) {
      sizes[i] = kAbsent;
      continue;
    }
    if (entry->valueSize > room - used) {
      sizes[i] = kNoRoom;
      continue;
    }
    std::memcpy(out + used, entry->value(), entry->valueSize);
    used += entry->valueSize;
    sizes[i] = static_cast<int32_t>(entry->valueSize);
  }
  return Napi::Number::New(info.Env(), static_cast<double>(used));
}

}  // namespace

void InitReadRoute(Napi::Env env, Napi::Object exports) {
  exports.Set("readRouteCreate", Napi::Function::New(env, Create));
  exports.Set("readRouteGetMany", Napi::Function::New(env, GetMany));
  exports.Set("readRouteClose", Napi::Function::New(env, Close));
}
