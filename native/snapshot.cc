// Snapshot writing and reading (format in snapshot.h). The writer keeps one kSnapshotBufferSizeBytes
// buffer and a running CRC32C; the reader keeps one buffer of the same size, refilled so that each
// entry is contiguous, and a running CRC32C over the bytes it consumed.
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstring>
#include <memory>

#include "crc32c.h"

namespace ukv {
namespace {

void setIoError(SnapshotError* error, const std::string& path, const std::string& what, int savedErrno) {
  bool full = savedErrno == ENOSPC || savedErrno == EDQUOT;
  error->code = full ? "DISK_FULL" : "IO_ERROR";
  error->message = (full ? "Disk full while " : "IO error while ") + what + ": " + path + ": " + std::strerror(savedErrno);
  error->path = path;
  error->offset = -1;
}

void setCorrupt(SnapshotError* error, const std::string& path, uint64_t offset, const std::string& what) {
  error->code = "SNAPSHOT_CORRUPT";
  error->message = "Snapshot is corrupt: " + path + " at offset " + std::to_string(offset) + ": " + what;
  error->path = path;
  error->offset = static_cast<int64_t>(offset);
}

void put32(uint8_t* out, uint32_t value) { std::memcpy(out, &value, sizeof(value)); }
void put64(uint8_t* out, uint64_t value) { std::memcpy(out, &value, sizeof(value)); }
uint32_t get32(const uint8_t* in) {
  uint32_t value;
  std::memcpy(&value, in, sizeof(value));
  return value;
}
uint64_t get64(const uint8_t* in) {
  uint64_t value;
  std::memcpy(&value, in, sizeof(value));
  return value;
}

bool syncDirectory(const std::string& dir, SnapshotError* error) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    setIoError(error, dir, "opening the snapshot directory", errno);
    return false;
  }
  // The rename is durable only once the directory entry is on disk.
  bool ok = ::fsync(fd) == 0;
  if (!ok) setIoError(error, dir, "syncing the snapshot directory", errno);
  ::close(fd);
  return ok;
}

// Buffered, CRC-tracking writer over one file descriptor.
class SnapshotWriter {
 public:
  SnapshotWriter(int fd, const std::string& path) : fd_(fd), path_(path), buffer_(new uint8_t[kSnapshotBufferSizeBytes]) {}

  bool append(const uint8_t* data, size_t size) {
    while (size > 0) {
      if (used_ == kSnapshotBufferSizeBytes && !flush()) return false;
      size_t chunk = std::min(size, kSnapshotBufferSizeBytes - used_);
      std::memcpy(buffer_.get() + used_, data, chunk);
      crc_ = crc32c_extend(crc_, data, chunk);
      used_ += chunk;
      data += chunk;
      size -= chunk;
    }
    return true;
  }

  bool flush() {
    size_t written = 0;
    while (written < used_) {
      ssize_t result = ::write(fd_, buffer_.get() + written, used_ - written);
      if (result < 0 && errno == EINTR) continue;
      if (result < 0) {
        errno_ = errno;
        return false;
      }
      written += static_cast<size_t>(result);
    }
    totalBytes_ += used_;
    used_ = 0;
    return true;
  }

  uint32_t crc() const { return crc_; }
  uint64_t totalBytes() const { return totalBytes_ + used_; }
  int lastErrno() const { return errno_; }

 private:
  int fd_;
  std::string path_;
  std::unique_ptr<uint8_t[]> buffer_;
  size_t used_ = 0;
  uint64_t totalBytes_ = 0;
  uint32_t crc_ = 0;
  int errno_ = 0;
};

// Streams the header, the entries and the trailer. Called with the table's read lock held.
bool writeBody(SnapshotWriter& writer, const SegmentedTable& map, uint64_t index, uint64_t term,
               const std::vector<uint8_t>& metadata) {
  uint8_t header[kSnapshotHeaderSizeBytes];
  std::memcpy(header, kSnapshotMagic, sizeof(kSnapshotMagic));
  put32(header + 8, kSnapshotFormatVersion);
  put32(header + 12, static_cast<uint32_t>(metadata.size()));
  put64(header + 16, index);
  put64(header + 24, term);
  if (!writer.append(header, sizeof(header))) return false;
  if (!metadata.empty() && !writer.append(metadata.data(), metadata.size())) return false;
  uint8_t count[8];
  put64(count, map.count());
  if (!writer.append(count, sizeof(count))) return false;
  bool ok = true;
  uint64_t written = 0;
  map.forEach([&](const Entry& entry) {
    if (!ok) return;
    // The in-memory entry header is the on-disk one: [u32 keySize][u32 valueSize][key][value].
    ok = writer.append(reinterpret_cast<const uint8_t*>(&entry), entry.blockSizeBytes());
    written++;
  });
  if (!ok) return false;
  UKV_ASSERT(written == map.count(), "every entry was written once");
  uint8_t trailer[kSnapshotTrailerSizeBytes];
  put32(trailer, writer.crc());
  return writer.append(trailer, sizeof(trailer)) && writer.flush();
}

// Buffered reader that hands out contiguous spans and tracks the CRC of what it handed out.
class SnapshotReader {
 public:
  SnapshotReader(int fd, uint64_t fileSizeBytes)
      : fd_(fd), fileSizeBytes_(fileSizeBytes), buffer_(new uint8_t[kSnapshotBufferSizeBytes]) {}

  // A pointer to the next `size` bytes (contiguous), or nullptr at end of file / IO error.
  const uint8_t* take(size_t size) {
    UKV_ASSERT(size <= kSnapshotBufferSizeBytes, "spans fit the buffer");
    if (end_ - start_ < size && !refill(size)) return nullptr;
    const uint8_t* span = buffer_.get() + start_;
    start_ += size;
    offset_ += size;
    crc_ = crc32c_extend(crc_, span, size);
    return span;
  }

  uint64_t offset() const { return offset_; }
  uint32_t crc() const { return crc_; }
  int lastErrno() const { return errno_; }

 private:
  bool refill(size_t size) {
    std::memmove(buffer_.get(), buffer_.get() + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
    while (end_ < size) {
      ssize_t result = ::read(fd_, buffer_.get() + end_, kSnapshotBufferSizeBytes - end_);
      if (result < 0 && errno == EINTR) continue;
      if (result < 0) {
        errno_ = errno;
        return false;
      }
      if (result == 0) return false;
      end_ += static_cast<size_t>(result);
    }
    return true;
  }

  int fd_;
  uint64_t fileSizeBytes_;
  std::unique_ptr<uint8_t[]> buffer_;
  size_t start_ = 0;
  size_t end_ = 0;
  uint64_t offset_ = 0;
  uint32_t crc_ = 0;
  int errno_ = 0;
};

// Parses everything after the file is open. Fills `error` with the offset of the first problem.
bool readBody(SnapshotReader& reader, const std::string& path, uint64_t fileSizeBytes, SegmentedTable* into,
              SnapshotHeader* header, SnapshotError* error) {
  auto truncated = [&](const char* what) {
    if (reader.lastErrno() != 0) {
      setIoError(error, path, "reading the snapshot", reader.lastErrno());
    } else {
      setCorrupt(error, path, fileSizeBytes, std::string("file ends inside the ") + what);
    }
    return false;
  };
  const uint8_t* fixed = reader.take(kSnapshotHeaderSizeBytes);
  if (fixed == nullptr) return truncated("header");
  if (std::memcmp(fixed, kSnapshotMagic, sizeof(kSnapshotMagic)) != 0) {
    setCorrupt(error, path, 0, "bad magic (not a UKVSNAP1 file)");
    return false;
  }
  uint32_t version = get32(fixed + 8);
  if (version != kSnapshotFormatVersion) {
    setCorrupt(error, path, 8, "unknown format version " + std::to_string(version));
    return false;
  }
  uint32_t metadataSize = get32(fixed + 12);
  header->index = get64(fixed + 16);
  header->term = get64(fixed + 24);
  if (metadataSize > kSnapshotMetadataSizeBytesMax) {
    setCorrupt(error, path, 12, "metadata size " + std::to_string(metadataSize) + " over the limit");
    return false;
  }
  const uint8_t* metadata = reader.take(metadataSize);
  if (metadata == nullptr) return truncated("metadata");
  header->metadata.assign(metadata, metadata + metadataSize);
  uint64_t countOffset = reader.offset();
  const uint8_t* count = reader.take(8);
  if (count == nullptr) return truncated("entry count");
  header->entryCount = get64(count);
  // Each entry takes at least its 8-byte header, so a larger count cannot be true (and must not
  // drive a huge pre-allocation).
  if (header->entryCount > (fileSizeBytes - reader.offset()) / kSnapshotEntryHeaderSizeBytes) {
    setCorrupt(error, path, countOffset, "entry count " + std::to_string(header->entryCount) + " exceeds the file");
    return false;
  }
  if (into != nullptr) {
    SegmentedTable sized(header->entryCount);
    into->swap(sized);
  }
  for (uint64_t entryIndex = 0; entryIndex < header->entryCount; entryIndex++) {
    uint64_t entryOffset = reader.offset();
    const uint8_t* sizes = reader.take(kSnapshotEntryHeaderSizeBytes);
    if (sizes == nullptr) return truncated("entries");
    uint32_t keySize = get32(sizes);
    uint32_t valueSize = get32(sizes + 4);
    if (keySize > kKeySizeBytesMax || valueSize > kValueSizeBytesMax) {
      setCorrupt(error, path, entryOffset,
                 "entry " + std::to_string(entryIndex) + " sizes " + std::to_string(keySize) + "/" +
                     std::to_string(valueSize) + " over the limits");
      return false;
    }
    const uint8_t* body = reader.take(size_t{keySize} + valueSize);
    if (body == nullptr) return truncated("entries");
    if (into != nullptr && !into->set(body, keySize, body + keySize, valueSize)) {
      setCorrupt(error, path, entryOffset, "entry " + std::to_string(entryIndex) + " repeats a key");
      return false;
    }
  }
  uint64_t trailerOffset = reader.offset();
  uint32_t computed = reader.crc();
  const uint8_t* trailer = reader.take(kSnapshotTrailerSizeBytes);
  if (trailer == nullptr) return truncated("trailer");
  if (reader.offset() != fileSizeBytes) {
    setCorrupt(error, path, reader.offset(), "bytes after the trailer");
    return false;
  }
  if (get32(trailer) != computed) {
    setCorrupt(error, path, trailerOffset, "CRC32C mismatch");
    return false;
  }
  return true;
}

}  // namespace

std::string snapshotBaseName(uint64_t index, uint64_t term) {
  char name[64];
  std::snprintf(name, sizeof(name), "snap-%020" PRIu64 "-%" PRIu64, index, term);
  return name;
}

bool writeSnapshot(const Table& table, const std::string& dir, uint64_t index, uint64_t term,
                   const std::vector<uint8_t>& metadata, SnapshotFileInfo* info, SnapshotError* error) {
  UKV_ASSERT(metadata.size() <= kSnapshotMetadataSizeBytesMax, "metadata size checked in TS");
  std::string base = dir + "/" + snapshotBaseName(index, term);
  std::string tmpPath = base + ".tmp";
  std::string finalPath = base + ".snap";
  int fd = ::open(tmpPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    setIoError(error, tmpPath, "creating the snapshot", errno);
    return false;
  }
  SnapshotWriter writer(fd, tmpPath);
  bool ok;
  {
    // Readers go on; writers wait until the table has been streamed out.
    std::shared_lock<std::shared_mutex> guard(table.mutex);
    ok = writeBody(writer, table.map, index, term, metadata);
  }
  if (!ok) setIoError(error, tmpPath, "writing the snapshot", writer.lastErrno());
  if (ok && ::fsync(fd) != 0) {
    setIoError(error, tmpPath, "syncing the snapshot", errno);
    ok = false;
  }
  if (::close(fd) != 0 && ok) {
    setIoError(error, tmpPath, "closing the snapshot", errno);
    ok = false;
  }
  if (!ok) {
    // Older snapshots stay intact; only our temp file goes.
    ::unlink(tmpPath.c_str());
    return false;
  }
  if (::rename(tmpPath.c_str(), finalPath.c_str()) != 0) {
    setIoError(error, finalPath, "renaming the snapshot", errno);
    ::unlink(tmpPath.c_str());
    return false;
  }
  if (!syncDirectory(dir, error)) return false;
  info->path = finalPath;
  info->sizeBytes = writer.totalBytes();
  return true;
}

bool readSnapshot(const std::string& path, SegmentedTable* into, SnapshotHeader* header, uint64_t* sizeBytes,
                  SnapshotError* error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    setIoError(error, path, "opening the snapshot", errno);
    return false;
  }
  struct stat status;
  if (::fstat(fd, &status) != 0) {
    setIoError(error, path, "reading the snapshot size", errno);
    ::close(fd);
    return false;
  }
  uint64_t fileSizeBytes = static_cast<uint64_t>(status.st_size);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  SnapshotReader reader(fd, fileSizeBytes);
  bool ok = readBody(reader, path, fileSizeBytes, into, header, error);
  ::close(fd);
  if (ok) *sizeBytes = fileSizeBytes;
  return ok;
}

bool installSnapshotFile(const std::string& tmpPath, const std::string& finalPath, const std::string& dir,
                         SnapshotError* error) {
  int fd = ::open(tmpPath.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    setIoError(error, tmpPath, "opening the received snapshot", errno);
    return false;
  }
  bool ok = ::fsync(fd) == 0;
  if (!ok) setIoError(error, tmpPath, "syncing the received snapshot", errno);
  ::close(fd);
  if (!ok) return false;
  if (::rename(tmpPath.c_str(), finalPath.c_str()) != 0) {
    setIoError(error, finalPath, "renaming the received snapshot", errno);
    return false;
  }
  return syncDirectory(dir, error);
}

}  // namespace ukv
