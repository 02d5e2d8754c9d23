// N-API glue only: each component registers its own bindings (table_binding.cc, wal_binding.cc).
#include <napi.h>

void InitTable(Napi::Env env, Napi::Object exports);
void InitWal(Napi::Env env, Napi::Object exports);

static Napi::Value Version(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), "ukv_native 1");
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::Function::New(env, Version));
  InitTable(env, exports);
  InitWal(env, exports);
  return exports;
}

NODE_API_MODULE(ukv_native, Init)
