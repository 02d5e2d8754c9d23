// The fuzz targets' oracles: what must hold of a result when a decoder accepts its input, beyond
// "it returned or threw a typed error". Each throws FuzzOracleError (not a typed error, so the
// harness counts it as a failure) naming what differs.
// - WAL: the entries recovered are a byte-exact prefix of the entries written before the damage,
//   and the hard state recovered is one that was written (or none).
// - Snapshot: a snapshot that loads holds exactly the table it was taken of (and its header).
// - Frames: the transport frame layer is canonical (fixed-size header), so every frame that
//   decodes re-encodes to the very bytes it came from. The payloads are protobuf, which is NOT
//   canonical (a varint may be padded, fields repeated, unknown fields skipped), so a payload that
//   decodes must re-encode to a canonical form that decodes to the same value and re-encodes to
//   itself; the encoder's own output must be canonical (byte-exact on the valid corpus).
import { isDeepStrictEqual } from "node:util";

export class FuzzOracleError extends Error {
  override name = "FuzzOracleError";
}

export interface WrittenEntry {
  term: number;
  index: number;
  data: Uint8Array;
}

export interface WrittenHardState {
  term: number;
  vote: number;
  commit: number;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let index = 0; index < a.byteLength; index++) if (a[index] !== b[index]) return false;
  return true;
}

function hex(bytes: Uint8Array, countMax: number = 16): string {
  const shown = Array.from(bytes.subarray(0, countMax), (byte) => byte.toString(16).padStart(2, "0")).join("");
  return bytes.byteLength > countMax ? `${shown}... (${bytes.byteLength} bytes)` : shown;
}

/** WAL recovery: `recovered` must be written[0..k) for some k, byte for byte. */
export function checkWalPrefix(written: readonly WrittenEntry[], recovered: readonly WrittenEntry[]): void {
  if (recovered.length > written.length) {
    throw new FuzzOracleError(`WAL recovered ${recovered.length} entries, only ${written.length} were written`);
  }
  for (let position = 0; position < recovered.length; position++) {
    const got = recovered[position] as WrittenEntry;
    const want = written[position] as WrittenEntry;
    if (got.index !== want.index || got.term !== want.term) {
      throw new FuzzOracleError(`WAL recovered entry ${position} as index ${got.index} term ${got.term}, written as index ${want.index} term ${want.term}`);
    }
    if (!bytesEqual(got.data, want.data)) {
      throw new FuzzOracleError(`WAL recovered entry ${got.index} with data ${hex(got.data)}, written as ${hex(want.data)}`);
    }
  }
}

/** WAL recovery: the hard state recovered is null or one of those written. */
export function checkWalHardState(written: readonly WrittenHardState[], recovered: WrittenHardState | null): void {
  if (recovered === null) return;
  const known = written.some((hardState) => hardState.term === recovered.term && hardState.vote === recovered.vote && hardState.commit === recovered.commit);
  if (!known) throw new FuzzOracleError(`WAL recovered hard state ${JSON.stringify(recovered)}, which was never written`);
}

/** The table as a snapshot oracle sees it: hex key -> value. */
export function tableImage(entries: readonly [Uint8Array, Uint8Array][]): Map<string, Uint8Array> {
  const image = new Map<string, Uint8Array>();
  for (const [key, value] of entries) image.set(hex(key, key.byteLength), value);
  return image;
}

/** Snapshot round trip: the loaded table holds exactly the original pairs. */
export function checkTableImage(expected: ReadonlyMap<string, Uint8Array>, loaded: readonly [Uint8Array, Uint8Array][]): void {
  const got = tableImage(loaded);
  if (got.size !== expected.size) throw new FuzzOracleError(`snapshot loaded ${got.size} keys, the original table had ${expected.size}`);
  for (const [key, value] of expected) {
    const loadedValue = got.get(key);
    if (loadedValue === undefined) throw new FuzzOracleError(`snapshot loaded without key ${key}`);
    if (!bytesEqual(loadedValue, value)) throw new FuzzOracleError(`snapshot loaded key ${key} as ${hex(loadedValue)}, the original was ${hex(value)}`);
  }
}

/** Snapshot header round trip: index, term and metadata as saved. */
export function checkSnapshotHeader(expected: { index: number; term: number; metadata: Uint8Array }, loaded: { index: number; term: number; metadata: Uint8Array }): void {
  if (loaded.index !== expected.index || loaded.term !== expected.term) {
    throw new FuzzOracleError(`snapshot loaded at index ${loaded.index} term ${loaded.term}, saved at index ${expected.index} term ${expected.term}`);
  }
  if (!bytesEqual(loaded.metadata, expected.metadata)) throw new FuzzOracleError(`snapshot metadata loaded as ${hex(loaded.metadata)}, saved as ${hex(expected.metadata)}`);
}

/** The frame layer is canonical: the re-encoded frames are exactly the bytes consumed from `input` at `offset`. */
export function checkFramesReencode(input: Uint8Array, offset: number, reencoded: readonly Uint8Array[]): void {
  let position = offset;
  for (let frameIndex = 0; frameIndex < reencoded.length; frameIndex++) {
    const frame = reencoded[frameIndex] as Uint8Array;
    const original = input.subarray(position, position + frame.byteLength);
    if (!bytesEqual(original, frame)) {
      throw new FuzzOracleError(`frame ${frameIndex} at byte ${position} re-encodes to ${hex(frame)}, it was ${hex(original)}`);
    }
    position += frame.byteLength;
  }
}

/**
 * A decoded value of a non-canonical encoding: encode(value) is its canonical form, which must
 * decode to an equal value and re-encode to itself. `exact` adds that the original bytes were
 * already canonical (true for the encoder's own output).
 */
export function checkCanonicalRoundTrip<T>(label: string, original: Uint8Array, value: T, codec: { encode(value: T): Uint8Array; decode(bytes: Uint8Array): T }, exact: boolean): void {
  const canonical = codec.encode(value);
  const again = codec.decode(canonical);
  if (!isDeepStrictEqual(again, value)) throw new FuzzOracleError(`${label}: the canonical re-encoding (${hex(canonical)}) decodes to a different value`);
  const canonicalAgain = codec.encode(again);
  if (!bytesEqual(canonicalAgain, canonical)) throw new FuzzOracleError(`${label}: re-encoding is not stable: ${hex(canonical)} then ${hex(canonicalAgain)}`);
  if (exact && !bytesEqual(canonical, original)) throw new FuzzOracleError(`${label}: the encoder's output ${hex(original)} re-encodes to ${hex(canonical)}`);
}
