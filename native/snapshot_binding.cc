// N-API face of snapshots: every call returns a Promise and does its disk work on a native worker
// thread (Napi::AsyncWorker), so the JS event loop never waits on the disk. A failure rejects
// with an Error carrying `code` (SNAPSHOT_CORRUPT, DISK_FULL, IO_ERROR), `path` and `offset`.
#include <napi.h>

#include <cstring>
#include <functional>
#include <memory>

#include "snapshot.h"

std::shared_ptr<ukv::Table> tableFromHandle(const Napi::Value& value);

namespace {

// What a task hands back to the JS thread.
struct SnapshotOutcome {
  ukv::SnapshotError error;
  ukv::SnapshotHeader header;
  ukv::SnapshotFileInfo file;
};

class SnapshotTask : public Napi::AsyncWorker {
 public:
  using Run = std::function<bool(SnapshotOutcome&)>;
  using Resolve = std::function<Napi::Value(Napi::Env, SnapshotOutcome&)>;

  SnapshotTask(Napi::Env env, Run run, Resolve resolve)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), run_(std::move(run)), resolve_(std::move(resolve)) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override { ok_ = run_(outcome_); }

  void OnOK() override {
    Napi::Env env = Env();
    if (ok_) {
      deferred_.Resolve(resolve_(env, outcome_));
      return;
    }
    Napi::Error error = Napi::Error::New(env, outcome_.error.message);
    error.Set("code", Napi::String::New(env, outcome_.error.code));
    error.Set("path", Napi::String::New(env, outcome_.error.path));
    error.Set("offset", Napi::Number::New(env, static_cast<double>(outcome_.error.offset)));
    deferred_.Reject(error.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Run run_;
  Resolve resolve_;
  SnapshotOutcome outcome_;
  bool ok_ = false;
};

// Raft indexes and terms cross as JS numbers: integers below 2^53 (checked in TS).
uint64_t toU64(const Napi::Value& value) {
  double number = value.As<Napi::Number>().DoubleValue();
  UKV_ASSERT(number >= 0 && number <= 9007199254740991.0 && number == static_cast<double>(static_cast<uint64_t>(number)),
             "index and term are safe non-negative integers, checked in TS");
  return static_cast<uint64_t>(number);
}

Napi::Object headerObject(Napi::Env env, SnapshotOutcome& outcome, const std::string& path) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("path", Napi::String::New(env, path));
  result.Set("index", Napi::Number::New(env, static_cast<double>(outcome.header.index)));
  result.Set("term", Napi::Number::New(env, static_cast<double>(outcome.header.term)));
  result.Set("entryCount", Napi::Number::New(env, static_cast<double>(outcome.header.entryCount)));
  result.Set("sizeBytes", Napi::Number::New(env, static_cast<double>(outcome.file.sizeBytes)));
  auto metadata = Napi::Uint8Array::New(env, outcome.header.metadata.size());
  if (!outcome.header.metadata.empty()) {
    std::memcpy(metadata.Data(), outcome.header.metadata.data(), outcome.header.metadata.size());
  }
  result.Set("metadata", metadata);
  return result;
}

Napi::Value queue(SnapshotTask* task) {
  Napi::Promise promise = task->promise();
  task->Queue();
  return promise;
}

// snapshotSave(table, dir, index, term, metadata) -> Promise<{ path, sizeBytes }>
Napi::Value Save(const Napi::CallbackInfo& info) {
  std::shared_ptr<ukv::Table> table = tableFromHandle(info[0]);
  if (!table) return info.Env().Undefined();
  std::string dir = info[1].As<Napi::String>().Utf8Value();
  uint64_t index = toU64(info[2]);
  uint64_t term = toU64(info[3]);
  auto metadataArray = info[4].As<Napi::Uint8Array>();
  // Copied now: the JS buffer may change or be collected while the worker runs.
  std::vector<uint8_t> metadata(metadataArray.Data(), metadataArray.Data() + metadataArray.ByteLength());
  auto* task = new SnapshotTask(
      info.Env(),
      [table, dir, index, term, metadata](SnapshotOutcome& outcome) {
        return ukv::writeSnapshot(*table, dir, index, term, metadata, &outcome.file, &outcome.error);
      },
      [](Napi::Env env, SnapshotOutcome& outcome) -> Napi::Value {
        Napi::Object result = Napi::Object::New(env);
        result.Set("path", Napi::String::New(env, outcome.file.path));
        result.Set("sizeBytes", Napi::Number::New(env, static_cast<double>(outcome.file.sizeBytes)));
        return result;
      });
  return queue(task);
}

// snapshotLoad(table, path) -> Promise<header>: the table's content is replaced only if the whole
// file verified; readers see the old content until then.
Napi::Value Load(const Napi::CallbackInfo& info) {
  std::shared_ptr<ukv::Table> table = tableFromHandle(info[0]);
  if (!table) return info.Env().Undefined();
  std::string path = info[1].As<Napi::String>().Utf8Value();
  auto* task = new SnapshotTask(
      info.Env(),
      [table, path](SnapshotOutcome& outcome) {
        ukv::SegmentedTable loaded(0);
        if (!ukv::readSnapshot(path, &loaded, &outcome.header, &outcome.file.sizeBytes, &outcome.error)) return false;
        {
          std::unique_lock<std::shared_mutex> guard(table->mutex);
          table->map.swap(loaded);
          // New content, maybe for another range: readers routed by the old epoch go back to the Raft thread.
          table->epoch.fetch_add(ukv::kEpochStep, std::memory_order_release);
        }
        // `loaded` now holds the old content, freed here on the worker thread.
        return true;
      },
      [path](Napi::Env env, SnapshotOutcome& outcome) -> Napi::Value { return headerObject(env, outcome, path); });
  return queue(task);
}

// snapshotInstall(tmpPath, finalPath, dir, index, term) -> Promise<header>: verifies a received
// file (CRC, and that it is the announced index/term), then makes it durable under its final name.
Napi::Value Install(const Napi::CallbackInfo& info) {
  std::string tmpPath = info[0].As<Napi::String>().Utf8Value();
  std::string finalPath = info[1].As<Napi::String>().Utf8Value();
  std::string dir = info[2].As<Napi::String>().Utf8Value();
  uint64_t index = toU64(info[3]);
  uint64_t term = toU64(info[4]);
  auto* task = new SnapshotTask(
      info.Env(),
      [tmpPath, finalPath, dir, index, term](SnapshotOutcome& outcome) {
        if (!ukv::readSnapshot(tmpPath, nullptr, &outcome.header, &outcome.file.sizeBytes, &outcome.error)) return false;
        if (outcome.header.index != index || outcome.header.term != term) {
          outcome.error.code = "SNAPSHOT_CORRUPT";
          outcome.error.path = tmpPath;
          outcome.error.offset = 16;
          outcome.error.message = "Snapshot is corrupt: " + tmpPath + " at offset 16: holds index " +
                                  std::to_string(outcome.header.index) + " term " + std::to_string(outcome.header.term) +
                                  ", expected index " + std::to_string(index) + " term " + std::to_string(term);
          return false;
        }
        return ukv::installSnapshotFile(tmpPath, finalPath, dir, &outcome.error);
      },
      [finalPath](Napi::Env env, SnapshotOutcome& outcome) -> Napi::Value { return headerObject(env, outcome, finalPath); });
  return queue(task);
}

}  // namespace

void InitSnapshot(Napi::Env env, Napi::Object exports) {
  exports.Set("snapshotSave", Napi::Function::New(env, Save));
  exports.Set("snapshotLoad", Napi::Function::New(env, Load));
  exports.Set("snapshotInstall", Napi::Function::New(env, Install));
  Napi::Object limits = Napi::Object::New(env);
  limits.Set("metadataSizeBytesMax", Napi::Number::New(env, ukv::kSnapshotMetadataSizeBytesMax));
  limits.Set("headerSizeBytes", Napi::Number::New(env, static_cast<double>(ukv::kSnapshotHeaderSizeBytes)));
  exports.Set("snapshotLimits", limits);
}
