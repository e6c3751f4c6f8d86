"""Reading a finished run in flat memory, for `stats`, `verify` and `report`: Parquet is read one column at a time,
batch by batch within each row group, never a whole table; ids are compared as 8-byte hashes; examples are kept
in bounded heaps. What these commands hold grows with a run only where they say so (bytes per document)."""

import heapq
import itertools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

BATCH_ROWS = 4096  # rows per batch read; a batch never spans row groups, so one is at most a row group's column


def batches(path: str, columns: list[str], batch_rows: int = BATCH_ROWS):
    """The named columns of a Parquet file as record batches (missing columns are left out)."""
    f = pq.ParquetFile(path)
    yield from file_batches(f, [c for c in columns if c in f.schema_arrow.names], batch_rows)


def file_batches(f: pq.ParquetFile, columns: list[str], batch_rows: int = BATCH_ROWS):
    """Record batches of the columns, one row group at a time: iter_batches over a whole file reads ahead far
    beyond a row group (about 100 MB of Arrow memory for a 50,000-document text column, measured; 15 MB so)."""
    for group in range(f.num_row_groups):
        yield from f.iter_batches(batch_size=batch_rows, row_groups=[group], columns=columns, use_threads=False)


def read_rows(path: str, rows: list[int], columns: list[str] | None = None) -> list[dict]:
    """The given rows of a Parquet file (the named columns, default all), in the order asked, reading only the
    row groups that hold them."""
    f = pq.ParquetFile(path)
    starts = list(itertools.accumulate((f.metadata.row_group(i).num_rows for i in range(f.num_row_groups)), initial=0))
    out = {}
    by_group: dict[int, list[int]] = {}
    for row in rows:
        by_group.setdefault(int(np.searchsorted(starts, row, side="right")) - 1, []).append(row)
    for group, wanted in by_group.items():
        table = f.read_row_group(group, columns=columns, use_threads=False)
        for row, value in zip(wanted, table.take([r - starts[group] for r in wanted]).to_pylist()):
            out[row] = value
    return [out[r] for r in rows]


def id_hashes(ids) -> np.ndarray:
    """64-bit hashes (xxh3) of an Arrow or Python sequence of id strings: 8 bytes per document. Two distinct
    ids share a hash with probability 2**-64 per pair; `verify` confirms every shared hash on the strings."""
    if isinstance(ids, (pa.Array, pa.ChunkedArray)):
        ids = ids.to_pylist()
    h = xxhash.xxh3_64_intdigest
    return np.fromiter((h(i.encode("utf-8", "surrogatepass")) if i is not None else 0 for i in ids),
                       dtype=np.uint64, count=len(ids))


def utf8_lengths(texts) -> np.ndarray:
    """UTF-8 bytes of each string of an Arrow array (null: 0), as stages.base.utf8_size counts them."""
    return pc.fill_null(pc.binary_length(texts), 0).to_numpy(zero_copy_only=False).astype(np.int64)


class Smallest:
    """The k items with the smallest keys seen, in key order; among equal keys the first seen (as a stable sort
    of all of them would pick)."""

    def __init__(self, k: int):
        self.k = k
        self._heap: list = []  # (negated key, negated arrival, item): the root is the largest kept key
        self._arrival = itertools.count()

    def worst(self):
        """The largest key kept once k are held (a key not below it cannot enter), else None."""
        return _negate(self._heap[0][0]) if len(self._heap) >= self.k else None

    def offer(self, key, item) -> None:
        if self.k <= 0:
            return
        entry = (_negate(key), -next(self._arrival), item)
        if len(self._heap) < self.k:
            heapq.heappush(self._heap, entry)
        elif entry[:2] > self._heap[0][:2]:
            heapq.heapreplace(self._heap, entry)

    def items(self) -> list:
        return [item for _, _, item in sorted(self._heap, key=lambda e: e[:2], reverse=True)]


def _negate(key):
    return tuple(-x for x in key) if isinstance(key, tuple) else -key


class SortedIds:
    """The 8-byte id hashes of a set of Parquet files, sorted: 8 bytes per row, allocated once from the files'
    row counts (no copies while filling or sorting)."""

    def __init__(self, rows: int):
        self.values = np.empty(rows, dtype=np.uint64)
        self.n = 0

    def add(self, hashes: np.ndarray):
        self.values[self.n:self.n + len(hashes)] = hashes
        self.n += len(hashes)

    def finish(self) -> np.ndarray:
        self.values = self.values[:self.n]
        self.values.sort()
        return self.values


def repeated(sorted_hashes: np.ndarray) -> np.ndarray:
    """The hashes that occur more than once in a sorted array (each once)."""
    if len(sorted_hashes) < 2:
        return sorted_hashes[:0]
    same = sorted_hashes[1:] == sorted_hashes[:-1]
    return np.unique(sorted_hashes[1:][same])


def map_entries(column) -> tuple[np.ndarray, pa.Array, pa.Array]:
    """A map column's entries, flattened: (the row of each entry, its keys, its values). Cast to a list of
    structs first: pyarrow flattens no map arrays (and list_parent_indices aborts on one)."""
    as_list = column.cast(pa.list_(pa.struct([column.type.key_field, column.type.item_field])))
    flat = as_list.flatten()
    return pc.list_parent_indices(as_list).to_numpy(), flat.field(0), flat.field(1)
