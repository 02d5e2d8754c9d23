// Segment lookup, segment splits and range moves; the shape is described in segmented_table.h.
#include "segmented_table.h"

#include <algorithm>
#include <utility>

namespace ukv {

SegmentedTable::SegmentedTable(size_t capacityHint) : regionIndex_(kRegionCount, 0) {
  // A hint of more than one segment's keys (a snapshot load) starts at the depth whose segments
  // hold about half a segment each if the keys are spread over the whole hash space, so the load
  // does not copy every key again through a chain of segment splits. Each starts small and grows:
  // a shard owning a narrow range fills a few of them (which split further), and the rest cost
  // only an empty table each.
  unsigned depth = 0;
  while (depth < kDepthMax && (capacityHint >> depth) > kSegmentKeyCountMax / 2) depth++;
  const size_t segmentCount = size_t{1} << depth;
  for (size_t index = 0; index < segmentCount; index++) {
    const uint64_t start = depth == 0 ? 0 : static_cast<uint64_t>(index) << (64 - depth);
    segments_.push_back({start, depth, std::make_unique<SwissTable>(depth == 0 ? capacityHint : 0)});
  }
  rebuildIndex();
}

const Entry* SegmentedTable::find(const uint8_t* key, uint32_t keySize) const {
  return segments_[segmentOf(routingHash(key, keySize))].map->find(key, keySize);
}

bool SegmentedTable::set(const uint8_t* key, uint32_t keySize, const uint8_t* value, uint32_t valueSize) {
  const size_t index = segmentOf(routingHash(key, keySize));
  SwissTable& map = *segments_[index].map;
  if (!map.set(key, keySize, value, valueSize)) return false;
  count_++;
  if (map.count() >= kSegmentKeyCountMax && segments_[index].depth < kDepthMax) splitSegment(index);
  return true;
}

bool SegmentedTable::erase(const uint8_t* key, uint32_t keySize) {
  if (!segments_[segmentOf(routingHash(key, keySize))].map->erase(key, keySize)) return false;
  count_--;
  return true;
}

void SegmentedTable::splitSegment(size_t index) {
  Segment& segment = segments_[index];
  const unsigned depth = segment.depth + 1;
  const uint64_t middle = segment.start + (uint64_t{1} << (64 - depth));
  auto upper = std::make_unique<SwissTable>(0);
  auto lower = std::make_unique<SwissTable>(0);
  segment.map->moveInto(*upper, [&](const Entry& entry) { return routingHash(entry.key(), entry.keySize) >= middle; });
  // The rest is copied too, into a table (and arena) sized for it: kept in place, the lower half
  // would hold the moved half's slots and arena blocks until it refilled.
  segment.map->moveInto(*lower, [](const Entry&) { return true; });
  UKV_ASSERT(segment.map->count() == 0, "every entry went to one of the halves");
  segment.map = std::move(lower);
  segment.depth = depth;
  segments_.insert(segments_.begin() + static_cast<std::ptrdiff_t>(index) + 1, Segment{middle, depth, std::move(upper)});
  rebuildIndex();
}

void SegmentedTable::rebuildIndex() {
  UKV_ASSERT(segments_.size() <= kRegionCount, "a segment covers at least one region");
  UKV_ASSERT(!segments_.empty() && segments_.front().start == 0, "segments begin at hash 0");
  for (size_t index = 0; index < segments_.size(); index++) {
    const Segment& segment = segments_[index];
    UKV_ASSERT(segment.depth <= kDepthMax, "segments are whole regions");
    UKV_ASSERT(index + 1 == segments_.size() ? segment.last() == ~uint64_t{0} : segment.last() + 1 == segments_[index + 1].start,
               "segments tile the hash space in order");
    const size_t first = static_cast<size_t>(segment.start >> kRegionShift);
    const size_t regions = size_t{1} << (kDepthMax - segment.depth);
    std::fill(regionIndex_.begin() + static_cast<std::ptrdiff_t>(first), regionIndex_.begin() + static_cast<std::ptrdiff_t>(first + regions),
              static_cast<uint16_t>(index));
  }
}

size_t SegmentedTable::moveHashRange(SegmentedTable& destination, uint64_t low, uint64_t high) {
  UKV_ASSERT(&destination != this && destination.count_ == 0, "a range moves to another, empty table");
  UKV_ASSERT(low <= high, "a hash range is not empty");
  std::vector<Segment> mirrored;
  mirrored.reserve(segments_.size());
  size_t moved = 0;
  for (Segment& segment : segments_) {
    auto target = std::make_unique<SwissTable>(0);
    if (segment.start >= low && segment.last() <= high) {
      moved += segment.map->count();
      std::swap(segment.map, target);
    } else if (segment.last() >= low && segment.start <= high) {
      moved += segment.map->moveInto(*target, [&](const Entry& entry) {
        const uint64_t hash = routingHash(entry.key(), entry.keySize);
        return hash >= low && hash <= high;
      });
    }
    mirrored.push_back({segment.start, segment.depth, std::move(target)});
  }
  destination.segments_ = std::move(mirrored);
  destination.rebuildIndex();
  destination.count_ = moved;
  count_ -= moved;
  return moved;
}

uint64_t SegmentedTable::positionAtFraction(double fraction) const {
  const double clamped = fraction >= 0 && fraction < 1 ? fraction : 0;
  double target = clamped * static_cast<double>(count_);
  for (size_t index = 0; index < segments_.size(); index++) {
    const double keys = static_cast<double>(segments_[index].map->count());
    if (target < keys) {
      const size_t capacity = std::min<size_t>(segments_[index].map->capacity(), size_t{1} << kScanSlotBits);
      return positionOf(index, std::min(capacity - 1, static_cast<size_t>(target / keys * static_cast<double>(capacity))));
    }
    target -= keys;
  }
  return 0;
}

void SegmentedTable::clear() {
  SegmentedTable emptied(0);
  swap(emptied);
}

void SegmentedTable::swap(SegmentedTable& other) noexcept {
  segments_.swap(other.segments_);
  regionIndex_.swap(other.regionIndex_);
  std::swap(count_, other.count_);
}

size_t SegmentedTable::bytesUsed() const {
  size_t bytes = sizeof(SegmentedTable) + regionIndex_.size() * sizeof(uint16_t) + segments_.capacity() * sizeof(Segment);
  for (const Segment& segment : segments_) bytes += segment.map->bytesUsed();
  return bytes;
}

}  // namespace ukv
