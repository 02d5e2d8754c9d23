// The tables JS holds by handle: a shard's map with its lock and epoch, and the process-global
// registry through which a Worker thread attaches to a table by number.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>

#include "segmented_table.h"

namespace ukv {

// A shard's map shared by several JS threads: one shared_mutex, readers in parallel.
struct Table {
  explicit Table(size_t capacityHint) : map(capacityHint) {}
  mutable std::shared_mutex mutex;
  SegmentedTable map;
  uint64_t tableId = 0;
  // Which keys this table answers for: bumped (under the write lock) whenever keys leave it other
  // than by a logged delete (a split moving a range out, a snapshot replacing the content) or its
  // replica is retired. A reader on another thread (the read pool) names the epoch its routing was
  // built at, and a mismatch sends the read back to the Raft thread instead of answering from a
  // table that no longer owns the key. Even numbers are live; retired tables hold an odd epoch.
  std::atomic<uint64_t> epoch{0};
};
constexpr uint64_t kEpochStep = 2;

// Process-global id -> Table, so a Worker can attach to a table by number. It holds weak
// references: the Table is freed when the last handle (shared_ptr) is dropped.
class TableRegistry {
 public:
  static std::shared_ptr<Table> create(size_t capacityHint);
  static std::shared_ptr<Table> attach(uint64_t tableId);  // nullptr if closed or unknown
 private:
  static void forget(uint64_t tableId);
  static std::mutex mutex_;
  static std::map<uint64_t, std::weak_ptr<Table>> tables_;
  static uint64_t nextTableId_;
};

}  // namespace ukv
