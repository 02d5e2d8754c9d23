// Data-directory lock: flock(LOCK_EX | LOCK_NB) on a file that stays open for the life of the
// process. The kernel drops the lock when the process dies, even by SIGKILL, so a stale lock
// never blocks a restart (unlike a PID file).
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <napi.h>

#include <string>

// lockFile(path) -> fd (number). Throws an Error with code "LOCKED" if another process holds it.
static Napi::Value LockFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "lockFile(path): path must be a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    Napi::Error error = Napi::Error::New(env, "Cannot open lock file " + path + ": " + strerror(errno));
    error.Set("code", Napi::String::New(env, "IO_ERROR"));
    error.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int saved = errno;
    close(fd);
    Napi::Error error = Napi::Error::New(env, "Lock file " + path + " is held by another process: " + strerror(saved));
    error.Set("code", Napi::String::New(env, saved == EWOULDBLOCK ? "LOCKED" : "IO_ERROR"));
    error.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // Record the holder's pid for humans; the lock itself is the flock.
  std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) == 0) {
    ssize_t ignored = pwrite(fd, pid.data(), pid.size(), 0);
    (void)ignored;
  }
  return Napi::Number::New(env, fd);
}

// unlockFile(fd): releases the lock and closes the file.
static Napi::Value UnlockFile(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  flock(fd, LOCK_UN);
  close(fd);
  return info.Env().Undefined();
}

void InitLock(Napi::Env env, Napi::Object exports) {
  exports.Set("lockFile", Napi::Function::New(env, LockFile));
  exports.Set("unlockFile", Napi::Function::New(env, UnlockFile));
}
