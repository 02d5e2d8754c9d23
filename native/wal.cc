// The WAL file engine (layout and failure rules: see wal.h). No Node-API here: the writer thread
// in wal_binding.cc drives it, so every function may block on the disk.
#include "wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <utility>

#include "crc32c.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "records are little-endian and copied with memcpy");
static_assert((ukv::kWalBlockBytes & (ukv::kWalBlockBytes - 1)) == 0, "alignment math needs a power of two");
static_assert(ukv::kWalWriteChunkBytes % ukv::kWalBlockBytes == 0, "chunks are whole blocks");
static_assert(ukv::kWalRecordHeaderBytes == 4 + 4 + 1 + 8 + 8, "length, crc, kind, term, index");

namespace ukv {
namespace {

constexpr size_t kSegmentNameBytes = 4 + 20 + 4;  // "wal-" digits ".log"
constexpr size_t kHardStatePayloadBytes = 24;
constexpr size_t kZeroChunkBytes = 256 * 1024;

uint64_t alignDown(uint64_t value) { return value & ~static_cast<uint64_t>(kWalBlockBytes - 1); }
uint64_t alignUp(uint64_t value) { return alignDown(value + kWalBlockBytes - 1); }

uint32_t load32(const uint8_t* bytes) {
  uint32_t value;
  memcpy(&value, bytes, sizeof value);
  return value;
}
uint64_t load64(const uint8_t* bytes) {
  uint64_t value;
  memcpy(&value, bytes, sizeof value);
  return value;
}
void store32(uint8_t* bytes, uint32_t value) { memcpy(bytes, &value, sizeof value); }

WalStatus ioError(int errnum, const std::string& what) {
  WalStatus status;
  status.errnum = errnum;
  status.code = (errnum == ENOSPC || errnum == EDQUOT) ? "DISK_FULL" : "IO_ERROR";
  status.message = what + ": " + strerror(errnum);
  return status;
}

WalStatus failure(const char* code, const std::string& message) {
  WalStatus status;
  status.code = code;
  status.message = message;
  return status;
}

WalStatus corrupt(const std::string& file, uint64_t offset, const std::string& why) {
  WalStatus status;
  status.code = "WAL_CORRUPT";
  status.file = file;
  status.offset = static_cast<int64_t>(offset);
  status.message = "WAL segment " + file + " is corrupt at offset " + std::to_string(offset) + ": " + why;
  return status;
}

std::string segmentFileName(uint64_t nameIndex) {
  char name[kSegmentNameBytes + 1];
  snprintf(name, sizeof name, "wal-%020llu.log", static_cast<unsigned long long>(nameIndex));
  return name;
}

bool parseSegmentFileName(const char* name, uint64_t* nameIndex) {
  if (strlen(name) != kSegmentNameBytes) return false;
  if (strncmp(name, "wal-", 4) != 0 || strcmp(name + 24, ".log") != 0) return false;
  uint64_t value = 0;
  for (size_t i = 4; i < 24; i++) {
    if (name[i] < '0' || name[i] > '9') return false;
    value = value * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  *nameIndex = value;
  return true;
}

WalStatus readWholeFile(const std::string& path, std::vector<uint8_t>* bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ioError(errno, "Cannot open WAL segment " + path);
  struct stat info;
  if (fstat(fd, &info) != 0) {
    int saved = errno;
    ::close(fd);
    return ioError(saved, "Cannot stat WAL segment " + path);
  }
  bytes->assign(static_cast<size_t>(info.st_size), 0);
  size_t done = 0;
  while (done < bytes->size()) {
    ssize_t got = pread(fd, bytes->data() + done, bytes->size() - done, static_cast<off_t>(done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int saved = errno;
      ::close(fd);
      return ioError(saved, "Cannot read WAL segment " + path);
    }
    if (got == 0) break;  // shrank under us: what was read is all there is
    done += static_cast<size_t>(got);
  }
  bytes->resize(done);
  ::close(fd);
  return WalStatus();
}

// Opens (or creates) a segment for writing, with O_DIRECT unless the file system refuses it.
int openForWrite(const std::string& path, int extraFlags, bool* directIo) {
  const int flags = O_RDWR | O_CLOEXEC | extraFlags;
  if (*directIo) {
    int fd = ::open(path.c_str(), flags | O_DIRECT, 0644);
    if (fd >= 0 || errno != EINVAL) return fd;
    *directIo = false;
    // The kernel creates the file before it checks O_DIRECT support: retry without O_EXCL.
    return ::open(path.c_str(), flags & ~O_EXCL, 0644);
  }
  return ::open(path.c_str(), flags, 0644);
}

}  // namespace

void WalLogState::apply(const uint8_t* record) {
  const uint8_t kind = record[8];
  const uint64_t index = load64(record + 17);
  if (kind == static_cast<uint8_t>(WalKind::Entry)) {
    if (empty() || index < firstIndex) firstIndex = index;
    lastIndex = index;
  } else if (kind == static_cast<uint8_t>(WalKind::Truncate)) {
    const uint64_t fromIndex = std::max<uint64_t>(index, 1);
    if (empty()) return;
    if (fromIndex <= firstIndex) {
      firstIndex = fromIndex;
      lastIndex = fromIndex - 1;
    } else if (fromIndex <= lastIndex) {
      lastIndex = fromIndex - 1;
    }
  } else if (kind == static_cast<uint8_t>(WalKind::Reset)) {
    firstIndex = index + 1;
    lastIndex = index;
  } else if (kind == static_cast<uint8_t>(WalKind::HardState)) {
    hasHardState = true;
    hardStateTerm = load64(record + kWalRecordHeaderBytes);
    hardStateVote = load64(record + kWalRecordHeaderBytes + 8);
    hardStateCommit = load64(record + kWalRecordHeaderBytes + 16);
  }
}

static std::atomic<uint64_t> bufferBytesLive{0};

uint64_t walBufferBytesLive() { return bufferBytesLive.load(); }

AlignedBuffer::~AlignedBuffer() { release(); }

void AlignedBuffer::release() {
  free(data_);
  bufferBytesLive.fetch_sub(capacity_);
  data_ = nullptr;
  capacity_ = 0;
}

void AlignedBuffer::reserve(size_t bytes) {
  if (bytes <= capacity_) return;
  size_t capacity = static_cast<size_t>(alignUp(std::max(bytes, capacity_ * 2)));
  void* fresh = nullptr;
  if (posix_memalign(&fresh, kWalBlockBytes, capacity) != 0) abort();  // out of memory: no way on
  memset(fresh, 0, capacity);
  if (data_ != nullptr) memcpy(fresh, data_, capacity_);
  free(data_);
  bufferBytesLive.fetch_add(capacity - capacity_);
  data_ = static_cast<uint8_t*>(fresh);
  capacity_ = capacity;
}

WalFiles::WalFiles(std::string dir, uint64_t segmentSizeBytes, bool directIo)
    : dir_(std::move(dir)), segmentSizeBytes_(segmentSizeBytes) {
  assert(segmentSizeBytes_ >= kWalSegmentSizeBytesMin && segmentSizeBytes_ % kWalBlockBytes == 0);
  directIo_.store(directIo);
  tail_.reserve(kWalBlockBytes);
  buffer_.reserve(kWalWriteChunkBytes + kWalBlockBytes);
}

WalFiles::~WalFiles() { close(); }

std::string WalFiles::pathOf(const std::string& fileName) const { return dir_ + "/" + fileName; }

WalStatus WalFiles::open(WalScan* scan) {
  dirFd_ = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd_ < 0) return ioError(errno, "Cannot open WAL directory " + dir_);
  DIR* listing = opendir(dir_.c_str());
  if (listing == nullptr) return ioError(errno, "Cannot list WAL directory " + dir_);
  for (struct dirent* item = readdir(listing); item != nullptr; item = readdir(listing)) {
    WalSegmentInfo info;
    if (!parseSegmentFileName(item->d_name, &info.nameIndex)) continue;
    info.fileName = item->d_name;
    segments_.push_back(info);
  }
  closedir(listing);
  std::sort(segments_.begin(), segments_.end(),
            [](const WalSegmentInfo& a, const WalSegmentInfo& b) { return a.nameIndex < b.nameIndex; });
  segmentCount_.store(segments_.size());
  if (segments_.empty()) return createSegment(1);

  uint64_t garbageEnd = 0;
  for (size_t position = 0; position < segments_.size(); position++) {
    const bool isLast = position + 1 == segments_.size();
    WalStatus status = scanSegment(position, isLast, scan, &garbageEnd);
    if (!status.ok()) return status;
  }
  const std::vector<uint8_t>& lastRecords = scan->segments.back().records;
  const uint64_t endOffset = lastRecords.size();
  if (garbageEnd > endOffset) scan->tailTruncatedBytes = garbageEnd - endOffset;
  WalStatus status = openActive(endOffset, lastRecords.data(), garbageEnd);
  if (!status.ok()) return status;
  // Make the repair durable now: zeros over the torn tail, so that later appends can never be
  // followed by a stale record that happens to line up.
  if (dirtyEnd_ > durableOffset_) return commit();
  return WalStatus();
}

// Walks one segment's records. A bad record is fatal in an earlier segment and the end of the log
// in the last one. Sets *garbageEnd (last segment) to the end of non-zero bytes after the records.
WalStatus WalFiles::scanSegment(size_t position, bool isLast, WalScan* scan, uint64_t* garbageEnd) {
  WalSegmentInfo& info = segments_[position];
  WalSegmentImage image;
  image.fileName = info.fileName;
  WalStatus status = readWholeFile(pathOf(info.fileName), &image.records);
  if (!status.ok()) return status;
  std::vector<uint8_t>& bytes = image.records;
  info.sizeBytes = bytes.size();
  const uint64_t size = bytes.size();
  uint64_t offset = 0;
  const char* bad = nullptr;
  while (offset + kWalRecordPrefixBytes <= size) {
    const uint8_t* record = bytes.data() + offset;
    const uint64_t length = load32(record);
    if (length == 0) break;  // preallocated zeros: end of log
    if (length < kWalRecordBodyBytesMin || length > size - offset - kWalRecordPrefixBytes) {
      bad = "record length out of range";
      break;
    }
    if (crc32c(record + kWalRecordPrefixBytes, length) != load32(record + 4)) {
      bad = "crc32c mismatch";
      break;
    }
    const uint8_t kind = record[8];
    if (kind < static_cast<uint8_t>(WalKind::Entry) || kind > static_cast<uint8_t>(WalKind::Reset)) {
      bad = "unknown record kind";
      break;
    }
    if (kind == static_cast<uint8_t>(WalKind::HardState) && length != kWalRecordBodyBytesMin + kHardStatePayloadBytes) {
      bad = "hard state record of the wrong size";
      break;
    }
    const uint64_t index = load64(record + 17);
    if (kind == static_cast<uint8_t>(WalKind::Entry)) {
      info.entryIndexMin = info.entryIndexMin == 0 ? index : std::min(info.entryIndexMin, index);
      info.entryIndexMax = std::max(info.entryIndexMax, index);
    }
    durable_.apply(record);
    offset += kWalRecordPrefixBytes + length;
  }
  const uint64_t endOffset = offset;
  uint64_t nonZeroEnd = endOffset;
  for (uint64_t at = size; at > endOffset; at--) {
    if (bytes[at - 1] != 0) {
      nonZeroEnd = at;
      break;
    }
  }
  if (!isLast) {
    // Earlier segments were complete and durable before their successor existed: anything odd
    // in them is damage, never a torn write, and dropping it would silently lose entries.
    if (bad != nullptr) return corrupt(info.fileName, endOffset, bad);
    if (nonZeroEnd > endOffset) return corrupt(info.fileName, endOffset, "non-zero bytes after the end of the log");
  }
  *garbageEnd = nonZeroEnd;
  bytes.resize(endOffset);
  bytes.shrink_to_fit();
  scan->segments.push_back(std::move(image));
  return WalStatus();
}

WalStatus WalFiles::openActive(uint64_t endOffset, const uint8_t* records, uint64_t garbageEnd) {
  WalSegmentInfo& info = segments_.back();
  const std::string path = pathOf(info.fileName);
  bool directIo = directIo_.load();
  int fd = openForWrite(path, 0, &directIo);
  directIo_.store(directIo);
  if (fd < 0) return ioError(errno, "Cannot open WAL segment " + path);
  if (info.sizeBytes < segmentSizeBytes_) {
    // A crash during creation can leave a short file; appends need the whole segment allocated.
    int result = posix_fallocate(fd, 0, static_cast<off_t>(segmentSizeBytes_));
    if (result != 0) {
      ::close(fd);
      return ioError(result, "Cannot preallocate WAL segment " + path);
    }
    info.sizeBytes = segmentSizeBytes_;
  }
  info.sizeBytes = alignDown(info.sizeBytes);
  activeFd_ = fd;
  durableOffset_ = endOffset;
  stagedEnd_ = endOffset;
  dirtyEnd_ = garbageEnd > endOffset ? garbageEnd : 0;
  const uint64_t blockStart = alignDown(endOffset);
  memset(tail_.data(), 0, kWalBlockBytes);
  memcpy(tail_.data(), records + blockStart, endOffset - blockStart);
  resetStaging();
  return WalStatus();
}

void WalFiles::resetStaging() {
  memset(buffer_.data(), 0, std::max<size_t>(bufferBytesUsedMax_, kWalBlockBytes));
  bufferOffset_ = alignDown(durableOffset_);
  bufferBytes_ = durableOffset_ - bufferOffset_;
  memcpy(buffer_.data(), tail_.data(), bufferBytes_);
  bufferBytesUsedMax_ = bufferBytes_;
  stagedEnd_ = durableOffset_;
  stagedEntryIndexMin_ = 0;
  stagedEntryIndexMax_ = 0;
  writtenEnd_ = 0;
  staged_ = durable_;
}

WalStatus WalFiles::stage(const uint8_t* records, size_t sizeBytes) {
  assert(activeFd_ >= 0);
  size_t offset = 0;
  while (offset < sizeBytes) {
    if (sizeBytes - offset < kWalRecordHeaderBytes) return failure("BAD_REQUEST", "WAL batch ends inside a record header");
    const uint8_t* record = records + offset;
    const uint64_t length = load32(record);
    const uint64_t recordBytes = kWalRecordPrefixBytes + length;
    if (length < kWalRecordBodyBytesMin || recordBytes > sizeBytes - offset) {
      return failure("BAD_REQUEST", "WAL batch holds a record of invalid length " + std::to_string(length));
    }
    if (recordBytes > segmentSizeBytes_) {
      return failure("RECORD_TOO_LARGE", "WAL record of " + std::to_string(recordBytes) +
                                             " bytes does not fit a segment of " + std::to_string(segmentSizeBytes_));
    }
    const uint8_t kind = record[8];
    const uint64_t index = load64(record + 17);
    if (stagedEnd_ + recordBytes > segments_.back().sizeBytes) {
      WalStatus status = rollover(kind == static_cast<uint8_t>(WalKind::Entry) ? index : staged_.lastIndex + 1);
      if (!status.ok()) return status;
    }
    if (bufferBytes_ + recordBytes > kWalWriteChunkBytes && bufferBytes_ >= kWalBlockBytes) {
      WalStatus status = writeStaged(false);
      if (!status.ok()) return status;
    }
    buffer_.reserve(bufferBytes_ + recordBytes + kWalBlockBytes);
    uint8_t* target = buffer_.data() + bufferBytes_;
    memcpy(target, record, recordBytes);
    store32(target + 4, crc32c(target + kWalRecordPrefixBytes, length));
    bufferBytes_ += recordBytes;
    bufferBytesUsedMax_ = std::max(bufferBytesUsedMax_, bufferBytes_);
    stagedEnd_ += recordBytes;
    assert(bufferOffset_ + bufferBytes_ == stagedEnd_);
    if (kind == static_cast<uint8_t>(WalKind::Entry)) {
      stagedEntryIndexMin_ = stagedEntryIndexMin_ == 0 ? index : std::min(stagedEntryIndexMin_, index);
      stagedEntryIndexMax_ = std::max(stagedEntryIndexMax_, index);
    }
    staged_.apply(target);
    offset += recordBytes;
  }
  return WalStatus();
}

// The current segment is written and made durable before its successor exists (see wal.h).
WalStatus WalFiles::rollover(uint64_t nextEntryIndex) {
  WalStatus status = commit();
  if (!status.ok()) return status;
  return createSegment(std::max(segments_.back().nameIndex + 1, nextEntryIndex));
}

WalStatus WalFiles::createSegment(uint64_t nameIndex) {
  WalSegmentInfo info;
  info.nameIndex = nameIndex;
  info.fileName = segmentFileName(nameIndex);
  info.sizeBytes = segmentSizeBytes_;
  const std::string path = pathOf(info.fileName);
  bool directIo = directIo_.load();
  int fd = openForWrite(path, O_CREAT | O_EXCL, &directIo);
  directIo_.store(directIo);
  if (fd < 0) return ioError(errno, "Cannot create WAL segment " + path);
  int result = takeInjectedErrno();
  if (result == 0) result = posix_fallocate(fd, 0, static_cast<off_t>(segmentSizeBytes_));
  if (result == 0 && fsync(fd) != 0) result = errno;
  if (result != 0) {
    // Leave no half-made segment behind: the active one stays usable once space is freed.
    ::close(fd);
    unlink(path.c_str());
    syncDir();
    return ioError(result, "Cannot preallocate WAL segment " + path);
  }
  WalStatus status = syncDir();
  if (!status.ok()) {
    ::close(fd);
    unlink(path.c_str());
    return status;
  }
  if (activeFd_ >= 0) ::close(activeFd_);
  activeFd_ = fd;
  segments_.push_back(info);
  segmentCount_.store(segments_.size());
  durableOffset_ = 0;
  dirtyEnd_ = 0;
  memset(tail_.data(), 0, kWalBlockBytes);
  resetStaging();
  return WalStatus();
}

// Writes the staged bytes: all of them (zero padded to a block), or only the full blocks, keeping
// the partial last block at the front of the buffer for the next write.
WalStatus WalFiles::writeStaged(bool all) {
  const size_t bytes = static_cast<size_t>(all ? alignUp(bufferBytes_) : alignDown(bufferBytes_));
  if (bytes == 0) return WalStatus();
  WalStatus status = writeAt(buffer_.data(), bytes, bufferOffset_);
  if (!status.ok() || all) return status;
  const size_t keep = bufferBytes_ - bytes;
  memmove(buffer_.data(), buffer_.data() + bytes, keep);
  memset(buffer_.data() + keep, 0, bufferBytes_ - keep);
  bufferOffset_ += bytes;
  bufferBytes_ = keep;
  return WalStatus();
}

WalStatus WalFiles::writeZeros(uint64_t fromOffset, uint64_t toOffset) {
  assert(fromOffset % kWalBlockBytes == 0 && toOffset % kWalBlockBytes == 0);
  AlignedBuffer zeros;
  zeros.reserve(static_cast<size_t>(std::min<uint64_t>(kZeroChunkBytes, toOffset - fromOffset)));
  for (uint64_t at = fromOffset; at < toOffset;) {
    const size_t bytes = static_cast<size_t>(std::min<uint64_t>(zeros.capacity(), toOffset - at));
    WalStatus status = writeAt(zeros.data(), bytes, at);
    if (!status.ok()) return status;
    at += bytes;
  }
  return WalStatus();
}

WalStatus WalFiles::writeAt(const uint8_t* data, size_t sizeBytes, uint64_t offset) {
  const std::string& file = segments_.back().fileName;
  writtenEnd_ = std::max(writtenEnd_, offset + sizeBytes);
  // An injected failure still writes the bytes, as a failing disk may: the failed batch's
  // records are on the platter but rejected, which the dirty-range zeroing must cope with.
  const int injected = takeInjectedErrno();
  size_t done = 0;
  while (done < sizeBytes) {
    ssize_t wrote = pwrite(activeFd_, data + done, sizeBytes - done, static_cast<off_t>(offset + done));
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) return ioError(errno, "Cannot write WAL segment " + file);
    if (wrote == 0) return ioError(EIO, "Cannot write WAL segment " + file);
    done += static_cast<size_t>(wrote);
    bytesWritten_.fetch_add(static_cast<uint64_t>(wrote));
  }
  if (injected != 0) return ioError(injected, "Cannot write WAL segment " + file);
  return WalStatus();
}

int WalFiles::takeInjectedErrno() {
  if (injectedErrno_.load() == 0) return 0;
  if (injectedSkipCount_.load() > 0) {
    injectedSkipCount_.fetch_sub(1);
    return 0;
  }
  return injectedErrno_.exchange(0);
}

WalStatus WalFiles::syncActive() {
  syncCount_.fetch_add(1);
  if (fdatasync(activeFd_) != 0) return ioError(errno, "Cannot fdatasync WAL segment " + segments_.back().fileName);
  return WalStatus();
}

WalStatus WalFiles::syncDir() {
  if (fsync(dirFd_) != 0) return ioError(errno, "Cannot fsync WAL directory " + dir_);
  return WalStatus();
}

WalStatus WalFiles::commit() {
  if (stagedEnd_ == durableOffset_ && dirtyEnd_ <= durableOffset_) return WalStatus();
  WalStatus status = writeStaged(true);
  if (!status.ok()) return status;
  const uint64_t writtenEnd = bufferOffset_ + alignUp(bufferBytes_);
  const uint64_t zeroEnd = std::min(alignUp(dirtyEnd_), segments_.back().sizeBytes);
  if (zeroEnd > writtenEnd) {
    status = writeZeros(writtenEnd, zeroEnd);
    if (!status.ok()) return status;
  }
  status = syncActive();
  if (!status.ok()) return status;

  WalSegmentInfo& info = segments_.back();
  if (stagedEntryIndexMin_ != 0) {
    info.entryIndexMin = info.entryIndexMin == 0 ? stagedEntryIndexMin_ : std::min(info.entryIndexMin, stagedEntryIndexMin_);
    info.entryIndexMax = std::max(info.entryIndexMax, stagedEntryIndexMax_);
  }
  durableOffset_ = stagedEnd_;
  durable_ = staged_;
  dirtyEnd_ = 0;
  const uint64_t tailStart = alignDown(durableOffset_);
  assert(tailStart >= bufferOffset_);
  memcpy(tail_.data(), buffer_.data() + (tailStart - bufferOffset_), kWalBlockBytes);
  resetStaging();
  return WalStatus();
}

void WalFiles::abort() {
  // Whatever the failed writes reached must be zeroed before anything can follow it.
  dirtyEnd_ = std::max(dirtyEnd_, writtenEnd_);
  resetStaging();
}

WalStatus WalFiles::deletePrefix(uint64_t throughIndex, uint64_t* deletedCount, uint64_t* remainingEntryIndexMin) {
  assert(stagedEnd_ == durableOffset_);
  size_t count = 0;
  while (count + 1 < segments_.size() && segments_[count].entryIndexMax <= throughIndex) count++;
  WalStatus status;
  size_t deleted = 0;
  for (; deleted < count; deleted++) {
    const std::string path = pathOf(segments_[deleted].fileName);
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      status = ioError(errno, "Cannot delete WAL segment " + path);
      break;
    }
  }
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(deleted));
  segmentCount_.store(segments_.size());
  if (deleted > 0) {
    WalStatus synced = syncDir();
    if (status.ok()) status = synced;
  }
  *deletedCount = deleted;
  uint64_t indexMin = 0;
  for (const WalSegmentInfo& info : segments_) {
    if (info.entryIndexMin != 0) indexMin = indexMin == 0 ? info.entryIndexMin : std::min(indexMin, info.entryIndexMin);
  }
  *remainingEntryIndexMin = indexMin;
  // Entries left only in deleted segments are gone from the log: what remains starts at the
  // smallest index written in a remaining segment (writes of ever larger live indexes happen
  // in ever later segments, so the live entries left form a suffix of the log).
  if (deleted > 0 && !durable_.empty()) {
    if (indexMin == 0 || indexMin > durable_.lastIndex) {
      durable_.firstIndex = durable_.lastIndex + 1;
    } else {
      durable_.firstIndex = std::max(durable_.firstIndex, indexMin);
    }
  }
  staged_ = durable_;
  return status;
}

void WalFiles::close() {
  if (activeFd_ >= 0) ::close(activeFd_);
  if (dirFd_ >= 0) ::close(dirFd_);
  activeFd_ = -1;
  dirFd_ = -1;
  // The staging buffer (1 MiB, all of it touched by its zero fill) would otherwise live until the
  // JS garbage collector finalizes the handle, which native memory does not prompt: a process
  // that opens and closes many logs (the WAL fuzzer) grew by that much per log.
  buffer_.release();
  tail_.release();
}

WalStatus walRawSyncBench(const std::string& path, uint32_t blockCount, bool sameBlock, std::vector<double>* latenciesNs,
                          bool* directIo) {
  *directIo = true;
  int fd = openForWrite(path, O_CREAT | O_TRUNC, directIo);
  if (fd < 0) return ioError(errno, "Cannot create bench file " + path);
  const uint64_t sizeBytes = static_cast<uint64_t>(blockCount) * kWalBlockBytes;
  int result = posix_fallocate(fd, 0, static_cast<off_t>(sizeBytes));
  if (result == 0 && fsync(fd) != 0) result = errno;
  if (result != 0) {
    ::close(fd);
    return ioError(result, "Cannot preallocate bench file " + path);
  }
  AlignedBuffer block;
  block.reserve(kWalBlockBytes);
  memset(block.data(), 0xA5, kWalBlockBytes);
  latenciesNs->clear();
  latenciesNs->reserve(blockCount);
  for (uint32_t i = 0; i < blockCount; i++) {
    const auto start = std::chrono::steady_clock::now();
    const off_t offset = sameBlock ? 0 : static_cast<off_t>(i) * static_cast<off_t>(kWalBlockBytes);
    ssize_t wrote = pwrite(fd, block.data(), kWalBlockBytes, offset);
    if (wrote != static_cast<ssize_t>(kWalBlockBytes) || fdatasync(fd) != 0) {
      int saved = wrote < 0 || errno != 0 ? errno : EIO;
      ::close(fd);
      return ioError(saved, "Bench write failed on " + path);
    }
    const auto elapsed = std::chrono::steady_clock::now() - start;
    latenciesNs->push_back(static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()));
  }
  ::close(fd);
  return WalStatus();
}

}  // namespace ukv
