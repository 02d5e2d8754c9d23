// Invariant checks, on in production. A failed assertion is a bug, never bad input:
// bad input gets a typed UkvError instead (see errors.ts).

export class AssertionError extends Error {
  override name = "AssertionError";
}

export function assert(condition: unknown, why: string): asserts condition {
  if (!condition) throw new AssertionError(`Assertion failed: ${why}`);
}

export function unreachable(value: never, why: string): never {
  throw new AssertionError(`Unreachable: ${why}: ${String(value)}`);
}
