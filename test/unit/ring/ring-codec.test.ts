// The binary ring form: lossless, 12 bytes a range, and damaged bytes are a typed error.
import { expect, test } from "bun:test";
import { decodeRing, encodeRing, ringHeaderSizeBytes, ringRangeSizeBytes } from "../../../src/ring/ring-codec.ts";
import { Ring } from "../../../src/ring/ring.ts";
import { isUkvError } from "../../../src/util/errors.ts";
import { Prng } from "../../../src/util/prng.ts";

function expectRingError(action: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(isUkvError(caught, "RING_INVALID")).toBe(true);
  expect((caught as Error).message).toMatch(message);
}

const ring = Ring.build([1, 2, 3], { vnodeCount: 64, epoch: 9 }).splitRange(0n, 4).moveRange(0n, 2);

test("encode then decode gives an equal ring (epoch, vnode count, every range)", () => {
  const bytes = encodeRing(ring);
  expect(bytes.length).toBe(ringHeaderSizeBytes + ring.rangeCount * ringRangeSizeBytes);
  const decoded = decodeRing(bytes);
  expect(decoded.toJSON()).toEqual(ring.toJSON());
  expect(decoded.epoch).toBe(11);
  expect(decoded.vnodeCount).toBe(64);
});

test("decodes from a subarray view at a nonzero offset", () => {
  const bytes = encodeRing(ring);
  const padded = new Uint8Array(bytes.length + 5);
  padded.set(bytes, 5);
  expect(decodeRing(padded.subarray(5)).toJSON()).toEqual(ring.toJSON());
});

test("a bad header, a wrong length and unordered ends are refused", () => {
  const bytes = encodeRing(ring);
  expectRingError(() => decodeRing(bytes.subarray(0, 10)), /the header alone is 24/);
  const badMagic = bytes.slice();
  badMagic[0] = 0;
  expectRingError(() => decodeRing(badMagic), /bad magic/);
  const badVersion = bytes.slice();
  badVersion[4] = 2;
  expectRingError(() => decodeRing(badVersion), /unknown version 2/);
  expectRingError(() => decodeRing(bytes.subarray(0, bytes.length - 1)), /expected/);
  const swapped = bytes.slice();
  swapped.copyWithin(ringHeaderSizeBytes, ringHeaderSizeBytes + ringRangeSizeBytes, ringHeaderSizeBytes + 2 * ringRangeSizeBytes);
  expectRingError(() => decodeRing(swapped), /empty or reversed|overlaps/);
});

test("random corruption never yields anything but a ring or a typed error", () => {
  const prng = new Prng(5);
  const bytes = encodeRing(Ring.build([1, 2], { vnodeCount: 4 }));
  for (let trial = 0; trial < 2000; trial++) {
    const damaged = bytes.slice();
    damaged[prng.nextInt(damaged.length)] = prng.nextInt(256);
    try {
      const decoded = decodeRing(damaged);
      expect(decoded.ranges().at(-1)?.end).toBe((1n << 64n) - 1n);
    } catch (error) {
      expect(isUkvError(error, "RING_INVALID")).toBe(true);
    }
  }
});
