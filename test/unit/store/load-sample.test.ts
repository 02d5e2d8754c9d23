// The load sample's split point: the cut that best halves the sampled accesses, none without
// enough samples or when one key hash holds them all, the newest accesses replacing the oldest.
import { expect, test } from "bun:test";
import { LoadSample, loadSampleCountMax, loadSampleCountMin } from "../../../src/store/load-sample.ts";

const range = { start: 0n, end: 1000n, version: 1 };

test("the cut halves the sampled load, not the key space", () => {
  const sample = new LoadSample();
  // Every access falls in hashes 100..199: the keys' or the range's middle (500) would leave all the load below.
  for (let index = 0; index < 200; index++) sample.record(100n + BigInt(index % 100));
  expect(sample.splitPoint(range)).toBe(150n);
});

test("a hot key's accesses stay on one side, at the cut that leaves the halves closest", () => {
  const sample = new LoadSample();
  // Hash 10: 30%, hash 20: 40%, hash 30: 30%. Cutting at 20 leaves 30% below, at 30 70%: a tie, the first wins.
  for (let index = 0; index < 30; index++) sample.record(10n);
  for (let index = 0; index < 40; index++) sample.record(20n);
  for (let index = 0; index < 30; index++) sample.record(30n);
  expect([20n, 30n]).toContain(sample.splitPoint(range)!);
  // 45% / 10% / 45%: cutting at 20 (45% below) or at 30 (55% below) are the best two.
  const skewed = new LoadSample();
  for (let index = 0; index < 45; index++) skewed.record(10n);
  for (let index = 0; index < 10; index++) skewed.record(20n);
  for (let index = 0; index < 45; index++) skewed.record(30n);
  expect(skewed.splitPoint(range)).toBe(20n);
});

test("no cut: too few samples, all on one key hash, or all outside the range", () => {
  const few = new LoadSample();
  for (let index = 0; index < loadSampleCountMin - 1; index++) few.record(BigInt(index * 10));
  expect(few.splitPoint(range)).toBeNull();
  const oneKey = new LoadSample();
  for (let index = 0; index < 500; index++) oneKey.record(700n);
  expect(oneKey.splitPoint(range)).toBeNull();
  const elsewhere = new LoadSample();
  for (let index = 0; index < 500; index++) elsewhere.record(5000n + BigInt(index));
  expect(elsewhere.splitPoint(range)).toBeNull();
});

test("the sample is bounded and follows the load as it moves", () => {
  const sample = new LoadSample();
  for (let index = 0; index < loadSampleCountMax; index++) sample.record(BigInt(index % 100));
  for (let index = 0; index < loadSampleCountMax; index++) sample.record(800n + BigInt(index % 100));
  expect(sample.size).toBe(loadSampleCountMax);
  const cut = sample.splitPoint(range)!;
  expect(cut > 840n && cut < 860n).toBe(true);
});
