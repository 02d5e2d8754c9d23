// The TS face of native/read_route_binding.cc: a read-pool Worker's routing (which table owns which
// routing-hash range, at which epoch) held natively, so that a run of keys is hashed, routed, read
// under each table's shared lock with its epoch checked, and copied out in one N-API call.
// Results land in buffers this thread reuses (no allocation per key): they are valid until the
// next lookUp on this thread.
import { assert } from "../util/assert.ts";
import { UkvError } from "../util/errors.ts";
import { native } from "./native.ts";
import { packKeys } from "./table.ts";

/** One replica's table as the Raft thread saw it. */
export interface ReadRouteRange {
  tableId: number;
  /** Table.epoch() when the range was taken: a table that left it answers nothing (ReadRoute.notHere). */
  epoch: number;
  start: bigint;
  end: bigint;
}

type NativeRouteHandle = { readonly __nativeReadRoute: unique symbol };

interface RouteBindings {
  readRouteCreate(tableIds: Float64Array, epochs: Float64Array, starts: BigUint64Array, ends: BigUint64Array): NativeRouteHandle;
  readRouteGetMany(route: NativeRouteHandle, keys: Uint8Array, keyEnds: Uint32Array, count: number, outSizes: Int32Array, outOwners: Int32Array, out: Uint8Array): number;
  readRouteClose(route: NativeRouteHandle): void;
}

const bindings = native as unknown as RouteBindings;

/** Ranges one route holds at most (a store hosts at most this many replicas of data shards). */
export const readRouteRangeCountMax = 65_536;

/** Where lookUp copies values: values past its room come back as noRoom, read another way. */
const valuesSizeBytes = 256 * 1024;
const values = new Uint8Array(valuesSizeBytes);
const valuesView = new DataView(values.buffer);
let owners = new Int32Array(1024);

/** What lookUp found: per key a size (>= 0, the value is next in `bytes`) or one of the codes below. */
export interface RouteLookup {
  /** Per key: the value's size, or absent / notHere / noRoom. Valid for `count` entries. */
  readonly sizes: Int32Array;
  /** Per key: the index (in the ranges given to create) of the range that owns it, or -1. */
  readonly owners: Int32Array;
  /** The values of the keys with a size, end to end in key order. */
  readonly bytes: Uint8Array;
  /** A view of `bytes`, for the header fields of stored values. */
  readonly view: DataView;
}

export class ReadRoute {
  static readonly absent = -1;
  /** No range owns the key, or its table has left the epoch the route was made at: the Raft thread answers. */
  static readonly notHere = -2;
  /** The value did not fit what was left of the values buffer. */
  static readonly noRoom = -3;

  #handle: NativeRouteHandle | null;
  /** The native side's range index -> the caller's. */
  readonly #callerIndexes: Int32Array;

  private constructor(handle: NativeRouteHandle, callerIndexes: Int32Array) {
    this.#handle = handle;
    this.#callerIndexes = callerIndexes;
  }

  /**
   * A route over `ranges`; tables closed meanwhile are left out. Ranges may overlap: mid-split a
   * store can hold a parent that has not applied the split next to a child that already exists.
   * Then the range that starts first keeps the overlap and the other is left out (its keys outside
   * the kept range read as notHere, so the Raft thread answers them): the native side takes
   * disjoint ranges, sorted by start. Lookups name indexes into `ranges` as given.
   */
  static create(ranges: readonly ReadRouteRange[]): ReadRoute {
    if (ranges.length > readRouteRangeCountMax) {
      throw new UkvError("BAD_REQUEST", `A read route holds at most ${readRouteRangeCountMax} ranges, got ${ranges.length}`);
    }
    const byStart = ranges.map((_, index) => index).sort((a, b) => {
      const left = (ranges[a] as ReadRouteRange).start;
      const right = (ranges[b] as ReadRouteRange).start;
      return left < right ? -1 : left > right ? 1 : a - b;
    });
    const kept: ReadRouteRange[] = [];
    const keptIndexes: number[] = [];
    for (const index of byStart) {
      const range = ranges[index] as ReadRouteRange;
      assert(range.start <= range.end, "a range starts at or before its end");
      const last = kept.at(-1);
      if (last !== undefined && range.start <= last.end) continue;
      kept.push(range);
      keptIndexes.push(index);
    }
    return new ReadRoute(
      bindings.readRouteCreate(
        Float64Array.from(kept, (range) => range.tableId),
        Float64Array.from(kept, (range) => range.epoch),
        BigUint64Array.from(kept, (range) => range.start),
        BigUint64Array.from(kept, (range) => range.end),
      ),
      Int32Array.from(keptIndexes),
    );
  }

  /** Reads `keys` (limits checked: a key too large throws KEY_TOO_LARGE) into this thread's buffers. */
  lookUp(keys: readonly Uint8Array[]): RouteLookup {
    const { packed, keyEnds, sizes } = packKeys(keys);
    if (owners.length < keys.length) owners = new Int32Array(Math.max(keys.length, owners.length * 2));
    bindings.readRouteGetMany(this.#live(), packed, keyEnds, keys.length, sizes, owners, values);
    for (let index = 0; index < keys.length; index++) {
      const owner = owners[index] as number;
      if (owner >= 0) owners[index] = this.#callerIndexes[owner] as number;
    }
    return { sizes, owners, bytes: values, view: valuesView };
  }

  /** Drops the route's table references now (idempotent). */
  close(): void {
    if (this.#handle === null) return;
    bindings.readRouteClose(this.#handle);
    this.#handle = null;
  }

  #live(): NativeRouteHandle {
    if (this.#handle === null) throw new UkvError("CLOSED", "Read route is closed");
    return this.#handle;
  }
}
