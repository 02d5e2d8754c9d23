// N-API glue only: each component registers its own bindings (table_binding.cc, wal_binding.cc, read_route_binding.cc).
#include <napi.h>

#include "crc32c.h"

void InitTable(Napi::Env env, Napi::Object exports);
void InitWal(Napi::Env env, Napi::Object exports);
void InitLock(Napi::Env env, Napi::Object exports);
void InitSnapshot(Napi::Env env, Napi::Object exports);
void InitReadRoute(Napi::Env env, Napi::Object exports);

static Napi::Value Version(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), "ukv_native 1");
}

// crc32c(bytes) -> number: exposed so tests can check the native CRC against known vectors.
static Napi::Value Crc32c(const Napi::CallbackInfo& info) {
  auto bytes = info[0].As<Napi::Uint8Array>();
  return Napi::Number::New(info.Env(), ukv::crc32c(bytes.Data(), bytes.ByteLength()));
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::Function::New(env, Version));
  exports.Set("crc32c", Napi::Function::New(env, Crc32c));
  InitTable(env, exports);
  InitWal(env, exports);
  InitLock(env, exports);
  InitSnapshot(env, exports);
  InitReadRoute(env, exports);
  return exports;
}

NODE_API_MODULE(ukv_native, Init)
