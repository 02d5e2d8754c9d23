// The write-ahead log's file engine: segment files, record framing, aligned durable writes and the
// recovery scan. It is single-threaded on purpose: its only caller is the WAL writer thread in
// wal_binding.cc, which groups many appends into one stage()...commit() (one fdatasync).
//
// Directory layout
//   <dir>/wal-<20-digit index>.log  fixed-size segments, preallocated with posix_fallocate so an
//   append never grows a file (no size change for fdatasync to flush). The name is the index of
//   the first entry expected at creation, bumped when needed so that names are strictly
//   increasing: lexical order of names == write order, even after a Raft truncation moved the log
//   back. Only the last segment is ever written; every earlier one was fdatasync'ed before its
//   successor was created, so a torn record can only ever be in the last segment.
//
// Segment layout: records back to back from offset 0; zeros after the last record. A zero
// length word means "end of log" (preallocated space reads as zeros). Nothing is padded.
//   offset size
//   0      u32  length   bytes after this 8-byte prefix = 17 + payload size; 0 = end of log
//   4      u32  crc32c   of the `length` bytes that follow (kind, term, index, payload)
//   8      u8   kind     1 ENTRY (payload: the Raft entry's bytes), 2 HARD_STATE (payload: u64 term,
//                        u64 vote, u64 commit), 3 TRUNCATE (entries >= index are gone), 4 RESET
//                        (every entry is gone; index = the snapshot the log restarts after)
//   9      u64  term
//   17     u64  index
//   25     ...  payload
//   All integers little-endian. The caller (src/storage/wal.ts) packs records with crc = 0; the
//   engine computes the crc as it copies them into the aligned write buffer.
//
// Write path: O_DIRECT from a 4096-aligned buffer. The durable end of the log rarely falls on a
// block boundary, so the engine keeps the partially filled last block (`tail_`) in memory and
// rewrites that whole block, followed by the new records, zero padded to a block multiple, at the
// next commit. If open(O_DIRECT) is refused (EINVAL: tmpfs), it writes through the page cache
// instead; fdatasync makes both durable.
//
// Failure: a failed write or fdatasync leaves the durable offset where it was (the staged records
// are dropped and the tail block restored) and remembers how far the failed write may have
// reached (`dirtyEnd_`); the next commit overwrites that range with zeros, so bytes of a rejected
// batch can never be read back as records later. Recovery does the same for whatever lies after
// the last valid record of the last segment (a torn write from a crash).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ukv {

constexpr size_t kWalBlockBytes = 4096;
constexpr size_t kWalRecordPrefixBytes = 8;   // length + crc
constexpr size_t kWalRecordHeaderBytes = 25;  // prefix + kind + term + index
constexpr size_t kWalRecordBodyBytesMin = kWalRecordHeaderBytes - kWalRecordPrefixBytes;
// Full blocks are written out (without a sync) once the staging buffer holds this much, so a huge
// batch never needs a buffer of its own size.
constexpr size_t kWalWriteChunkBytes = 1024 * 1024;
constexpr uint64_t kWalSegmentSizeBytesMin = 2 * kWalBlockBytes;

enum class WalKind : uint8_t { Entry = 1, HardState = 2, Truncate = 3, Reset = 4 };

// An expected failure, handed to JS as a typed error. `code` empty = success.
struct WalStatus {
  std::string code;  // DISK_FULL, IO_ERROR, WAL_CORRUPT, RECORD_TOO_LARGE, CONFIG_INVALID
  std::string message;
  std::string file;     // WAL_CORRUPT: the segment
  int64_t offset = -1;  // WAL_CORRUPT: byte offset of the bad record in it
  int errnum = 0;
  bool ok() const { return code.empty(); }
};

// The log as its records define it, replayed in write order by the engine and (identically) by
// src/storage/wal.ts at recovery. Empty iff firstIndex > lastIndex.
//   ENTRY i       first = i if the log is empty or i < first; last = i (the caller guarantees
//                 i <= last + 1 on a non-empty log: Raft's "a conflicting entry replaces the
//                 suffix from i on")
//   TRUNCATE k    entries >= k are gone
//   RESET s       every entry is gone; the log restarts after snapshot index s
//   HARD_STATE    the newest one wins
struct WalLogState {
  uint64_t firstIndex = 1;
  uint64_t lastIndex = 0;
  bool hasHardState = false;
  uint64_t hardStateTerm = 0;
  uint64_t hardStateVote = 0;
  uint64_t hardStateCommit = 0;
  bool empty() const { return firstIndex > lastIndex; }
  // `record` points at a whole, valid record.
  void apply(const uint8_t* record);
};

// One segment as found by recovery: its valid records, verbatim.
struct WalSegmentImage {
  std::string fileName;
  std::vector<uint8_t> records;
};

struct WalScan {
  std::vector<WalSegmentImage> segments;
  uint64_t tailTruncatedBytes = 0;  // non-zero bytes found and zeroed after the last valid record
};

// Bookkeeping per segment; entry indexes are those of ENTRY records written in it (0 = none).
struct WalSegmentInfo {
  uint64_t nameIndex = 0;
  std::string fileName;
  uint64_t sizeBytes = 0;
  uint64_t entryIndexMin = 0;
  uint64_t entryIndexMax = 0;
};

// Bytes held by every AlignedBuffer of the process (tests check that a closed WAL gives its
// staging memory back without waiting for the garbage collector).
uint64_t walBufferBytesLive();

// A 4096-aligned, zero-initialised byte buffer (O_DIRECT needs aligned memory).
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  ~AlignedBuffer();
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  // Grows to at least `bytes` (rounded up to a block), keeping the contents; new bytes are zero.
  void reserve(size_t bytes);
  // Gives the memory back (capacity 0); reserve() makes it usable again.
  void release();
  uint8_t* data() { return data_; }
  size_t capacity() const { return capacity_; }

 private:
  uint8_t* data_ = nullptr;
  size_t capacity_ = 0;
};

class WalFiles {
 public:
  // directIo false: never try O_DIRECT (the tmpfs fallback path, forced by tests).
  WalFiles(std::string dir, uint64_t segmentSizeBytes, bool directIo);
  ~WalFiles();
  WalFiles(const WalFiles&) = delete;
  WalFiles& operator=(const WalFiles&) = delete;

  // Scans every segment (see the header comment), repairs the tail of the last one and opens it
  // for appending; creates the first segment in an empty directory.
  WalStatus open(WalScan* scan);

  // Adds packed records (crc words zero) to the current group; rolls over to a new segment when a
  // record does not fit (the old one is written and fdatasync'ed first). On error the caller must
  // call abort().
  WalStatus stage(const uint8_t* records, size_t sizeBytes);
  // Writes what was staged and makes it durable with one fdatasync.
  WalStatus commit();
  // Drops what was staged since the last commit; the durable log is untouched.
  void abort();

  // Deletes the longest run of oldest segments (never the active one) whose entries are all
  // <= throughIndex. Reports the smallest entry index written in the remaining segments (0: none).
  WalStatus deletePrefix(uint64_t throughIndex, uint64_t* deletedCount, uint64_t* remainingEntryIndexMin);
  void close();

  // The log as durable on disk: exact even when a failed group left part of itself durable.
  const WalLogState& durableState() const { return durable_; }

  // TEST ONLY: after `skipWriteCount` more writes succeed, the next write fails with this errno,
  // as a full disk would: a pwrite still writes its bytes before failing (the worst case), a new
  // segment's fallocate fails outright. Writes are counted in order: pwrite calls and fallocates.
  void failNextWrite(int errnum, uint32_t skipWriteCount) {
    injectedSkipCount_.store(skipWriteCount);
    injectedErrno_.store(errnum);
  }

  uint64_t syncCount() const { return syncCount_.load(); }
  uint64_t bytesWritten() const { return bytesWritten_.load(); }
  uint64_t segmentCount() const { return segmentCount_.load(); }
  bool directIo() const { return directIo_.load(); }

 private:
  WalStatus scanSegment(size_t position, bool isLast, WalScan* scan, uint64_t* garbageEnd);
  WalStatus openActive(uint64_t endOffset, const uint8_t* records, uint64_t garbageEnd);
  WalStatus createSegment(uint64_t nameIndex);
  WalStatus rollover(uint64_t nextEntryIndex);
  WalStatus writeStaged(bool all);
  WalStatus writeZeros(uint64_t fromOffset, uint64_t toOffset);
  WalStatus writeAt(const uint8_t* data, size_t sizeBytes, uint64_t offset);
  WalStatus syncActive();
  WalStatus syncDir();
  void resetStaging();
  std::string pathOf(const std::string& fileName) const;

  const std::string dir_;
  const uint64_t segmentSizeBytes_;
  std::vector<WalSegmentInfo> segments_;  // oldest first; back() is active
  int dirFd_ = -1;
  int activeFd_ = -1;
  uint64_t durableOffset_ = 0;  // end of the last durable record in the active segment
  uint64_t dirtyEnd_ = 0;       // a failed write may have touched bytes up to here
  WalLogState durable_;          // replay of every durable record
  WalLogState staged_;           // durable_ plus the records staged since

  // Staging: buffer_ mirrors the file from bufferOffset_ (block-aligned) for bufferBytes_ bytes;
  // it starts with the durable tail block. Bytes past bufferBytes_ are always zero.
  AlignedBuffer buffer_;
  uint64_t bufferOffset_ = 0;
  size_t bufferBytes_ = 0;
  size_t bufferBytesUsedMax_ = 0;  // high-water mark since the last reset, to re-zero cheaply
  uint64_t writtenEnd_ = 0;        // furthest byte written since the last durable commit
  uint64_t stagedEnd_ = 0;
  uint64_t stagedEntryIndexMin_ = 0;
  uint64_t stagedEntryIndexMax_ = 0;
  AlignedBuffer tail_;  // the durable partial block at alignDown(durableOffset_)

  int takeInjectedErrno();
  std::atomic<int> injectedErrno_{0};
  std::atomic<uint32_t> injectedSkipCount_{0};
  std::atomic<uint64_t> syncCount_{0};
  std::atomic<uint64_t> bytesWritten_{0};
  std::atomic<uint64_t> segmentCount_{0};
  std::atomic<bool> directIo_{true};
};

// Raw device figure for the benchmark: `blockCount` times (pwrite 4 KiB at the next offset of a
// preallocated file, or always at offset 0 if `sameBlock`, then fdatasync); each latency in
// nanoseconds. Same O_DIRECT rule as the WAL.
WalStatus walRawSyncBench(const std::string& path, uint32_t blockCount, bool sameBlock, std::vector<double>* latenciesNs,
                          bool* directIo);

}  // namespace ukv
