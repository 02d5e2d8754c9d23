// Integer and float fields read and written on plain Uint8Arrays. A DataView over a Uint8Array
// makes Bun materialize the array's ArrayBuffer first (about 300 ns for a fresh array, more than the
// whole encode), so the per-request encoders and decoders (commands, WAL records, frame headers)
// use these instead. Integers above 32 bits are JS numbers: safe integers only.
import { assert } from "./assert.ts";

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
assert(new Uint8Array(new Uint16Array([1]).buffer)[0] === 1, "the f64 fields assume a little-endian machine");
const twoPower32 = 2 ** 32;

export function setU32LE(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value;
  bytes[offset + 1] = value >>> 8;
  bytes[offset + 2] = value >>> 16;
  bytes[offset + 3] = value >>> 24;
}

export function getU32LE(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] as number) | ((bytes[offset + 1] as number) << 8) | ((bytes[offset + 2] as number) << 16) | ((bytes[offset + 3] as number) << 24)) >>> 0;
}

export function setU32BE(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = value >>> 16;
  bytes[offset + 2] = value >>> 8;
  bytes[offset + 3] = value;
}

export function getU32BE(bytes: Uint8Array, offset: number): number {
  return (((bytes[offset] as number) << 24) | ((bytes[offset + 1] as number) << 16) | ((bytes[offset + 2] as number) << 8) | (bytes[offset + 3] as number)) >>> 0;
}

/** A non-negative safe integer as u64, little-endian; returns the offset after it. */
export function setU64LE(bytes: Uint8Array, offset: number, value: number): number {
  assert(Number.isSafeInteger(value) && value >= 0, "u64 fields hold non-negative safe integers");
  setU32LE(bytes, offset, value % twoPower32);
  setU32LE(bytes, offset + 4, Math.floor(value / twoPower32));
  return offset + 8;
}

export function setF64LE(bytes: Uint8Array, offset: number, value: number): void {
  f64[0] = value;
  for (let index = 0; index < 8; index++) bytes[offset + index] = f64Bytes[index] as number;
}

export function getF64LE(bytes: Uint8Array, offset: number): number {
  for (let index = 0; index < 8; index++) f64Bytes[index] = bytes[offset + index] as number;
  return f64[0] as number;
}
