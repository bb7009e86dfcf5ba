/**
 * Growth policy for the columnar stores (node columns, directory-aggregate columns, name arena).
 *
 * Columns are plain typed arrays that are replaced by a larger copy when full. Doubling keeps the
 * amortised cost of an append at O(1), but at 10 M+ entries it wastes up to half of every column.
 * So we double while small and then grow by 1.5x: the amortised copy cost stays O(1) (each element
 * is copied about 3 times over its life) and the worst-case slack is 33 % instead of 50 %.
 */

/** Capacity at which growth switches from doubling to 1.5x. */
export const DOUBLING_LIMIT = 1 << 20;

/** Largest capacity we ever ask for (ids are int32; leave headroom for sentinels). */
export const MAX_CAPACITY = 0x7fff_fff0;

/** Largest byte arena (V8 typed arrays stop at 2^32 elements; name offsets are Uint32). */
export const MAX_ARENA_BYTES = 0xffff_ffff;

/** Next capacity that holds at least `needed` entries, starting from `current`. */
export function nextCapacity(current: number, needed: number, max = MAX_CAPACITY): number {
  let cap = Math.max(current, 16);
  while (cap < needed) cap = cap < DOUBLING_LIMIT ? cap * 2 : cap + Math.ceil(cap / 2);
  if (cap > max) {
    if (needed > max) throw new RangeError(`tree store: capacity ${needed} exceeds the limit ${max}`);
    cap = max;
  }
  return cap;
}

type AnyTyped = Int32Array | Uint32Array | Uint16Array | Uint8Array | Float64Array;

/** Copy of `a` with `capacity` entries; new entries are `fill` (typed arrays start at 0). */
export function grown<T extends AnyTyped>(a: T, capacity: number, fill = 0): T {
  const Ctor = a.constructor as new (n: number) => T;
  const b = new Ctor(capacity);
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}

/** Smallest power of two >= n (n >= 1). Open-addressing tables use masks, so capacities are powers of two. */
export function powerOfTwoAtLeast(n: number): number {
  let c = 1;
  while (c < n) c *= 2;
  return c;
}
