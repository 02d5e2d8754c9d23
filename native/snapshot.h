// Snapshot files of a Swiss table: writing (streamed, buffered), reading with verification, and
// the durable install (fsync, rename, fsync directory). Plain C++, no N-API: snapshot_binding.cc
// runs these on native threads.
//
// File format, little-endian, `<dir>/snap-<index, 20 digits>-<term>.snap`:
//
//   offset  size  field
//   0       8     magic "UKVSNAP1"
//   8       4     u32 format version (1)
//   12      4     u32 metadataSizeBytes (<= kSnapshotMetadataSizeBytesMax)
//   16      8     u64 last included Raft index
//   24      8     u64 term of that entry
//   32      M     metadata: opaque bytes from the caller (the runtime stores the Raft ConfState)
//   32+M    8     u64 entryCount
//   40+M    ...   entryCount entries: [u32 keySize][u32 valueSize][key][value], in the table's
//                 slot order (stable for a given op history: the hash seed is fixed)
//   end-4   4     u32 CRC32C (ukv::crc32c_extend from 0) of every byte before it
//
// Writers create `<name>.tmp`, fsync it, rename it to `<name>.snap` and fsync the directory, so a
// `.snap` file is complete once visible; a crash leaves at most a `.tmp` behind.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "table_registry.h"

namespace ukv {

constexpr char kSnapshotMagic[8] = {'U', 'K', 'V', 'S', 'N', 'A', 'P', '1'};
constexpr uint32_t kSnapshotFormatVersion = 1;
constexpr size_t kSnapshotHeaderSizeBytes = 32;
constexpr size_t kSnapshotEntryHeaderSizeBytes = 8;
constexpr size_t kSnapshotTrailerSizeBytes = 4;
// Mirror of snapshotMetadataSizeBytesMax in src/util/limits.ts (checked by snapshot-store.ts).
constexpr uint32_t kSnapshotMetadataSizeBytesMax = 1024 * 1024;
// IO buffer: large, so the disk sees few big writes; and larger than any one entry, so the reader
// always finds a whole entry contiguous in it.
constexpr size_t kSnapshotBufferSizeBytes = 4 * 1024 * 1024;
static_assert(kSnapshotBufferSizeBytes >= kSnapshotEntryHeaderSizeBytes + kKeySizeBytesMax + kValueSizeBytesMax,
              "the read buffer holds the largest entry whole");
static_assert(kSnapshotBufferSizeBytes >= kSnapshotHeaderSizeBytes + kSnapshotMetadataSizeBytesMax + 8,
              "the read buffer holds the largest header whole");

// A failure with the stable code the TS face turns into a UkvError.
struct SnapshotError {
  std::string code;  // "SNAPSHOT_CORRUPT", "DISK_FULL", "IO_ERROR"
  std::string message;
  std::string path;
  int64_t offset = -1;  // byte offset of the problem in the file, -1 if not about a position
};

struct SnapshotHeader {
  uint64_t index = 0;
  uint64_t term = 0;
  std::vector<uint8_t> metadata;
  uint64_t entryCount = 0;
};

struct SnapshotFileInfo {
  std::string path;
  uint64_t sizeBytes = 0;
};

// `snap-<index 20 digits>-<term>` (no extension).
std::string snapshotBaseName(uint64_t index, uint64_t term);

// Streams `table` into `<dir>/<base>.tmp` holding its read lock while iterating, then (lock
// released) fsyncs, renames to `.snap` and fsyncs `dir`. On failure the temp file is removed and
// existing snapshots are untouched; ENOSPC/EDQUOT give code DISK_FULL.
bool writeSnapshot(const Table& table, const std::string& dir, uint64_t index, uint64_t term,
                   const std::vector<uint8_t>& metadata, SnapshotFileInfo* info, SnapshotError* error);

// Reads and verifies `path` (header, every entry's sizes against the limits, CRC32C). If `into`
// is not null each entry is inserted into it as it is read; the caller publishes `into` only on
// success, so a corrupt file never shows half its content.
bool readSnapshot(const std::string& path, SegmentedTable* into, SnapshotHeader* header, uint64_t* sizeBytes,
                  SnapshotError* error);

// Makes a fully written `tmpPath` durable as `finalPath` in `dir`: fsync, rename, fsync dir.
bool installSnapshotFile(const std::string& tmpPath, const std::string& finalPath, const std::string& dir,
                         SnapshotError* error);

}  // namespace ukv
