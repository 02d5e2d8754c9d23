// Node-API face of the WAL: the WalHandle class and its writer thread (group commit).
//
// Threads and memory: JS calls append(records, epoch) on the event loop; the bytes are copied
// into a heap Request and queued under mutex_. The single writer thread takes EVERYTHING queued,
// stages consecutive appends into one group and commits it with one fdatasync (WalFiles in
// wal.cc), then hands the whole batch back through one thread-safe function call; the JS thread
// settles the promises in queue order. The event loop never waits on the disk, and appends keep
// their order because one thread serves one queue.
//
// Failure epochs: when a group fails, every append already queued behind it was built by JS on
// the assumption that the failed one would land; writing those would leave a gap in the log. So
// the writer bumps epoch_ and rejects any append stamped with an older epoch; JS learns the new
// epoch from the rejection and stamps later appends with it.
//
// Lifetime: while requests are pending the object holds a strong reference to itself and refs
// the thread-safe function (keeps the process alive); when idle both are released, so an
// unclosed, idle WAL never keeps the process from exiting.
#include <errno.h>
#include <napi.h>

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "wal.h"

namespace {

enum class RequestType { Open, Append, DeletePrefix, Close };

struct Request {
  RequestType type = RequestType::Append;
  std::optional<Napi::Promise::Deferred> deferred;  // empty: internal (destructor's close)
  std::vector<uint8_t> records;
  uint64_t epoch = 0;
  uint64_t throughIndex = 0;
  // Filled by the writer thread.
  ukv::WalStatus status;
  ukv::WalScan scan;
  uint64_t epochAfter = 0;
  ukv::WalLogState durableAfter;
  uint64_t deletedCount = 0;
  uint64_t remainingEntryIndexMin = 0;
};

using Batch = std::vector<std::unique_ptr<Request>>;

class WalHandle;
void CallJs(Napi::Env env, Napi::Function callback, WalHandle* handle, Batch* batch);
using CompletionFunction = Napi::TypedThreadSafeFunction<WalHandle, Batch, CallJs>;

Napi::Object logStateObject(Napi::Env env, const ukv::WalLogState& state) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("firstIndex", Napi::Number::New(env, static_cast<double>(state.firstIndex)));
  result.Set("lastIndex", Napi::Number::New(env, static_cast<double>(state.lastIndex)));
  if (state.hasHardState) {
    Napi::Object hardState = Napi::Object::New(env);
    hardState.Set("term", Napi::Number::New(env, static_cast<double>(state.hardStateTerm)));
    hardState.Set("vote", Napi::Number::New(env, static_cast<double>(state.hardStateVote)));
    hardState.Set("commit", Napi::Number::New(env, static_cast<double>(state.hardStateCommit)));
    result.Set("hardState", hardState);
  } else {
    result.Set("hardState", env.Null());
  }
  return result;
}

Napi::Error makeError(Napi::Env env, const ukv::WalStatus& status, uint64_t epoch) {
  Napi::Error error = Napi::Error::New(env, status.message);
  error.Set("code", Napi::String::New(env, status.code));
  error.Set("errno", Napi::Number::New(env, status.errnum));
  error.Set("epoch", Napi::Number::New(env, static_cast<double>(epoch)));
  if (!status.file.empty()) error.Set("file", Napi::String::New(env, status.file));
  if (status.offset >= 0) error.Set("offset", Napi::Number::New(env, static_cast<double>(status.offset)));
  return error;
}

void throwCoded(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  error.ThrowAsJavaScriptException();
}

class WalHandle : public Napi::ObjectWrap<WalHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "WalHandle",
                       {
                           InstanceMethod<&WalHandle::Open>("open"),
                           InstanceMethod<&WalHandle::Append>("append"),
                           InstanceMethod<&WalHandle::DeletePrefix>("deletePrefix"),
                           InstanceMethod<&WalHandle::Close>("close"),
                           InstanceMethod<&WalHandle::Stats>("stats"),
                           InstanceMethod<&WalHandle::FailNextWrite>("failNextWrite"),
                       });
  }

  // new WalHandle(dir: string, segmentSizeBytes: number, directIo: boolean)
  explicit WalHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<WalHandle>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsBoolean()) {
      throwCoded(env, "CONFIG_INVALID", "WalHandle(dir, segmentSizeBytes, directIo): wrong argument types");
      return;
    }
    const double segmentSizeBytes = info[1].As<Napi::Number>().DoubleValue();
    if (!(segmentSizeBytes >= static_cast<double>(ukv::kWalSegmentSizeBytesMin)) || segmentSizeBytes > 1099511627776.0 ||
        static_cast<uint64_t>(segmentSizeBytes) % ukv::kWalBlockBytes != 0) {
      throwCoded(env, "CONFIG_INVALID", "WAL segment size must be a multiple of 4096 of at least 8192 bytes");
      return;
    }
    files_ = std::make_unique<ukv::WalFiles>(info[0].As<Napi::String>().Utf8Value(),
                                             static_cast<uint64_t>(segmentSizeBytes),
                                             info[2].As<Napi::Boolean>().Value());
    completion_ = CompletionFunction::New(env, "ukv_wal_completion", 0, 1, this);
    completion_.Unref(env);
    writer_ = std::thread([this] { WriterLoop(); });
  }

  ~WalHandle() override {
    // Only reached when idle (pending requests hold a strong reference), so the writer is
    // waiting on the queue and an internal close stops it without touching JS.
    if (writer_.joinable()) {
      auto request = std::make_unique<Request>();
      request->type = RequestType::Close;
      Push(std::move(request));
      writer_.join();
    }
    if (!released_) completion_.Release();
  }

  // Runs on the JS thread: settles every promise of one writer batch, in queue order.
  void Complete(Napi::Env env, Batch* batch) {
    Napi::HandleScope scope(env);
    bool closed = false;
    for (std::unique_ptr<Request>& request : *batch) {
      if (!request->deferred.has_value()) continue;
      pendingCount_--;
      Napi::Promise::Deferred& deferred = *request->deferred;
      if (!request->status.ok()) {
        Napi::Error error = makeError(env, request->status, request->epochAfter);
        // What is really on disk now, so JS can continue from it (a failed group may have left
        // its records up to a segment rollover durable).
        error.Set("durable", logStateObject(env, request->durableAfter));
        deferred.Reject(error.Value());
        continue;
      }
      switch (request->type) {
        case RequestType::Open:
          deferred.Resolve(OpenResult(env, request->scan, request->durableAfter));
          break;
        case RequestType::DeletePrefix: {
          Napi::Object result = Napi::Object::New(env);
          result.Set("deletedCount", Napi::Number::New(env, static_cast<double>(request->deletedCount)));
          result.Set("remainingEntryIndexMin",
                     Napi::Number::New(env, static_cast<double>(request->remainingEntryIndexMin)));
          deferred.Resolve(result);
          break;
        }
        case RequestType::Close:
          closed = true;
          deferred.Resolve(env.Undefined());
          break;
        case RequestType::Append:
          deferred.Resolve(env.Undefined());
          break;
      }
    }
    if (closed && writer_.joinable()) writer_.join();  // it returns right after handing us this batch
    if (pendingCount_ == 0) {
      completion_.Unref(env);
      Unref();
    }
    if (closed && !released_) {
      released_ = true;
      completion_.Release();
    }
  }

 private:
  Napi::Value Open(const Napi::CallbackInfo& info) {
    auto request = std::make_unique<Request>();
    request->type = RequestType::Open;
    return Enqueue(info.Env(), std::move(request));
  }

  // append(records: Uint8Array, epoch: number): Promise<void>, settled after fdatasync.
  Napi::Value Append(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsNumber()) {
      throwCoded(env, "BAD_REQUEST", "append(records, epoch): wrong argument types");
      return env.Undefined();
    }
    auto bytes = info[0].As<Napi::Uint8Array>();
    auto request = std::make_unique<Request>();
    request->type = RequestType::Append;
    request->records.assign(bytes.Data(), bytes.Data() + bytes.ByteLength());
    request->epoch = static_cast<uint64_t>(info[1].As<Napi::Number>().DoubleValue());
    return Enqueue(env, std::move(request));
  }

  Napi::Value DeletePrefix(const Napi::CallbackInfo& info) {
    auto request = std::make_unique<Request>();
    request->type = RequestType::DeletePrefix;
    request->throughIndex = static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue());
    return Enqueue(info.Env(), std::move(request));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    auto request = std::make_unique<Request>();
    request->type = RequestType::Close;
    Napi::Value promise = Enqueue(info.Env(), std::move(request));
    closing_ = true;
    return promise;
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object stats = Napi::Object::New(env);
    stats.Set("syncCount", Napi::Number::New(env, static_cast<double>(files_->syncCount())));
    stats.Set("bytesWritten", Napi::Number::New(env, static_cast<double>(files_->bytesWritten())));
    stats.Set("segmentCount", Napi::Number::New(env, static_cast<double>(files_->segmentCount())));
    stats.Set("directIo", Napi::Boolean::New(env, files_->directIo()));
    return stats;
  }

  // TEST ONLY: failNextWrite("ENOSPC" | "EIO", skipWriteCount).
  Napi::Value FailNextWrite(const Napi::CallbackInfo& info) {
    const std::string name = info[0].As<Napi::String>().Utf8Value();
    files_->failNextWrite(name == "ENOSPC" ? ENOSPC : EIO, info[1].As<Napi::Number>().Uint32Value());
    return info.Env().Undefined();
  }

  Napi::Value Enqueue(Napi::Env env, std::unique_ptr<Request> request) {
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
    if (closing_) {
      ukv::WalStatus status;
      status.code = "CLOSED";
      status.message = "WAL is closed";
      deferred.Reject(makeError(env, status, 0).Value());
      return deferred.Promise();
    }
    request->deferred = deferred;
    if (pendingCount_++ == 0) {
      Ref();
      completion_.Ref(env);
    }
    Push(std::move(request));
    return deferred.Promise();
  }

  void Push(std::unique_ptr<Request> request) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(request));
    }
    wake_.notify_one();
  }

  static Napi::Value OpenResult(Napi::Env env, const ukv::WalScan& scan, const ukv::WalLogState& state) {
    Napi::Array segments = Napi::Array::New(env, scan.segments.size());
    for (size_t i = 0; i < scan.segments.size(); i++) {
      const ukv::WalSegmentImage& image = scan.segments[i];
      Napi::Object segment = Napi::Object::New(env);
      segment.Set("fileName", Napi::String::New(env, image.fileName));
      segment.Set("records", Napi::Buffer<uint8_t>::Copy(env, image.records.data(), image.records.size()));
      segments.Set(static_cast<uint32_t>(i), segment);
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("segments", segments);
    result.Set("state", logStateObject(env, state));
    result.Set("tailTruncatedBytes", Napi::Number::New(env, static_cast<double>(scan.tailTruncatedBytes)));
    return result;
  }

  void WriterLoop() {
    for (;;) {
      Batch batch;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return !queue_.empty(); });
        batch.swap(queue_);
      }
      const bool stop = RunBatch(batch);
      const bool hasPromises = std::any_of(batch.begin(), batch.end(),
                                           [](const std::unique_ptr<Request>& request) { return request->deferred.has_value(); });
      if (hasPromises) {
        auto* handed = new Batch(std::move(batch));
        if (completion_.NonBlockingCall(handed) != napi_ok) delete handed;
      }
      if (stop) return;
    }
  }

  // Returns true once a close ran; requests behind it fail with CLOSED.
  bool RunBatch(Batch& batch) {
    bool stopped = false;
    size_t position = 0;
    while (position < batch.size()) {
      Request& request = *batch[position];
      if (stopped) {
        request.status.code = "CLOSED";
        request.status.message = "WAL is closed";
        position++;
        continue;
      }
      if (request.type == RequestType::Append) {
        size_t end = position;
        while (end < batch.size() && batch[end]->type == RequestType::Append) end++;
        RunAppendGroup(batch, position, end);
        position = end;
        continue;
      }
      if (request.type == RequestType::Open) request.status = files_->open(&request.scan);
      if (request.type == RequestType::DeletePrefix) {
        request.status = files_->deletePrefix(request.throughIndex, &request.deletedCount, &request.remainingEntryIndexMin);
      }
      if (request.type == RequestType::Close) {
        files_->close();
        stopped = true;
      }
      request.epochAfter = epoch_;
      request.durableAfter = files_->durableState();
      position++;
    }
    return stopped;
  }

  // One group: every current-epoch append staged, then one commit (one fdatasync). Any failure
  // fails the whole group and starts a new epoch.
  void RunAppendGroup(Batch& batch, size_t begin, size_t end) {
    ukv::WalStatus failure;
    std::vector<Request*> staged;
    for (size_t i = begin; i < end; i++) {
      Request& request = *batch[i];
      if (request.epoch != epoch_ || !failure.ok()) continue;
      staged.push_back(&request);
      failure = files_->stage(request.records.data(), request.records.size());
    }
    if (failure.ok() && !staged.empty()) failure = files_->commit();
    if (!failure.ok()) {
      files_->abort();
      epoch_++;
      lastFailure_ = failure;
      for (Request* request : staged) request->status = failure;
    }
    for (size_t i = begin; i < end; i++) {
      Request& request = *batch[i];
      request.epochAfter = epoch_;
      request.durableAfter = files_->durableState();
      if (request.status.ok() && request.epoch != epoch_ &&
          std::find(staged.begin(), staged.end(), &request) == staged.end()) {
        request.status = lastFailure_;
        request.status.message = "WAL append rejected because an earlier append failed: " + lastFailure_.message;
      }
    }
  }

  std::unique_ptr<ukv::WalFiles> files_;
  CompletionFunction completion_;
  std::thread writer_;
  std::mutex mutex_;
  std::condition_variable wake_;
  Batch queue_;
  // Writer thread only.
  uint64_t epoch_ = 0;
  ukv::WalStatus lastFailure_;
  // JS thread only.
  size_t pendingCount_ = 0;
  bool closing_ = false;
  bool released_ = false;
};

void CallJs(Napi::Env env, Napi::Function, WalHandle* handle, Batch* batch) {
  if (env != nullptr && handle != nullptr) handle->Complete(env, batch);
  delete batch;
}

// walRawSyncBench(path, blockCount, sameBlock) -> { latenciesNs: Float64Array, directIo: boolean }.
// Blocks the calling thread: for the benchmark script only.
Napi::Value RawSyncBench(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsBoolean()) {
    throwCoded(env, "BAD_REQUEST", "walRawSyncBench(path, blockCount, sameBlock): wrong argument types");
    return env.Undefined();
  }
  std::vector<double> latenciesNs;
  bool directIo = true;
  ukv::WalStatus status = ukv::walRawSyncBench(info[0].As<Napi::String>().Utf8Value(),
                                               info[1].As<Napi::Number>().Uint32Value(),
                                               info[2].As<Napi::Boolean>().Value(), &latenciesNs, &directIo);
  if (!status.ok()) {
    makeError(env, status, 0).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Float64Array latencies = Napi::Float64Array::New(env, latenciesNs.size());
  std::copy(latenciesNs.begin(), latenciesNs.end(), latencies.Data());
  Napi::Object result = Napi::Object::New(env);
  result.Set("latenciesNs", latencies);
  result.Set("directIo", Napi::Boolean::New(env, directIo));
  return result;
}

}  // namespace

void InitWal(Napi::Env env, Napi::Object exports) {
  exports.Set("WalHandle", WalHandle::Define(env));
  exports.Set("walRawSyncBench", Napi::Function::New(env, RawSyncBench));
  exports.Set("walBufferBytesLive", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                return Napi::Number::New(info.Env(), static_cast<double>(ukv::walBufferBytesLive()));
              }));
}
