// A shard's key-value map: Swiss tables ("segments"), each holding the keys of one binary prefix of
// the routing hash (key_hash.h), so that a shard split hands whole segments to the new shard by
// pointer and copies entries only for the one segment the split point falls in.
//
// Why: a split runs inside the Raft apply, on every replica's event loop, and a single table had
// to walk and copy half of the shard (90-250 ms for 500k moved keys measured), which stalled writes
// to every shard of the store. With segments of at most kSegmentKeyCountMax keys, the copy is
// bounded by one segment (a few ms) whatever the shard's size.
//
// Shape: segments tile the 64-bit hash space in order; segment i holds hashes [start, start + 2^(64 - depth)).
// A segment that reaches kSegmentKeyCountMax keys splits at its hash midpoint into two, until
// depth kDepthMax (4096 regions): past that, one segment grows like a plain table (a hash tag
// holding millions of keys, or a shard narrower than a region). A direct index from the top
// kDepthMax bits of the hash (a "region") to the segment finds the segment in one load.
//
// Scan positions ("virtual slots", what SCAN cursors hold): (segment's first region) << 24 | slot.
// A segment's slots keep their positions while its layout() is unchanged (inserts and deletes move
// no other entry); splitting it or rehashing it gives it a new layout. The caller keeps the layout
// it saw with each position, and on a mismatch restarts at the start of the segment that now holds
// the position's region: that segment starts at or before the old one (boundaries only come from
// splits, or from a wholly new table), so no key that was present throughout is skipped.
// Limit: only the first 2^24 slots (14.6M keys at full load) of a segment are addressable this
// way, which only a segment at kDepthMax (one hash tag) can exceed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "key_hash.h"
#include "table.h"

namespace ukv {

class SegmentedTable {
 public:
  static constexpr unsigned kDepthMax = 12;
  static constexpr size_t kRegionCount = size_t{1} << kDepthMax;
  static constexpr unsigned kRegionShift = 64 - kDepthMax;
  // The growth limit of a 65,536-slot Swiss table (7/8): a segment splits just before it would double.
  static constexpr size_t kSegmentKeyCountMax = 57344;
  static constexpr unsigned kScanSlotBits = 24;
  static constexpr uint64_t kScanSlotMask = (uint64_t{1} << kScanSlotBits) - 1;
  // One past the last scan position: where a finished scan ends.
  static constexpr uint64_t kScanEnd = uint64_t{1} << (kDepthMax + kScanSlotBits);

  explicit SegmentedTable(size_t capacityHint = 0);
  SegmentedTable(const SegmentedTable&) = delete;
  SegmentedTable& operator=(const SegmentedTable&) = delete;

  // The entry for `key`, or nullptr. Valid until the next write.
  const Entry* find(const uint8_t* key, uint32_t keySize) const;
  // Inserts or overwrites. Returns true if the key was new.
  bool set(const uint8_t* key, uint32_t keySize, const uint8_t* value, uint32_t valueSize);
  // Returns true if the key was present.
  bool erase(const uint8_t* key, uint32_t keySize);
  void clear();
  void swap(SegmentedTable& other) noexcept;

  size_t count() const { return count_; }
  size_t segmentCount() const { return segments_.size(); }
  // Every segment's bytesUsed plus the index.
  size_t bytesUsed() const;

  // Visits every entry, segment by segment in hash order, each in slot order: the order snapshots
  // are written in (it depends only on the sequence of operations, so runs replay).
  template <typename Visit>
  void forEach(Visit visit) const {
    for (const Segment& segment : segments_) segment.map->forEach(visit);
  }

  // Visits the full slots at start, start + stride, ... of all segments' slots laid end to end,
  // until `visit` returns false. Slots follow the segments' own hash, unrelated to the routing
  // hash, and each key holds one slot, so the entries seen are a uniform sample of the keys.
  template <typename Visit>
  void forEachStrided(size_t start, size_t stride, Visit visit) const {
    UKV_ASSERT(stride >= 1, "a strided walk moves forward");
    size_t offset = 0;
    size_t position = start;
    for (const Segment& segment : segments_) {
      const size_t capacity = segment.map->capacity();
      if (position < offset + capacity) {
        bool going = true;
        segment.map->forEachStrided(position - offset, stride, [&](const Entry& entry) { return going = visit(entry); });
        if (!going) return;
        position += (offset + capacity - position + stride - 1) / stride * stride;
      }
      offset += capacity;
    }
  }

  struct ScanPage {
    uint64_t next;           // the position to continue from; kScanEnd when the walk is done
    uint64_t nextLayout;     // the layout `next` is valid under (0 at the end)
    uint64_t startLayout;    // the layout of the segment holding the position the walk began at
    uint64_t startSegment;   // that segment's first position: where a stale cursor restarts
  };
  // Visits the full slots from position `begin` on, at most slotCountMax slots, until `visit`
  // returns false (that entry is the last one visited).
  template <typename Visit>
  ScanPage scan(uint64_t begin, size_t slotCountMax, Visit visit) const {
    ScanPage page{kScanEnd, 0, 0, kScanEnd};
    if (begin >= kScanEnd) return page;
    size_t index = regionIndex_[begin >> kScanSlotBits];
    page.startLayout = segments_[index].map->layout();
    page.startSegment = positionOf(index, 0);
    size_t slot = static_cast<size_t>(begin & kScanSlotMask);
    size_t budget = slotCountMax;
    for (;;) {
      const SwissTable& map = *segments_[index].map;
      const size_t end = std::min<size_t>(map.capacity(), size_t{1} << kScanSlotBits);
      bool stopped = false;
      size_t reached = slot;
      if (slot < end) {
        reached = map.forEachInSlots(slot, slot + std::min(budget, end - slot), [&](const Entry& entry) {
          stopped = !visit(entry);
          return !stopped;
        });
        budget -= reached - slot;
      }
      if (reached < end) {
        page.next = positionOf(index, reached);
        page.nextLayout = map.layout();
        return page;
      }
      if (++index == segments_.size()) return page;
      slot = 0;
      if (stopped || budget == 0) {
        page.next = positionOf(index, 0);
        page.nextLayout = segments_[index].map->layout();
        return page;
      }
    }
  }

  // A scan position about `fraction` (0..1) of the way through the keys: in the segment holding
  // that share of the keys (in hash order), at that share of its slots. A random fraction gives a
  // start that is close to uniform over the keys (RANDOMKEY), whatever the segments' sizes.
  uint64_t positionAtFraction(double fraction) const;

  // Moves every entry whose routing hash is in [low, high] into `destination` (empty), which takes
  // this table's segment boundaries: a segment inside the range moves whole by pointer, one that
  // straddles a bound moves entry by entry. Returns how many entries moved.
  size_t moveHashRange(SegmentedTable& destination, uint64_t low, uint64_t high);

 private:
  struct Segment {
    uint64_t start;
    unsigned depth;  // the segment holds hashes [start, start + 2^(64 - depth))
    std::unique_ptr<SwissTable> map;
    uint64_t last() const { return depth == 0 ? ~uint64_t{0} : start + ((~uint64_t{0}) >> depth); }
  };

  size_t segmentOf(uint64_t hash) const { return regionIndex_[hash >> kRegionShift]; }
  uint64_t positionOf(size_t index, size_t slot) const {
    return ((segments_[index].start >> kRegionShift) << kScanSlotBits) + slot;
  }
  void splitSegment(size_t index);
  void rebuildIndex();

  std::vector<Segment> segments_;
  std::vector<uint16_t> regionIndex_;  // region -> segment index
  size_t count_ = 0;
};

}  // namespace ukv
