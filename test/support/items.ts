/**
 * Reading items a test expects to be there. With noUncheckedIndexedAccess, `rows[0]` is `Row | undefined`; these
 * say "the test fails here if it is missing", naming the index and the length, instead of a `!` that would turn a
 * missing item into a TypeError further on.
 */

/** The item at `index` (a negative index counts from the end, as Array.prototype.at). Throws if there is none. */
export function at<T>(items: ArrayLike<T>, index: number): T {
  const i = index < 0 ? items.length + index : index;
  if (i < 0 || i >= items.length) throw new Error(`expected an item at index ${index}, but there are ${items.length}`);
  return items[i] as T; // in bounds: checked above
}

type Tuple<T, N extends number, R extends T[] = []> = R['length'] extends N ? R : Tuple<T, N, [...R, T]>;

/** The first `n` items as a tuple, for `const [a, b] = firstItems(rows, 2)`. Throws if there are fewer. */
export function firstItems<T, N extends 1 | 2 | 3 | 4 | 5>(items: ArrayLike<T>, n: N): Tuple<T, N> {
  if (items.length < n) throw new Error(`expected at least ${n} items, but there are ${items.length}`);
  return Array.from({ length: n }, (_, i) => items[i]) as Tuple<T, N>; // each index < n <= length
}

/** The value under `key` in a record (a route table, keys by scope). Throws, naming the key, if there is none. */
export function valueAt<V>(record: Readonly<Record<string, V>>, key: string): V {
  const value = record[key];
  if (value === undefined) throw new Error(`expected a value under ${JSON.stringify(key)}`);
  return value;
}
