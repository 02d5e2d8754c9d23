// The process-global table registry (table_registry.h).
#include "table_registry.h"

namespace ukv {

std::mutex TableRegistry::mutex_;
std::map<uint64_t, std::weak_ptr<Table>> TableRegistry::tables_;
uint64_t TableRegistry::nextTableId_ = 1;

std::shared_ptr<Table> TableRegistry::create(size_t capacityHint) {
  Table* table = new Table(capacityHint);
  // The deleter runs when the last handle goes, on whichever thread drops it.
  std::shared_ptr<Table> shared(table, [](Table* dying) {
    forget(dying->tableId);
    delete dying;
  });
  std::lock_guard<std::mutex> guard(mutex_);
  table->tableId = nextTableId_++;
  UKV_ASSERT(table->tableId < (uint64_t{1} << 53), "table ids stay exact as JS numbers");
  tables_[table->tableId] = shared;
  return shared;
}

std::shared_ptr<Table> TableRegistry::attach(uint64_t tableId) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto found = tables_.find(tableId);
  if (found == tables_.end()) return nullptr;
  // lock() only adds a reference, so no deleter (which takes mutex_) can run under the guard.
  return found->second.lock();
}

void TableRegistry::forget(uint64_t tableId) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto found = tables_.find(tableId);
  // An attach may have found it expired meanwhile; only erase the entry if it is still dead.
  if (found != tables_.end() && found->second.expired()) tables_.erase(found);
}

}  // namespace ukv
