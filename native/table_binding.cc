// Temporary until the table lands: registers nothing.
#include <napi.h>
void InitTable(Napi::Env, Napi::Object) {}
