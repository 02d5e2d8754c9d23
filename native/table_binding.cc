// N-API face of the Swiss table. A JS handle is an External owning one std::shared_ptr<Table>
// (TableHandle): closing the handle or its garbage collection drops that reference, and the
// Table is freed with the last one (see TableRegistry in table.h).
//
// Batches cross once. getMany: the keys are packed by JS into one byte buffer with a Uint32Array of
// end offsets; the values come back packed in one fresh ArrayBuffer, with each value's size (or -1
// for a missing key) written into a JS Int32Array. applyBatch: keys and values packed into one
// buffer, and per op three u32s [kind, keyEnd, valueEnd] (kind 0 = set, 1 = delete).
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "key_hash.h"
#include "table_registry.h"

#include <algorithm>

namespace {

struct TableHandle {
  std::shared_ptr<ukv::Table> table;
};

constexpr uint32_t kOpSet = 0;
constexpr uint32_t kOpDelete = 1;
constexpr uint32_t kOpFieldCount = 3;

void throwCoded(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  error.ThrowAsJavaScriptException();
}

Napi::Value wrap(Napi::Env env, std::shared_ptr<ukv::Table> table) {
  auto* handle = new TableHandle{std::move(table)};
  return Napi::External<TableHandle>::New(env, handle, [](Napi::Env, TableHandle* dying) { delete dying; });
}

// The table behind info[0], or nullptr (with a JS exception pending) if the handle was closed.
ukv::Table* tableOf(const Napi::CallbackInfo& info) {
  TableHandle* handle = info[0].As<Napi::External<TableHandle>>().Data();
  if (!handle->table) {
    throwCoded(info.Env(), "CLOSED", "Table handle is closed");
    return nullptr;
  }
  return handle->table.get();
}

struct Bytes {
  const uint8_t* data;
  uint32_t size;
};

Bytes bytesOf(const Napi::Value& value) {
  auto array = value.As<Napi::Uint8Array>();
  UKV_ASSERT(array.ByteLength() <= UINT32_MAX, "byte strings are bounded by the limits");
  return Bytes{array.Data(), static_cast<uint32_t>(array.ByteLength())};
}

Napi::Value Create(const Napi::CallbackInfo& info) {
  double capacityHint = info[0].As<Napi::Number>().DoubleValue();
  UKV_ASSERT(capacityHint >= 0 && capacityHint <= 4294967296.0, "capacity hint checked in TS");
  return wrap(info.Env(), ukv::TableRegistry::create(static_cast<size_t>(capacityHint)));
}

Napi::Value Attach(const Napi::CallbackInfo& info) {
  double tableId = info[0].As<Napi::Number>().DoubleValue();
  std::shared_ptr<ukv::Table> table = ukv::TableRegistry::attach(static_cast<uint64_t>(tableId));
  if (!table) return info.Env().Null();
  return wrap(info.Env(), std::move(table));
}

Napi::Value TableId(const Napi::CallbackInfo& info) {
  ukv::Table* table = tableOf(info);
  if (table == nullptr) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), static_cast<double>(table->tableId));
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  info[0].As<Napi::External<TableHandle>>().Data()->table.reset();
  return info.Env().Undefined();
}

// get(handle, key, out: Uint8Array) -> null (absent) | number (the value's size, copied to the start
// of `out`) | Uint8Array (a value larger than `out`). Values usually fit the caller's reused
// scratch: a buffer made through N-API costs about 1 us in Bun, 5x the call itself.
Napi::Value Get(const Napi::CallbackInfo& info) {
  ukv::Table* table = tableOf(info);
  if (table == nullptr) return info.Env().Undefined();
  Bytes key = bytesOf(info[1]);
  Bytes out = bytesOf(info[2]);
  UKV_ASSERT(key.size <= ukv::kKeySizeBytesMax, "key size checked in TS");
  std::shared_lock<std::shared_mutex> guard(table->mutex);
  const ukv::Entry* entry = table->map.find(key.data, key.size);
  if (entry == nullptr) return info.Env().Null();
  // Copy under the read lock: a writer cannot free or move the entry until the guard goes.
  if (entry->valueSize <= out.size) {
    if (entry->valueSize > 0) std::memcpy(const_cast<uint8_t*>(out.data), entry->value(), entry->valueSize);
    return Napi::Number::New(info.Env(), entry->valueSize);
  }
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(info.Env(), entry->valueSize);
  std::memcpy(buffer.Data(), entry->value(), entry->valueSize);
  return Napi::Uint8Array::New(info.Env(), entry->valueSize, buffer, 0);
}

Napi::Value Has(const Napi::CallbackInfo& info) {
  ukv::Table* table = tableOf(info);
  if (table == nullptr) return info.Env().Undefined();
  Bytes key = bytesOf(info[1]);
  UKV_ASSERT(key.size <= ukv::kKeySizeBytesMax, "key size checked in TS");
  std::shared_lock<std::shared_mutex> guard(table->mutex);
  return Napi::Boolean::New(info.Env(), table->map.find(key.data, key.size) != nullptr);
}

Napi::Value Set(const Napi::CallbackInfo& info) {
  ukv::Table* table = tableOf(info);
  if (table == nullptr) return info.Env().Undefined();
  Bytes key = bytesOf(info[1]);
  Bytes value = bytesOf(info[2]);
  UKV_ASSERT(key.size <= ukv::kKeySizeBytesMax, "key size checked in TS");
  UKV_ASSERT(value.size <= ukv::kValueSizeBytesMax, "value size checked in TS");
  std::unique_lock<std::shared_mutex> guard(table->mutex);
  table->map.set(key.data, key.size, value.data, value.size);
  return info.Env().Undefined();
}

Napi::Value Delete(const Napi::CallbackInfo& info) {
  ukv::Table* table = tableOf(info);
  if (table == nullptr) return info.Env().Undefined();
  Bytes key = bytesOf(info[1]);
  UKV_ASSERT(key.size <= ukv::kKeySizeBytesMax, "key size checked in TS");
  std::unique_lock<std::shared_mutex> guard(table->mutex);
  return Napi::Boolean::New(info.Env(), table->map.erase(key.data, key.size));
}

// The lookups of getMany, from argument `first` on (keys, keyEnds, count, outSizes,
// out); the caller holds the table's read lock. The values, end to end, go into `out` when they
// fit (the answer is then their total size, a number), else into a new ArrayBuffer (see Get).
Napi::Value lookUpMany(const Napi::CallbackInfo& info, ukv::Table* table, size_t first) {
  Bytes keys = bytesOf(info[first]);
  auto keyEnds = info[first + 1].As<Napi::Uint32Array>();
  uint32_t count = info[first + 2].As<Napi::Number>().Uint32Value();
  auto outSizes = info[first + 3].As<Napi::Int32Array>();
  UKV_ASSERT(count <= ukv::kTableBatchCountMax, "batch count checked in TS");
  UKV_ASSERT(keyEnds.ElementLength() >= count && outSizes.ElementLength() >= count, "scratch arrays hold the batch");
  const uint32_t* ends = keyEnds.Data();
  int32_t* sizes = outSizes.Data();

  thread_local std::vector<const ukv::Entry*> found;
  found.resize(count);
  size_t totalBytes = 0;
  uint32_t start = 0;
  for (uint32_t i = 0; i < count; i++) {
    UKV_ASSERT(ends[i] >= start && ends[i] <= keys.size, "key offsets are increasing and inside the buffer");
    UKV_ASSERT(ends[i] - start <= ukv::kKeySizeBytesMax, "key size checked in TS");
    const ukv::Entry* entry = table->map.find(keys.data + start, ends[i] - start);
    found[i] = entry;
    sizes[i] = entry == nullptr ? -1 : static_cast<int32_t>(entry->valueSize);
    if (entry != nullptr) totalBytes += entry->valueSize;
    start = ends[i];
  }
  Bytes scratch = bytesOf(info[first + 4]);
  const bool fits = totalBytes <= scratch.size;
  Napi::ArrayBuffer buffer;
  uint8_t* out = const_cast<uint8_t*>(scratch.data);
  if (!fits) {
    buffer = Napi::ArrayBuffer::New(info.Env(), totalBytes);
    out = static_cast<uint8_t*>(buffer.Data());
  }
  for (uint32_t i = 0; i < count; i++) {
    if (found[i] == nullptr) continue;
    std::memcpy(out, found[i]->value(), found[i]->valueSize);
    out += found[i]->valueSize;
  }
  if (fits) return Napi::Number::New(info.Env(), static_cast<double>(totalBytes));
  return buffer;
}

// getMany(handle, keys: Uint8Array, keyEnds: Uint32Array, count, outSizes: Int32Array, out: Uint8Array) -> number | ArrayBuffer
Napi::Value GetMany(const Napi::CallbackInfo& info) {
  ukv::Table* table = tableOf(info);
  if (table == nullptr) return info.Env().Undefined();
  std::shared_lock<std::shared_mutex> guard(table->mutex);
  return lookUpMany(info, table, 1);
}

// epoch(handle) -> number (exact below 2^53: one bump per split or snapshot install).
Napi::Value Epoch(const Napi::CallbackInfo& info) {
  ukv::Table* table = tableOf(info);
  if (table == nullptr) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), static_cast<double>(table->epoch.load(std::memory_order_acquire)));
}

// retire(handle): the replica stopped; every read at an earlier epoch now misses (odd = retired).
Napi::Value Retire(const Napi::CallbackInfo& info) {
  ukv::Table* table = tableOf(info);
  if (table == nullptr) return info.Env().Undefined();
  std::unique_lock<std::shared_mutex> guard(table->mutex);
  uint64_t epoch = table->epoch.load(std::memory_order_relaxed);
  if (epoch % 2 == 0) table->epoch.store(epoch + 1, std::memory_order_release);
  return info.Env().Undefined();
}

// applyBatch(handle, packed: Uint8Array, ops: Uint32Array, count): all ops under one write lock.
Napi::Value ApplyBatch(const Napi::CallbackInfo& info) {
  ukv::Table* table = tableOf(info);
  if (table == nullptr) return info.Env().Undefined();
  Bytes packed = bytesOf(info[1]);
  auto opsArray = info[2].As<Napi::Uint32Array>();
  uint32_t count = info[3].As<Napi::Number>().Uint32Value();
  UKV_ASSERT(count <= ukv::kTableBatchCountMax, "batch count checked in TS");
  UKV_ASSERT(opsArray.ElementLength() >= size_t{count} * kOpFieldCount, "op array holds the batch");
  const uint32_t* ops = opsArray.Data();
  // Check the whole batch before touching the table, so a bad batch applies nothing.
  uint32_t start = 0;
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t* op = ops + size_t{i} * kOpFieldCount;
    UKV_ASSERT(op[0] == kOpSet || op[0] == kOpDelete, "op kind is set or delete");
    UKV_ASSERT(op[1] >= start && op[2] >= op[1] && op[2] <= packed.size, "op offsets increase inside the buffer");
    UKV_ASSERT(op[1] - start <= ukv::kKeySizeBytesMax, "key size checked in TS");
    UKV_ASSERT(op[2] - op[1] <= ukv::kValueSizeBytesMax, "value size checked in TS");
    UKV_ASSERT(op[0] == kOpSet || op[2] == op[1], "a delete carries no value");
    start = op[2];
  }
  std::unique_lock<std::shared_mutex> guard(table->mutex);
  start = 0;
  for (uint32_t i = 0; i < count; i++) {
    const uint32_t* op = ops + size_t{i} * kOpFieldCount;
    if (op[0] == kOpSet) {
      table->map.set(packed.data + start, op[1] - start, packed.data + op[1], op[2] - op[1]);
    } else {
      table->map.erase(packed.data + start, op[1] - start);
    }
    start = op[2];
  }
  return info.Env().Undefined();
}

Napi::Value Count(const Napi::CallbackInfo& info) {
  ukv::Table* table = tableOf(info);
  if (table == nullptr) return info.Env().Undefined();
  std::shared_lock<std::shared_mutex> guard(table->mutex);
  return Napi::Number::New(info.Env(), static_cast<double>(table->map.count()));
}

Napi::Value BytesUsed(const Napi::CallbackInfo& info) {
  ukv::Table* table = tableOf(info);
  if (table == nullptr) return info.Env().Undefined();
  std::shared_lock<std::shared_mutex> guard(table->mutex);
  return Napi::Number::New(info.Env(), static_cast<double>(table->map.bytesUsed()));
}

Napi::Value SegmentCount(const Napi::CallbackInfo& info) {
  ukv::Table* table = tableOf(info);
  if (table == nullptr) return info.Env().Undefined();
  std::shared_lock<std::shared_mutex> guard(table->mutex);
  return Napi::Number::New(info.Env(), static_cast<double>(table->map.segmentCount()));
}

// tablePositionAtFraction(handle, fraction) -> the scan position `fraction` (0..1) of the way through the keys.
Napi::Value PositionAtFraction(const Napi::CallbackInfo& info) {
  ukv::Table* table = tableOf(info);
  if (table == nullptr) return info.Env().Undefined();
  const double fraction = info[1].As<Napi::Number>().DoubleValue();
  std::shared_lock<std::shared_mutex> guard(table->mutex);
  return Napi::Number::New(info.Env(), static_cast<double>(table->map.positionAtFraction(fraction)));
}

Napi::Value Clear(const Napi::CallbackInfo& info) {
  ukv::Table* table = tableOf(info);
  if (table == nullptr) return info.Env().Undefined();
  ukv::SegmentedTable emptied(0);
  {
    std::unique_lock<std::shared_mutex> guard(table->mutex);
    table->map.swap(emptied);
  }
  // `emptied` now holds the old entries and is freed here, outside the lock.
  return info.Env().Undefined();
}

// entries(handle) -> [key, value][] in slot order: the order snapshots are written in. For tests
// and tools on small tables; snapshots stream natively.
Napi::Value Entries(const Napi::CallbackInfo& info) {
  ukv::Table* table = tableOf(info);
  if (table == nullptr) return info.Env().Undefined();
  Napi::Env env = info.Env();
  std::shared_lock<std::shared_mutex> guard(table->mutex);
  Napi::Array result = Napi::Array::New(env, table->map.count());
  uint32_t index = 0;
  table->map.forEach([&](const ukv::Entry& entry) {
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(uint32_t{0}, Napi::Uint8Array::New(env, entry.keySize));
    pair.Set(uint32_t{1}, Napi::Uint8Array::New(env, entry.valueSize));
    std::memcpy(pair.Get(uint32_t{0}).As<Napi::Uint8Array>().Data(), entry.key(), entry.keySize);
    std::memcpy(pair.Get(uint32_t{1}).As<Napi::Uint8Array>().Data(), entry.value(), entry.valueSize);
    result.Set(index++, pair);
  });
  return result;
}

// tableScan(handle, position, slotCountMax, entryCountMax, valuePrefixBytes[, firstByteMask]): the
// entries of up to slotCountMax slots from scan position `position` (segmented_table.h), stopping
// early after entryCountMax entries, each value cut to its first valuePrefixBytes; with a nonzero
// firstByteMask, only the entries whose value's first byte shares a bit with it. Returns { layout,
// next, capacity, startLayout, startSegment, keys, values }: continue from `next`
// (valid under `layout`; next = capacity at the end); a cursor whose layout differs from
// `startLayout` restarts from `startSegment`.
Napi::Value Scan(const Napi::CallbackInfo& info) {
  ukv::Table* table = tableOf(info);
  if (table == nullptr) return info.Env().Undefined();
  Napi::Env env = info.Env();
  const double position = info[1].As<Napi::Number>().DoubleValue();
  const double slotCountMax = info[2].As<Napi::Number>().DoubleValue();
  const double entryCountMax = info[3].As<Napi::Number>().DoubleValue();
  const double valuePrefixBytes = info[4].As<Napi::Number>().DoubleValue();
  const double firstByteMask = info.Length() > 5 ? info[5].As<Napi::Number>().DoubleValue() : 0;
  if (!(position >= 0) || !(slotCountMax >= 1) || !(entryCountMax >= 1) || !(valuePrefixBytes >= 0) || slotCountMax > 1e9 || entryCountMax > 1e6 ||
      !(firstByteMask >= 0 && firstByteMask <= 255)) {
    throwCoded(env, "BAD_REQUEST", "tableScan: bad arguments");
    return env.Undefined();
  }
  std::shared_lock<std::shared_mutex> guard(table->mutex);
  const uint64_t begin = position >= static_cast<double>(ukv::SegmentedTable::kScanEnd) ? ukv::SegmentedTable::kScanEnd : static_cast<uint64_t>(position);
  const size_t entriesMax = static_cast<size_t>(entryCountMax);
  const uint32_t prefixMax = static_cast<uint32_t>(std::min(valuePrefixBytes, 4294967295.0));
  const uint8_t mask = static_cast<uint8_t>(firstByteMask);
  Napi::Array keys = Napi::Array::New(env);
  Napi::Array values = Napi::Array::New(env);
  uint32_t index = 0;
  const ukv::SegmentedTable::ScanPage page = table->map.scan(begin, static_cast<size_t>(slotCountMax), [&](const ukv::Entry& entry) {
    // The filter runs here so that skipped entries cost no JS object (active expiry walks every
    // slot of every shard it leads ten times a second and wants only a few kinds of value).
    if (mask != 0 && (entry.valueSize == 0 || (entry.value()[0] & mask) == 0)) return true;
    Napi::Uint8Array key = Napi::Uint8Array::New(env, entry.keySize);
    std::memcpy(key.Data(), entry.key(), entry.keySize);
    const uint32_t valueSize = std::min(entry.valueSize, prefixMax);
    Napi::Uint8Array value = Napi::Uint8Array::New(env, valueSize);
    std::memcpy(value.Data(), entry.value(), valueSize);
    keys.Set(index, key);
    values.Set(index, value);
    index++;
    return index < entriesMax;
  });
  constexpr uint64_t kExactMax = uint64_t{1} << 53;
  Napi::Object result = Napi::Object::New(env);
  result.Set("layout", Napi::Number::New(env, static_cast<double>(page.nextLayout % kExactMax)));
  result.Set("next", Napi::Number::New(env, static_cast<double>(page.next)));
  result.Set("capacity", Napi::Number::New(env, static_cast<double>(ukv::SegmentedTable::kScanEnd)));
  result.Set("startLayout", Napi::Number::New(env, static_cast<double>(page.startLayout % kExactMax)));
  result.Set("startSegment", Napi::Number::New(env, static_cast<double>(page.startSegment)));
  result.Set("keys", keys);
  result.Set("values", values);
  return result;
}

uint64_t uint64Of(const Napi::Value& value) {
  bool lossless = false;
  uint64_t result = value.As<Napi::BigInt>().Uint64Value(&lossless);
  UKV_ASSERT(lossless, "hash bounds are unsigned 64-bit, checked in TS");
  return result;
}

// moveHashRange(source, destination, low, high) -> count: every entry of source whose routing hash
// is in [low, high] moves to destination (a split's child, empty), in one pass under both write
// locks. It runs inside the Raft apply on every replica's event loop, so only the segments the
// range's bounds fall in are copied entry by entry (SwissTable::moveInto, prefetched); the others
// move by pointer (SegmentedTable::moveHashRange).
Napi::Value MoveHashRange(const Napi::CallbackInfo& info) {
  ukv::Table* source = tableOf(info);
  if (source == nullptr) return info.Env().Undefined();
  TableHandle* destinationHandle = info[1].As<Napi::External<TableHandle>>().Data();
  if (!destinationHandle->table) {
    throwCoded(info.Env(), "CLOSED", "Table handle is closed");
    return info.Env().Undefined();
  }
  ukv::Table* destination = destinationHandle->table.get();
  UKV_ASSERT(destination != source, "a range moves to another table");
  uint64_t low = uint64Of(info[2]);
  uint64_t high = uint64Of(info[3]);
  std::unique_lock<std::shared_mutex> sourceGuard(source->mutex);
  std::unique_lock<std::shared_mutex> destinationGuard(destination->mutex);
  // Keys leave the source: readers routed by its old epoch must not take their absence for an answer.
  source->epoch.fetch_add(ukv::kEpochStep, std::memory_order_release);
  size_t moved = source->map.moveHashRange(destination->map, low, high);
  return Napi::Number::New(info.Env(), static_cast<double>(moved));
}

// A split point only needs halves holding about equal keys, and the median of a uniform sample of
// n keys is off from the true median by about 0.5 / sqrt(n) of the keys (one standard deviation):
// 0.4% at 16,384, while hashing that many keys took 1-7 ms on the loaded 2-core machine. Hashing
// every key took 114 ms for 1M keys (221 ms under load), the leader's event loop answering nothing.
constexpr size_t kMedianSampleCountMax = 16384;

// medianHash(table, low, high) -> [countEstimate, median]: how many keys hash into [low, high],
// and the median of their hashes (0n when none was seen), by nth_element over the hashes. A table
// of at most kMedianSampleCountMax keys is read whole, so both are exact. A larger one is sampled:
// every stride-th slot, the stride chosen so that about kMedianSampleCountMax entries are seen
// (never more), across the whole slot array; the count is the sample's in-range share scaled to
// the table. Slot positions come from the table's own hash, unrelated to the routing hash, so the
// sample is uniform in routing hash even though the walk is regular.
Napi::Value MedianHash(const Napi::CallbackInfo& info) {
  ukv::Table* table = tableOf(info);
  if (table == nullptr) return info.Env().Undefined();
  uint64_t low = uint64Of(info[1]);
  uint64_t high = uint64Of(info[2]);
  std::vector<uint64_t> hashes;
  double countEstimate = 0;
  {
    std::shared_lock<std::shared_mutex> guard(table->mutex);
    size_t count = table->map.count();
    size_t stride = std::max<size_t>(1, (count + kMedianSampleCountMax - 1) / kMedianSampleCountMax);
    hashes.reserve(std::min(count, kMedianSampleCountMax));
    size_t seen = 0;
    table->map.forEachStrided(0, stride, [&](const ukv::Entry& entry) {
      seen++;
      uint64_t hash = ukv::routingHash(entry.key(), entry.keySize);
      if (hash >= low && hash <= high) hashes.push_back(hash);
      // The stride makes kMedianSampleCountMax the expected number of entries seen; this makes it a bound.
      return seen < kMedianSampleCountMax;
    });
    if (stride == 1) {
      countEstimate = static_cast<double>(hashes.size());
    } else if (seen > 0) {
      countEstimate = std::round(static_cast<double>(hashes.size()) * static_cast<double>(count) / static_cast<double>(seen));
    }
  }
  Napi::Env env = info.Env();
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(uint32_t{0}, Napi::Number::New(env, countEstimate));
  uint64_t median = 0;
  if (!hashes.empty()) {
    auto middle = hashes.begin() + static_cast<std::ptrdiff_t>(hashes.size() / 2);
    std::nth_element(hashes.begin(), middle, hashes.end());
    median = *middle;
  }
  result.Set(uint32_t{1}, Napi::BigInt::New(env, median));
  return result;
}

// keyHash64(bytes) -> bigint: the native routing hash, for the test that it equals the TS key hash.
Napi::Value KeyHash64(const Napi::CallbackInfo& info) {
  Bytes bytes = bytesOf(info[0]);
  return Napi::BigInt::New(info.Env(), ukv::routingHash(bytes.data, bytes.size));
}

}  // namespace

// The Table shared by the snapshot binding: nullptr (with a JS exception pending) if closed.
std::shared_ptr<ukv::Table> tableFromHandle(const Napi::Value& value) {
  TableHandle* handle = value.As<Napi::External<TableHandle>>().Data();
  if (!handle->table) throwCoded(value.Env(), "CLOSED", "Table handle is closed");
  return handle->table;
}

void InitTable(Napi::Env env, Napi::Object exports) {
  exports.Set("tableCreate", Napi::Function::New(env, Create));
  exports.Set("tableAttach", Napi::Function::New(env, Attach));
  exports.Set("tableId", Napi::Function::New(env, TableId));
  exports.Set("tableClose", Napi::Function::New(env, Close));
  exports.Set("tableGet", Napi::Function::New(env, Get));
  exports.Set("tableHas", Napi::Function::New(env, Has));
  exports.Set("tableSet", Napi::Function::New(env, Set));
  exports.Set("tableDelete", Napi::Function::New(env, Delete));
  exports.Set("tableGetMany", Napi::Function::New(env, GetMany));
  exports.Set("tableEpoch", Napi::Function::New(env, Epoch));
  exports.Set("tableRetire", Napi::Function::New(env, Retire));
  exports.Set("tableApplyBatch", Napi::Function::New(env, ApplyBatch));
  exports.Set("tableCount", Napi::Function::New(env, Count));
  exports.Set("tableBytesUsed", Napi::Function::New(env, BytesUsed));
  exports.Set("tableSegmentCount", Napi::Function::New(env, SegmentCount));
  exports.Set("tablePositionAtFraction", Napi::Function::New(env, PositionAtFraction));
  exports.Set("tableClear", Napi::Function::New(env, Clear));
  exports.Set("tableEntries", Napi::Function::New(env, Entries));
  exports.Set("tableScan", Napi::Function::New(env, Scan));
  exports.Set("tableMoveHashRange", Napi::Function::New(env, MoveHashRange));
  exports.Set("tableMedianHash", Napi::Function::New(env, MedianHash));
  exports.Set("keyHash64", Napi::Function::New(env, KeyHash64));
  Napi::Object limits = Napi::Object::New(env);
  limits.Set("keySizeBytesMax", Napi::Number::New(env, ukv::kKeySizeBytesMax));
  limits.Set("valueSizeBytesMax", Napi::Number::New(env, ukv::kValueSizeBytesMax));
  limits.Set("tableBatchCountMax", Napi::Number::New(env, ukv::kTableBatchCountMax));
  limits.Set("medianSampleCountMax", Napi::Number::New(env, static_cast<double>(kMedianSampleCountMax)));
  limits.Set("segmentKeyCountMax", Napi::Number::New(env, static_cast<double>(ukv::SegmentedTable::kSegmentKeyCountMax)));
  limits.Set("segmentCountMax", Napi::Number::New(env, static_cast<double>(ukv::SegmentedTable::kRegionCount)));
  exports.Set("tableLimits", limits);
}
