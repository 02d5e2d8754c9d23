// Temporary until the WAL lands: registers nothing.
#include <napi.h>
void InitWal(Napi::Env, Napi::Object) {}
