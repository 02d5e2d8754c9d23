// The Swiss table: an open-addressing hash map from byte-string keys to byte-string values.
//
// Memory layout (one SwissTable):
//
//   control_  [capacity + kGroupWidth - 1] int8   one control byte per slot, then clones
//   slots_    [capacity]               Entry*     one pointer per slot (valid where control is full)
//   each Entry, one block:               [u32 keySize][u32 valueSize][key bytes][value bytes]
//   entries_  EntryArena: blocks up to kArenaBlockSizeBytesMax come from 256 KiB chunks in 8-byte
//             size classes, each class with an intrusive free list (glibc malloc would add an 8-byte
//             header and round to 16, ~16% on a 16+100-byte entry); larger blocks use malloc.
//
//   capacity is a power of two >= kGroupWidth. A control byte is
//     kEmpty   (0b10000000)  the slot never held an entry since the last rehash
//     kDeleted (0b11111110)  a tombstone: the slot held an entry and a probe may have passed it
//     0..127   (0b0hhhhhhh)  full: the low 7 bits of the key's 64-bit hash (H2)
//   The first kGroupWidth - 1 control bytes are cloned after the last one, so a group load at any
//   slot index reads kGroupWidth bytes without wrapping (index i and capacity + i hold the same byte).
//
// Lookup: H1 = hash >> 7 picks the first probe position; kGroupWidth control bytes are loaded and
// compared with H2 at once (SSE2: 16 bytes, one pcmpeqb + pmovmskb; otherwise 8 bytes with SWAR
// bit tricks). Candidates are confirmed by comparing the key bytes. A group holding an empty slot
// ends the probe (the key would have been placed there). The probe moves by kGroupWidth * i at
// step i (triangular numbers), which over a power-of-two capacity visits every group exactly once.
//
// Erase writes kEmpty when no probe can have passed the slot (the window of kGroupWidth slots
// around it had an empty slot before and after it), otherwise a tombstone kDeleted, as in abseil.
// Growth: at 7/8 load (full + tombstones) the table doubles and rehashes; if most of the load is
// tombstones it rehashes at the same capacity instead, which drops them.
//
// The hash is a fixed-seed 64-bit wyhash-style function (multiply-fold mixing), so the slot order,
// and with it the snapshot byte stream, depends only on the sequence of operations: runs replay.
//
// Thread safety: SwissTable itself is single-threaded. A shard's map is many of them, one per
// routing-hash segment (segmented_table.h); table_registry.h's Table guards that with a
// std::shared_mutex (FR3.2: readers in parallel, writers exclusive) and shares it across Workers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

// Invariant check, on in production: a failure is a bug, so the process stops with a message.
#ifndef UKV_ASSERT
#define UKV_ASSERT(condition, why)                                                          \
  do {                                                                                      \
    if (!(condition)) {                                                                     \
      std::fprintf(stderr, "ukv native assertion failed: %s (%s:%d)\n", why, __FILE__, __LINE__); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)
#endif

namespace ukv {

// Mirrors of src/util/limits.ts; src/storage/table.ts asserts at load that both sides agree. The
// TS face rejects bad input with typed errors first, so here an excess is a bug (assert).
constexpr uint32_t kKeySizeBytesMax = 4 * 1024;
constexpr uint32_t kValueSizeBytesMax = 1024 * 1024;
constexpr uint32_t kTableBatchCountMax = 65536;

// The 64-bit fixed-seed hash of a byte string.
uint64_t hashBytes(const uint8_t* data, size_t size);

// One heap block per entry; the key and value bytes follow the header directly.
struct Entry {
  uint32_t keySize;
  uint32_t valueSize;

  uint8_t* key() { return reinterpret_cast<uint8_t*>(this + 1); }
  const uint8_t* key() const { return reinterpret_cast<const uint8_t*>(this + 1); }
  uint8_t* value() { return key() + keySize; }
  const uint8_t* value() const { return key() + keySize; }
  size_t blockSizeBytes() const { return sizeof(Entry) + keySize + valueSize; }
};
static_assert(sizeof(Entry) == 8, "the entry header is two u32 sizes, no padding, so key bytes start at +8");

// Entry blocks for one SwissTable. Small blocks: bump-allocated from chunks, freed blocks kept on
// a free list per 8-byte size class and reused by the next block of that class; chunk memory is
// returned only by clear() / destruction. Single-threaded like SwissTable (callers hold the lock).
class EntryArena {
 public:
  static constexpr size_t kBlockAlignBytes = 8;
  static constexpr size_t kArenaBlockSizeBytesMax = 1024;
  // Small against a segment's entries (57,344 of ~130 bytes: 7 MiB), so a segment's unused tail is a few %.
  static constexpr size_t kChunkSizeBytes = 256 * 1024;
  static_assert(kArenaBlockSizeBytesMax % kBlockAlignBytes == 0, "size classes tile the small range");
  static_assert(kChunkSizeBytes >= 64 * kArenaBlockSizeBytesMax, "a chunk holds many of the largest small blocks");

  EntryArena() = default;
  ~EntryArena() { release(); }
  EntryArena(const EntryArena&) = delete;
  EntryArena& operator=(const EntryArena&) = delete;

  void* allocate(size_t sizeBytes);
  void free(void* block, size_t sizeBytes);
  // Drops every block at once (the caller frees large blocks itself, before this).
  void release();
  void swap(EntryArena& other) noexcept;
  size_t reservedBytes() const { return chunkCount_ * kChunkSizeBytes; }

 private:
  static constexpr size_t kClassCount = kArenaBlockSizeBytesMax / kBlockAlignBytes;
  void* freeLists_[kClassCount] = {};
  void** chunks_ = nullptr;  // malloc'd array of chunk pointers
  size_t chunkCount_ = 0;
  size_t chunkCapacity_ = 0;
  uint8_t* bump_ = nullptr;
  size_t bumpLeftBytes_ = 0;
};

class SwissTable {
 public:
  explicit SwissTable(size_t capacityHint = 0);
  ~SwissTable();
  SwissTable(const SwissTable&) = delete;
  SwissTable& operator=(const SwissTable&) = delete;

  // The entry for `key`, or nullptr. Valid until the next write.
  const Entry* find(const uint8_t* key, uint32_t keySize) const;
  // Inserts or overwrites. Returns true if the key was new.
  bool set(const uint8_t* key, uint32_t keySize, const uint8_t* value, uint32_t valueSize);
  // Returns true if the key was present.
  bool erase(const uint8_t* key, uint32_t keySize);
  void clear();
  void swap(SwissTable& other) noexcept;

  size_t count() const { return count_; }
  size_t capacity() const { return capacity_; }
  size_t tombstoneCount() const { return tombstoneCount_; }
  // Control bytes + slot array + every entry block (their requested sizes).
  size_t bytesUsed() const;

  // Identifies the slot layout: a new number (process-wide) whenever entries may have moved
  // (resize, rehash, clear), so a scan cursor taken under another layout is known to be stale.
  uint64_t layout() const { return layout_; }
  // Visits the full slots of [begin, end) in slot order; returns where to continue.
  template <typename Visit>
  size_t forEachInSlots(size_t begin, size_t end, Visit visit) const {
    size_t index = begin;
    for (; index < end && index < capacity_; index++) {
      if (control_[index] >= 0 && !visit(*slots_[index])) return index + 1;
    }
    return index;
  }

  // Visits the full slots among start, start + stride, start + 2 * stride, ... in slot order,
  // until `visit` returns false. A key's slot follows from this table's own hash (and the order of
  // writes), not from anything the caller keys on, so for a caller looking at another property of
  // the keys (the routing hash: XXH64, unrelated to this hash) these entries are a uniform sample.
  template <typename Visit>
  void forEachStrided(size_t start, size_t stride, Visit visit) const {
    UKV_ASSERT(stride >= 1, "a strided walk moves forward");
    for (size_t index = start; index < capacity_; index += stride) {
      if (control_[index] >= 0 && !visit(*slots_[index])) return;
    }
  }

  // Visits every entry in slot order: the stable order snapshots are written in.
  template <typename Visit>
  void forEach(Visit visit) const {
    for (size_t index = 0; index < capacity_; index++) {
      if (control_[index] >= 0) visit(*slots_[index]);
    }
  }

  // Moves every entry for which `take(entry)` holds into `destination`, which must be empty; it is
  // replaced by a table sized for exactly those entries. Returns how many moved. The result is
  // that of collecting them in slot order, then set() each into destination and erase() each from
  // here in that order (same slots, tombstones, free lists, hence the same snapshot bytes), but no
  // key is looked up: destination's keys are known distinct and each erase knows its slot.
  template <typename Take>
  size_t moveInto(SwissTable& destination, Take take) {
    std::vector<MovingSlot> moving;
    for (size_t index = 0; index < capacity_; index++) {
      // Slot order is random in memory: without this every entry read is a cache miss in turn.
      // A slot that is not full may hold a stale pointer; a prefetch never faults.
      if (index + kPrefetchSlotsAhead < capacity_) __builtin_prefetch(slots_[index + kPrefetchSlotsAhead]);
      if (control_[index] < 0) continue;
      const Entry& entry = *slots_[index];
      // The key is in cache now: hashing it here spares the second pass a read before it can prefetch.
      if (take(entry)) moving.push_back({index, hashBytes(entry.key(), entry.keySize)});
    }
    moveSlots(destination, moving);
    return moving.size();
  }

 private:
  struct MovingSlot {
    size_t index;   // the entry's slot here
    uint64_t hash;  // hashBytes of its key, so destination can place it without reading it first
  };
  // Slots, about 8 entries at the load a split sees (measured: 8 to 64 perform alike).
  static constexpr size_t kPrefetchSlotsAhead = 16;
  void moveSlots(SwissTable& destination, const std::vector<MovingSlot>& moving);
  // set() of a key known to be absent, its hash already computed.
  void insertAbsent(const uint8_t* key, uint32_t keySize, const uint8_t* value, uint32_t valueSize, uint64_t hash);
  // erase() of the entry in a full slot.
  void eraseAt(size_t index);
  size_t findSlot(const uint8_t* key, uint32_t keySize, uint64_t hash) const;  // capacity_ if absent
  size_t findFirstNonFull(uint64_t hash) const;
  void setControl(size_t index, int8_t control);
  void resize(size_t newCapacity);
  void allocate(size_t capacity);
  size_t growthLimit() const { return capacity_ - capacity_ / 8; }

  Entry* allocateEntry(uint32_t keySize, uint32_t valueSize);
  void freeEntry(Entry* entry);
  void freeAllEntries();

  int8_t* control_ = nullptr;
  Entry** slots_ = nullptr;
  EntryArena arena_;
  size_t capacity_ = 0;
  size_t count_ = 0;
  size_t tombstoneCount_ = 0;
  size_t entryBytes_ = 0;
  uint64_t layout_ = 0;
};

}  // namespace ukv
