// The Swiss table implementation: group matching, probing, tombstones, growth, the hash, and the
// process-global table registry. The memory layout is described in table.h.
#include "table.h"

#include <atomic>

#include <cstring>
#include <new>
#include <utility>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the SWAR group and the snapshot format read little-endian words");

namespace ukv {
namespace {

// Control values. Full slots hold a 7-bit H2 (0..127), so every special value has the high bit set
// and "is full" is one signed compare. kEmpty and kDeleted are both below kSentinel (-1), so
// "empty or deleted" is one signed compare against it (SSE2 pcmpgtb).
constexpr int8_t kEmpty = -128;   // 0b10000000
constexpr int8_t kDeleted = -2;   // 0b11111110
constexpr int8_t kSentinel = -1;  // 0b11111111: never stored, only the threshold of the compare
static_assert(kEmpty < kSentinel && kDeleted < kSentinel, "empty-or-deleted is `control < kSentinel`");
static_assert((kEmpty & 0x02) == 0 && (kDeleted & 0x02) != 0, "SWAR matchEmpty tells empty from deleted by bit 1");
static_assert((kEmpty & 0x01) == 0 && (kDeleted & 0x01) == 0, "SWAR matchEmptyOrDeleted needs bit 0 clear in both");

// A set of slot offsets within a group. SSE2: one bit per slot (shift 0); SWAR: the high bit of
// each byte (shift 3, i.e. bit index / 8 is the slot offset).
template <int kShift, int kWidth>
struct BitMask {
  uint64_t mask;
  explicit operator bool() const { return mask != 0; }
  size_t lowest() const { return static_cast<size_t>(__builtin_ctzll(mask)) >> kShift; }
  void clearLowest() { mask &= mask - 1; }
  // Slots before the first set one, counting from offset 0 (the mask must be non-zero).
  size_t trailingZeros() const { return lowest(); }
  // Slots after the last set one, counting from offset kWidth - 1 (the mask must be non-zero).
  size_t leadingZeros() const {
    constexpr int unusedBits = 64 - (kWidth << kShift);
    return static_cast<size_t>(__builtin_clzll(mask) - unusedBits) >> kShift;
  }
};

#ifdef __SSE2__
constexpr size_t kGroupWidth = 16;
using GroupMask = BitMask<0, 16>;

// 16 control bytes compared at once: pcmpeqb gives 0xFF per equal byte, pmovmskb packs the 16
// high bits into an int.
struct Group {
  __m128i control;
  explicit Group(const int8_t* position) : control(_mm_loadu_si128(reinterpret_cast<const __m128i*>(position))) {}
  GroupMask match(int8_t h2) const {
    return GroupMask{static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_set1_epi8(h2), control)))};
  }
  GroupMask matchEmpty() const { return match(kEmpty); }
  GroupMask matchEmptyOrDeleted() const {
    return GroupMask{static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpgt_epi8(_mm_set1_epi8(kSentinel), control)))};
  }
};
#else
constexpr size_t kGroupWidth = 8;
using GroupMask = BitMask<3, 8>;

// 8 control bytes in one 64-bit word. match() may report a false positive only for a byte equal
// to h2 ^ 1 right after a true match (a borrow); such a byte is full, so the key compare rejects it.
struct Group {
  static constexpr uint64_t kLsbs = 0x0101010101010101ULL;
  static constexpr uint64_t kMsbs = 0x8080808080808080ULL;
  uint64_t control;
  explicit Group(const int8_t* position) { std::memcpy(&control, position, sizeof(control)); }
  GroupMask match(int8_t h2) const {
    uint64_t x = control ^ (kLsbs * static_cast<uint8_t>(h2));
    return GroupMask{(x - kLsbs) & ~x & kMsbs};
  }
  GroupMask matchEmpty() const { return GroupMask{(control & ~(control << 6)) & kMsbs}; }
  GroupMask matchEmptyOrDeleted() const { return GroupMask{(control & ~(control << 7)) & kMsbs}; }
};
#endif

constexpr size_t kClonedBytes = kGroupWidth - 1;
constexpr size_t kCapacityMin = kGroupWidth;
static_assert((kGroupWidth & (kGroupWidth - 1)) == 0, "triangular probing covers every group only for a power-of-two width");

// Probe positions h1, h1 + W, h1 + 3W, h1 + 6W, ... (mod capacity): step i adds W * i. Over a
// power-of-two capacity the triangular numbers are a permutation, so every group is seen once.
struct ProbeSequence {
  size_t mask;
  size_t offset;
  size_t stride = 0;
  ProbeSequence(uint64_t h1, size_t capacityMask) : mask(capacityMask), offset(static_cast<size_t>(h1) & capacityMask) {}
  size_t slotAt(size_t groupOffset) const { return (offset + groupOffset) & mask; }
  void next() {
    stride += kGroupWidth;
    offset = (offset + stride) & mask;
  }
};

inline uint64_t h1Of(uint64_t hash) { return hash >> 7; }
inline int8_t h2Of(uint64_t hash) { return static_cast<int8_t>(hash & 0x7f); }

// wyhash-style mixing: a 64x64 -> 128-bit multiply folded by xor. Constants are odd with balanced
// bits; the seed is fixed so iteration order is the same in every process.
constexpr uint64_t kSecret0 = 0xa0761d6478bd642fULL;
constexpr uint64_t kSecret1 = 0xe7037ed1a0b428dbULL;
constexpr uint64_t kSecret2 = 0x8ebc6af09c88c6e3ULL;
constexpr uint64_t kSecret3 = 0x589965cc75374cc3ULL;
constexpr uint64_t kSeed = 0x756b765f7461626cULL;  // "ukv_tabl"

inline uint64_t multiplyFold(uint64_t a, uint64_t b) {
  __uint128_t product = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
}
inline uint64_t read64(const uint8_t* p) {
  uint64_t value;
  std::memcpy(&value, p, sizeof(value));
  return value;
}
inline uint64_t read32(const uint8_t* p) {
  uint32_t value;
  std::memcpy(&value, p, sizeof(value));
  return value;
}

// How far ahead a move prefetches: moves (4 to 32 measured alike), and 64-byte lines of the entry
// (a 16 + 100-byte entry spans up to three; larger values are copied while the rest streams in).
constexpr size_t kPrefetchMovesAhead = 8;
constexpr size_t kPrefetchEntryLines = 3;

size_t capacityForHint(size_t capacityHint) {
  UKV_ASSERT(capacityHint <= (size_t{1} << 40), "capacity hint is bounded by the caller");
  size_t capacity = kCapacityMin;
  while (capacity - capacity / 8 < capacityHint) capacity *= 2;
  return capacity;
}

}  // namespace

uint64_t hashBytes(const uint8_t* data, size_t size) {
  uint64_t seed = kSeed ^ multiplyFold(kSeed ^ kSecret0, kSecret1);
  uint64_t a;
  uint64_t b;
  if (size <= 16) {
    if (size >= 4) {
      // Two overlapping 4-byte reads from each end cover 4..16 bytes without a loop.
      size_t middle = (size >> 3) << 2;
      a = (read32(data) << 32) | read32(data + middle);
      b = (read32(data + size - 4) << 32) | read32(data + size - 4 - middle);
    } else if (size > 0) {
      a = (static_cast<uint64_t>(data[0]) << 16) | (static_cast<uint64_t>(data[size >> 1]) << 8) | data[size - 1];
      b = 0;
    } else {
      a = 0;
      b = 0;
    }
  } else {
    const uint8_t* p = data;
    size_t remaining = size;
    if (remaining > 48) {
      uint64_t lane1 = seed;
      uint64_t lane2 = seed;
      do {
        seed = multiplyFold(read64(p) ^ kSecret1, read64(p + 8) ^ seed);
        lane1 = multiplyFold(read64(p + 16) ^ kSecret2, read64(p + 24) ^ lane1);
        lane2 = multiplyFold(read64(p + 32) ^ kSecret3, read64(p + 40) ^ lane2);
        p += 48;
        remaining -= 48;
      } while (remaining > 48);
      seed ^= lane1 ^ lane2;
    }
    while (remaining > 16) {
      seed = multiplyFold(read64(p) ^ kSecret1, read64(p + 8) ^ seed);
      p += 16;
      remaining -= 16;
    }
    // The last 16 bytes, overlapping what the loop already mixed when size is not a multiple.
    a = read64(p + remaining - 16);
    b = read64(p + remaining - 8);
  }
  a ^= kSecret1;
  b ^= seed;
  __uint128_t product = static_cast<__uint128_t>(a) * b;
  a = static_cast<uint64_t>(product);
  b = static_cast<uint64_t>(product >> 64);
  return multiplyFold(a ^ kSecret0 ^ size, b ^ kSecret1);
}

void* EntryArena::allocate(size_t sizeBytes) {
  if (sizeBytes > kArenaBlockSizeBytesMax) {
    void* block = std::malloc(sizeBytes);
    UKV_ASSERT(block != nullptr, "out of memory allocating a large entry");
    return block;
  }
  size_t roundedBytes = (sizeBytes + kBlockAlignBytes - 1) & ~(kBlockAlignBytes - 1);
  size_t sizeClass = roundedBytes / kBlockAlignBytes - 1;
  void* block = freeLists_[sizeClass];
  if (block != nullptr) {
    void* next;
    std::memcpy(&next, block, sizeof(next));
    freeLists_[sizeClass] = next;
    return block;
  }
  if (bumpLeftBytes_ < roundedBytes) {
    if (chunkCount_ == chunkCapacity_) {
      chunkCapacity_ = chunkCapacity_ == 0 ? 16 : chunkCapacity_ * 2;
      chunks_ = static_cast<void**>(std::realloc(chunks_, chunkCapacity_ * sizeof(void*)));
      UKV_ASSERT(chunks_ != nullptr, "out of memory growing the chunk list");
    }
    bump_ = static_cast<uint8_t*>(std::malloc(kChunkSizeBytes));
    UKV_ASSERT(bump_ != nullptr, "out of memory allocating an entry chunk");
    chunks_[chunkCount_++] = bump_;
    bumpLeftBytes_ = kChunkSizeBytes;
  }
  block = bump_;
  bump_ += roundedBytes;
  bumpLeftBytes_ -= roundedBytes;
  return block;
}

void EntryArena::free(void* block, size_t sizeBytes) {
  if (sizeBytes > kArenaBlockSizeBytesMax) {
    std::free(block);
    return;
  }
  size_t sizeClass = (sizeBytes + kBlockAlignBytes - 1) / kBlockAlignBytes - 1;
  // The free block's first 8 bytes hold the next free block of its class (blocks are >= 8 bytes).
  std::memcpy(block, &freeLists_[sizeClass], sizeof(void*));
  freeLists_[sizeClass] = block;
}

void EntryArena::release() {
  for (size_t index = 0; index < chunkCount_; index++) std::free(chunks_[index]);
  std::free(chunks_);
  chunks_ = nullptr;
  chunkCount_ = 0;
  chunkCapacity_ = 0;
  bump_ = nullptr;
  bumpLeftBytes_ = 0;
  for (void*& head : freeLists_) head = nullptr;
}

void EntryArena::swap(EntryArena& other) noexcept {
  for (size_t index = 0; index < kClassCount; index++) std::swap(freeLists_[index], other.freeLists_[index]);
  std::swap(chunks_, other.chunks_);
  std::swap(chunkCount_, other.chunkCount_);
  std::swap(chunkCapacity_, other.chunkCapacity_);
  std::swap(bump_, other.bump_);
  std::swap(bumpLeftBytes_, other.bumpLeftBytes_);
}

static_assert(sizeof(Entry) >= sizeof(void*), "a freed block can hold the free-list link");

SwissTable::SwissTable(size_t capacityHint) { allocate(capacityForHint(capacityHint)); }

SwissTable::~SwissTable() {
  freeAllEntries();
  std::free(control_);
  std::free(slots_);
}

Entry* SwissTable::allocateEntry(uint32_t keySize, uint32_t valueSize) {
  Entry* entry = static_cast<Entry*>(arena_.allocate(sizeof(Entry) + size_t{keySize} + valueSize));
  entry->keySize = keySize;
  entry->valueSize = valueSize;
  return entry;
}

void SwissTable::freeEntry(Entry* entry) { arena_.free(entry, entry->blockSizeBytes()); }

void SwissTable::freeAllEntries() {
  // Small blocks go with their chunks; only large (malloc'd) ones are freed one by one.
  forEach([](const Entry& entry) {
    if (entry.blockSizeBytes() > EntryArena::kArenaBlockSizeBytesMax) std::free(const_cast<Entry*>(&entry));
  });
  arena_.release();
}

void SwissTable::allocate(size_t capacity) {
  UKV_ASSERT(capacity >= kCapacityMin, "capacity holds at least one group");
  UKV_ASSERT((capacity & (capacity - 1)) == 0, "capacity is a power of two (probe mask)");
  control_ = static_cast<int8_t*>(std::malloc(capacity + kClonedBytes));
  slots_ = static_cast<Entry**>(std::calloc(capacity, sizeof(Entry*)));
  UKV_ASSERT(control_ != nullptr && slots_ != nullptr, "out of memory allocating table slots");
  std::memset(control_, kEmpty, capacity + kClonedBytes);
  capacity_ = capacity;
  tombstoneCount_ = 0;
  static std::atomic<uint64_t> layoutNext{1};
  layout_ = layoutNext.fetch_add(1);
}

void SwissTable::setControl(size_t index, int8_t control) {
  control_[index] = control;
  // The mirror of index i < kClonedBytes is capacity + i; for any other index this is i itself.
  control_[((index - kClonedBytes) & (capacity_ - 1)) + kClonedBytes] = control;
}

size_t SwissTable::findSlot(const uint8_t* key, uint32_t keySize, uint64_t hash) const {
  ProbeSequence probe(h1Of(hash), capacity_ - 1);
  const int8_t h2 = h2Of(hash);
  for (size_t step = 0; step <= capacity_ / kGroupWidth; step++) {
    Group group(control_ + probe.offset);
    for (GroupMask match = group.match(h2); match; match.clearLowest()) {
      size_t index = probe.slotAt(match.lowest());
      const Entry* entry = slots_[index];
      if (entry->keySize == keySize && (keySize == 0 || std::memcmp(entry->key(), key, keySize) == 0)) return index;
    }
    if (group.matchEmpty()) return capacity_;
    probe.next();
  }
  UKV_ASSERT(false, "a probe always meets an empty slot: load stays below 7/8");
  return capacity_;
}

size_t SwissTable::findFirstNonFull(uint64_t hash) const {
  ProbeSequence probe(h1Of(hash), capacity_ - 1);
  for (size_t step = 0; step <= capacity_ / kGroupWidth; step++) {
    GroupMask free = Group(control_ + probe.offset).matchEmptyOrDeleted();
    if (free) return probe.slotAt(free.lowest());
    probe.next();
  }
  UKV_ASSERT(false, "a table below 7/8 load has a free slot on every probe sequence");
  return capacity_;
}

const Entry* SwissTable::find(const uint8_t* key, uint32_t keySize) const {
  size_t index = findSlot(key, keySize, hashBytes(key, keySize));
  return index == capacity_ ? nullptr : slots_[index];
}

bool SwissTable::set(const uint8_t* key, uint32_t keySize, const uint8_t* value, uint32_t valueSize) {
  const uint64_t hash = hashBytes(key, keySize);
  size_t index = findSlot(key, keySize, hash);
  if (index != capacity_) {
    Entry* entry = slots_[index];
    if (entry->valueSize != valueSize) {
      // Writers hold the table exclusively, so moving the block cannot tear a concurrent read.
      Entry* moved = allocateEntry(keySize, valueSize);
      std::memcpy(moved->key(), entry->key(), keySize);
      entryBytes_ += moved->blockSizeBytes() - entry->blockSizeBytes();
      freeEntry(entry);
      entry = moved;
      slots_[index] = entry;
    }
    if (valueSize > 0) std::memcpy(entry->value(), value, valueSize);
    return false;
  }
  insertAbsent(key, keySize, value, valueSize, hash);
  return true;
}

void SwissTable::insertAbsent(const uint8_t* key, uint32_t keySize, const uint8_t* value, uint32_t valueSize, uint64_t hash) {
  size_t index = findFirstNonFull(hash);
  if (control_[index] == kEmpty && count_ + tombstoneCount_ >= growthLimit()) {
    // Mostly tombstones: rehash at the same size to drop them (each such rehash frees >= 3/32 of
    // the slots, so it is amortized). Otherwise double.
    resize(count_ * 32 <= capacity_ * 25 ? capacity_ : capacity_ * 2);
    index = findFirstNonFull(hash);
  }
  if (control_[index] == kDeleted) tombstoneCount_--;
  Entry* entry = allocateEntry(keySize, valueSize);
  if (keySize > 0) std::memcpy(entry->key(), key, keySize);
  if (valueSize > 0) std::memcpy(entry->value(), value, valueSize);
  slots_[index] = entry;
  setControl(index, h2Of(hash));
  count_++;
  entryBytes_ += entry->blockSizeBytes();
  UKV_ASSERT(count_ + tombstoneCount_ <= growthLimit(), "load stays at or below 7/8");
}

bool SwissTable::erase(const uint8_t* key, uint32_t keySize) {
  size_t index = findSlot(key, keySize, hashBytes(key, keySize));
  if (index == capacity_) return false;
  eraseAt(index);
  return true;
}

void SwissTable::eraseAt(size_t index) {
  UKV_ASSERT(index < capacity_ && control_[index] >= 0, "only a full slot is erased");
  entryBytes_ -= slots_[index]->blockSizeBytes();
  freeEntry(slots_[index]);
  slots_[index] = nullptr;
  count_--;
  // If every window of kGroupWidth slots holding `index` also holds an empty slot, no probe ever
  // went past this slot to a later group, so it may become empty again instead of a tombstone.
  size_t before = (index - kGroupWidth) & (capacity_ - 1);
  GroupMask emptyAfter = Group(control_ + index).matchEmpty();
  GroupMask emptyBefore = Group(control_ + before).matchEmpty();
  bool neverFull = emptyBefore && emptyAfter && emptyAfter.trailingZeros() + emptyBefore.leadingZeros() < kGroupWidth;
  setControl(index, neverFull ? kEmpty : kDeleted);
  if (!neverFull) tombstoneCount_++;
}

void SwissTable::moveSlots(SwissTable& destination, const std::vector<MovingSlot>& moving) {
  UKV_ASSERT(&destination != this && destination.count_ == 0, "entries move to another, empty table");
  // Sized for the moved entries up front: no rehash while they go in.
  SwissTable sized(moving.size());
  destination.swap(sized);
  const size_t destinationMask = destination.capacity_ - 1;
  for (size_t position = 0; position < moving.size(); position++) {
    if (position + kPrefetchMovesAhead < moving.size()) {
      // Each move reads a random entry here and writes a random group there; fetching both a few
      // moves early overlaps the misses. Lines past a short entry's end are harmless to fetch.
      const MovingSlot& ahead = moving[position + kPrefetchMovesAhead];
      const uint8_t* block = reinterpret_cast<const uint8_t*>(slots_[ahead.index]);
      for (size_t line = 0; line < kPrefetchEntryLines; line++) __builtin_prefetch(block + 64 * line);
      size_t group = static_cast<size_t>(h1Of(ahead.hash)) & destinationMask;
      __builtin_prefetch(destination.control_ + group, 1);
      __builtin_prefetch(destination.slots_ + group, 1);
    }
    const Entry* entry = slots_[moving[position].index];
    destination.insertAbsent(entry->key(), entry->keySize, entry->value(), entry->valueSize, moving[position].hash);
    eraseAt(moving[position].index);
  }
}

void SwissTable::resize(size_t newCapacity) {
  int8_t* oldControl = control_;
  Entry** oldSlots = slots_;
  size_t oldCapacity = capacity_;
  allocate(newCapacity);
  for (size_t index = 0; index < oldCapacity; index++) {
    if (oldControl[index] < 0) continue;
    Entry* entry = oldSlots[index];
    uint64_t hash = hashBytes(entry->key(), entry->keySize);
    size_t target = findFirstNonFull(hash);
    slots_[target] = entry;
    setControl(target, h2Of(hash));
  }
  std::free(oldControl);
  std::free(oldSlots);
  UKV_ASSERT(count_ <= growthLimit(), "a rehash leaves room to insert");
}

void SwissTable::clear() {
  freeAllEntries();
  std::free(control_);
  std::free(slots_);
  count_ = 0;
  entryBytes_ = 0;
  allocate(kCapacityMin);
}

void SwissTable::swap(SwissTable& other) noexcept {
  std::swap(control_, other.control_);
  std::swap(slots_, other.slots_);
  std::swap(capacity_, other.capacity_);
  std::swap(count_, other.count_);
  std::swap(tombstoneCount_, other.tombstoneCount_);
  std::swap(entryBytes_, other.entryBytes_);
  std::swap(layout_, other.layout_);
  arena_.swap(other.arena_);
}

size_t SwissTable::bytesUsed() const {
  return sizeof(SwissTable) + capacity_ + kClonedBytes + capacity_ * sizeof(Entry*) + entryBytes_;
}

}  // namespace ukv
