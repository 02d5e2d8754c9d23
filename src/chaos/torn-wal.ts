// The torn-WAL fault: what a crash in the middle of a WAL write leaves on disk. A store keeps the
// Raft logs of all its replicas in one Wal of store-level records (<store dir>/log/, see
// src/storage/store-log.ts); its segments are preallocated and zero-filled past the last record
// (native/wal.h), so the end of the written log is found by walking the length words, not from
// the file size. After the last record we write the start of a record that never completed:
// either a length word and a body cut short (zeros follow), or a whole record with a wrong crc.
// Records that were fdatasync'ed are left alone: losing them is a disk losing acknowledged data,
// a different fault from a torn write. On restart the store must drop the torn tail and every
// replica it hosts must rejoin its group.
import { openSync, closeSync, readdirSync, readSync, writeSync, fstatSync } from "node:fs";
import { join } from "node:path";
import { Prng } from "../util/prng.ts";

const recordPrefixBytes = 8;
const recordBodyBytesMin = 17;
/** How far into a segment the walk goes: records past it are left alone (the bound of the loop). */
const scanBytesMax = 1 << 30;

export interface TornWalResult {
  segmentPath: string;
  /** Byte offset where the written log ended (and the torn bytes begin). */
  logEndOffset: number;
  shape: "cut-short" | "bad-crc";
  tornBytes: number;
}

/** The newest wal-*.log in `walDir`, or null when there is none. */
export function newestSegment(walDir: string): string | null {
  let names: string[];
  try {
    names = readdirSync(walDir).filter((name) => /^wal-\d+\.log$/.test(name));
  } catch {
    return null;
  }
  names.sort();
  const last = names.at(-1);
  return last === undefined ? null : join(walDir, last);
}

/** The offset after the last record whose length word fits in the segment. */
export function findLogEnd(fd: number, fileSizeBytes: number): number {
  const prefix = Buffer.alloc(recordPrefixBytes);
  let offset = 0;
  while (offset + recordPrefixBytes <= fileSizeBytes && offset < scanBytesMax) {
    readSync(fd, prefix, 0, recordPrefixBytes, offset);
    const lengthBytes = prefix.readUInt32LE(0);
    if (lengthBytes === 0 || lengthBytes < recordBodyBytesMin) break;
    const end = offset + recordPrefixBytes + lengthBytes;
    if (end > fileSizeBytes) break;
    offset = end;
  }
  return offset;
}

/** Writes a torn record after the log end of the newest segment under `walDir`; null: no segment. */
export function tearWalTail(walDir: string, seed: number): TornWalResult | null {
  const segmentPath = newestSegment(walDir);
  if (segmentPath === null) return null;
  const prng = new Prng(seed);
  const fd = openSync(segmentPath, "r+");
  try {
    const fileSizeBytes = fstatSync(fd).size;
    const logEndOffset = findLogEnd(fd, fileSizeBytes);
    const bodyBytes = recordBodyBytesMin + 1 + prng.nextInt(200);
    const recordBytes = recordPrefixBytes + bodyBytes;
    if (logEndOffset + recordBytes > fileSizeBytes) return null;
    const record = Buffer.alloc(recordBytes);
    record.writeUInt32LE(bodyBytes, 0);
    record.writeUInt32LE(prng.nextUint32(), 4); // a crc that (almost surely) does not match
    record.writeUInt8(1, 8); // kind ENTRY
    for (let byteIndex = 9; byteIndex < recordBytes; byteIndex++) record[byteIndex] = prng.nextInt(256);
    const shape = prng.chance(0.5) ? "cut-short" : "bad-crc";
    // Cut short: only a prefix of the record reached the disk; zeros (the preallocation) follow.
    const tornBytes = shape === "cut-short" ? recordPrefixBytes + 1 + prng.nextInt(bodyBytes - 1) : recordBytes;
    writeSync(fd, record, 0, tornBytes, logEndOffset);
    return { segmentPath, logEndOffset, shape, tornBytes };
  } finally {
    closeSync(fd);
  }
}
