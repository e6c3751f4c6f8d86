"""Stage `minhash_dedup`: MinHash near-duplicate removal (numpy, see MinhashConfig), in four phases so that memory stays
bounded as the corpus grows (the shape of datatrove's MinhashDedup*):

1. signatures (in the curation phase, one file per task and band, sorted by band hash then document id);
2. buckets (one task per band): a streaming merge of the sorted files of all tasks, a block of rows at a time;
   documents sharing a band hash are linked to the smallest document id of their bucket;
3. clusters (one task): connected components over those links; every cluster keeps the document with the
   smallest id, so the choice depends neither on the number of tasks nor on which worker ran what;
4. filter (the `minhash_dedup` funnel stage): each task drops its documents that are not their cluster's keeper.
"""

import glob
import os
import re
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from stages.base import Drop, RefineryStage, RunIntegrityError
from stages.documents import ROW_KEY
from stages.parquet_io import AtomicParquetWriter, write_table_atomic
from stages.schema import EDGE_SCHEMA, REMOVE_SCHEMA, SIGNATURE_SCHEMA

_WORD = re.compile(r"\w+")


def shingles(text: str, n: int) -> set[bytes]:
    """Word n-grams of the lower-cased text, punctuation ignored (FineWeb's 5-gram shingles)."""
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)}


# Band hashes are computed for a batch of documents at a time, with numpy: per-document Python work (building
# each 5-gram as a string, hashing it, one datasketch MinHash per document) was most of the signature step's time.
_BATCH_CHARS = 1 << 19  # characters per batch: bounds the working arrays (~25 bytes a character; 1 << 18: 10% slower)
_BATCH_DOCS = 2048
_word_chars_table: np.ndarray | None = None


def _word_chars() -> np.ndarray:
    """is-a-word-character for every code point, taken from `_WORD` itself, so that runs of them are exactly the
    words `shingles()` finds (Unicode letters, digits and underscore, as Python's re defines \\w)."""
    global _word_chars_table
    if _word_chars_table is None:
        table = np.zeros(sys.maxunicode + 1, dtype=bool)
        for m in _WORD.finditer("".join(map(chr, range(sys.maxunicode + 1)))):
            table[m.start() : m.end()] = True
        _word_chars_table = table
    return _word_chars_table


def _fmix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer, in place: a bijection in which every input bit affects every output bit."""
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xC4CEB9FE1A85EC53)
    x ^= x >> np.uint64(33)
    return x


def _odd_uint64(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2**64, size=n, dtype=np.uint64, endpoint=False) | np.uint64(1)


class MinhashConfig:
    """The parameters all four phases must agree on.

    MinHash over the word n-grams of `shingles()`: every n-gram gets a 32-bit hash x, and permutation i maps it
    to ((a_i * x + b_i) mod 2^64) >> 32 (multiply-add-shift, a strongly universal family for 32-bit keys); a
    document's signature is the minimum of each of the num_perm permutations over its n-grams, and the hash of
    each band of `rows` consecutive minima is what documents are bucketed by. All the random parameters come from
    `seed`, so every worker computes the same values."""

    def __init__(self, work_dir: str, ngram: int = 5, num_perm: int = 112, bands: int = 14, rows: int = 8, seed: int = 1):
        if bands * rows != num_perm:
            raise ValueError(f"minhash_dedup: bands x rows ({bands} x {rows}) must equal num_perm ({num_perm})")
        self.work_dir, self.ngram, self.num_perm, self.bands, self.rows, self.seed = work_dir, ngram, num_perm, bands, rows, seed
        self._params = None  # drawn on first use, in the worker
        self._powers = (np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64))

    def _parameters(self) -> dict:
        if self._params is None:
            rng = np.random.default_rng(self.seed)
            self._params = {
                "base": _odd_uint64(rng, 1)[0],  # polynomial hash of a word's code points
                "length": _odd_uint64(rng, 1)[0],
                "position": _odd_uint64(rng, self.ngram),  # weight of the k-th word of an n-gram
                "short": _odd_uint64(rng, 1)[0],  # marks the single shingle of a document of fewer than n words
                "a": _odd_uint64(rng, self.num_perm),
                "b": rng.integers(0, 2**64, size=self.num_perm, dtype=np.uint64, endpoint=False),
                "band": rng.integers(0, 2**64, size=self.bands, dtype=np.uint64, endpoint=False),
            }
        return self._params

    def _base_powers(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(base^k, base^-k) mod 2^64 for k < n (at least): kept for a batch's length (2 x 8 bytes a character
        of _BATCH_CHARS x 2), made for the batch alone when one text is longer."""
        if len(self._powers[0]) >= n:
            return self._powers
        base = self._parameters()["base"]
        size = max(n, 2 * _BATCH_CHARS)
        powers = np.full(size, base, dtype=np.uint64)
        inverses = np.full(size, pow(int(base), -1, 2**64), dtype=np.uint64)  # base is odd: invertible mod 2^64
        powers[0] = inverses[0] = 1
        tables = (np.cumprod(powers), np.cumprod(inverses))  # wrapping around mod 2^64, as intended
        if size == 2 * _BATCH_CHARS:
            self._powers = tables
        return tables

    def shingle_hashes(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The n-grams of each text, as `shingles()` makes them, hashed to 32 bits (held in uint64) from the
        hashes of their words. Returns (hashes, owner): owner[i] is the position in `texts` of hashes[i],
        ascending. A text may yield an n-gram more than once (a set is not needed: minima do not change)."""
        p = self._parameters()
        lowered = [t.lower() if t else "" for t in texts]
        # all texts as one array of code points, "\n" (not a word character) between them
        starts_of_texts = np.cumsum([0] + [len(t) + 1 for t in lowered[:-1]])
        cps = np.frombuffer("\n".join(lowered).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        # words: the runs of word characters; `bounds` alternates first character, one past the last
        is_word = np.zeros(len(cps) + 2, dtype=bool)  # padded with a non-word character at each end
        np.take(_word_chars(), cps, out=is_word[1:-1])
        bounds = np.flatnonzero(is_word[1:] != is_word[:-1])
        word_starts, word_ends = bounds[0::2], bounds[1::2]
        if len(word_starts) == 0:
            return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.intp)

        # word hash: sum of code point * base^(its position in the word), mod 2^64, from prefix sums of
        # code point * base^(its position in the batch) rescaled by base^-(the word's first position); then the
        # length is mixed in. Three passes over the characters, the rest is per word.
        powers, inverses = self._base_powers(len(cps) + 1)
        prefix = np.empty(len(cps) + 1, dtype=np.uint64)
        prefix[0] = 0
        terms = cps.astype(np.uint64)
        np.multiply(terms, powers[: len(cps)], out=terms)
        np.cumsum(terms, out=prefix[1:])
        words = (prefix[word_ends] - prefix[word_starts]) * inverses[word_starts]
        words += (word_ends - word_starts).astype(np.uint64) * p["length"]
        _fmix64(words)
        owner = np.searchsorted(starts_of_texts, word_starts, side="right") - 1

        # n-gram i: words i .. i+n-1, when they belong to the same text
        n, last = self.ngram, len(words) - self.ngram + 1
        if last > 0:
            grams = words[:last] * p["position"][0]
            for k in range(1, n):
                grams += words[k : k + last] * p["position"][k]
            same_text = owner[n - 1 :] == owner[:last]
            grams, gram_owner = grams[same_text], owner[:last][same_text]
        else:
            grams, gram_owner = np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.intp)
        # a text of 1 .. n-1 words has one shingle, all its words (as in shingles())
        counts = np.bincount(owner, minlength=len(texts))
        short = np.flatnonzero((counts > 0) & (counts < n))
        if len(short):
            first = np.searchsorted(owner, short)
            extra = np.array(
                [np.sum(words[f : f + c] * p["position"][:c]) for f, c in zip(first.tolist(), counts[short].tolist())],
                dtype=np.uint64,
            )
            extra += counts[short].astype(np.uint64) * p["short"]
            at = np.searchsorted(gram_owner, short)
            grams, gram_owner = np.insert(grams, at, extra), np.insert(gram_owner, at, short)
        return _fmix64(grams) >> np.uint64(32), gram_owner

    def signatures(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Band hashes of a batch of texts: (present, hashes) where present holds the positions of the texts
        that have shingles and hashes[j, band] is the band hash of texts[present[j]]."""
        p = self._parameters()
        keys, owner = self.shingle_hashes(texts)
        present = np.flatnonzero(np.bincount(owner, minlength=len(texts)))
        if len(present) == 0:
            return present, np.empty((0, self.bands), dtype=np.uint64)
        offsets = np.searchsorted(owner, present)
        minima = np.empty((self.num_perm, len(present)), dtype=np.uint64)
        buf = np.empty_like(keys)
        # one permutation at a time over the whole batch: three passes over a cache-sized array each (a 2-D
        # shingles x permutations array with a reduceat along axis 0 measured ~10x slower)
        for i in range(self.num_perm):
            np.multiply(keys, p["a"][i], out=buf)
            buf += p["b"][i]
            np.minimum.reduceat(buf, offsets, out=minima[i])
        minima >>= np.uint64(32)  # the shift commutes with the minimum, so it is done once, on the minima
        # band hash: the band's `rows` minima folded into a 64-bit state, mixed after each
        minima = minima.reshape(self.bands, self.rows, len(present))
        state = np.repeat(p["band"][:, None], len(present), axis=1)
        for r in range(self.rows):
            state ^= minima[:, r, :]
            _fmix64(state)
        return present, np.ascontiguousarray(state.T)

    def band_hashes(self, text: str) -> list[int] | None:
        present, hashes = self.signatures([text])
        return hashes[0].tolist() if len(present) else None

    def sig_path(self, band: int, task: int) -> str:
        return os.path.join(self.work_dir, "sigs", f"{band:03d}", f"{task:05d}.parquet")

    def edge_path(self, band: int) -> str:
        return os.path.join(self.work_dir, "edges", f"{band:03d}.parquet")

    def remove_path(self, task: int) -> str:
        return os.path.join(self.work_dir, "remove", f"{task:05d}.parquet")


class MinhashSignatureStep(PipelineStep):
    """Phase 1: computes the band hashes of every document passing by (it forwards all of them, in order, a
    batch at a time)."""

    type = "refinery-dedup"
    name = "minhash_signatures"

    def __init__(self, config: MinhashConfig):
        super().__init__()
        self.config = config

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        cfg = self.config
        hashes: list[np.ndarray] = []  # per batch: (documents with shingles, bands)
        ids: list[str] = []
        indices: list[np.ndarray] = []
        batch: list[Document] = []
        first_index = chars = 0

        def flush():
            with self.track_time("batch"):
                present, band_hashes = cfg.signatures([d.text for d in batch])
            hashes.append(band_hashes)
            indices.append(present + first_index)
            ids.extend(batch[i].id for i in present.tolist())
            if len(batch) > len(present):
                self.stat_update("no_shingles", value=len(batch) - len(present))

        for doc in data:
            batch.append(doc)
            chars += len(doc.text or "")
            if chars >= _BATCH_CHARS or len(batch) >= _BATCH_DOCS:
                flush()
                yield from batch
                first_index, batch, chars = first_index + len(batch), [], 0
        if batch:
            flush()
            yield from batch

        all_hashes = np.concatenate(hashes) if hashes else np.empty((0, cfg.bands), dtype=np.uint64)
        all_indices = np.concatenate(indices) if indices else np.empty(0, dtype=np.int64)
        doc_ids = pa.array(ids, type=pa.string())
        # files are sorted by (band_hash, doc_id, index): rank the ids once in Python's string order (a stable sort,
        # so equal ids keep index order), then each band is one numpy lexsort
        id_rank = np.empty(len(ids), dtype=np.int64)
        id_rank[sorted(range(len(ids)), key=ids.__getitem__)] = np.arange(len(ids))
        tasks = pa.array(np.full(len(ids), rank, dtype=np.int32))
        for band in range(cfg.bands):
            order = np.lexsort((id_rank, all_hashes[:, band]))
            table = pa.Table.from_arrays(
                [pa.array(all_hashes[order, band]), doc_ids.take(order), tasks, pa.array(all_indices[order].astype(np.int64))],
                schema=SIGNATURE_SCHEMA,
            )
            write_table_atomic(cfg.sig_path(band, rank), table)


def _release_freed():
    """Hands the memory Arrow's allocator holds but no longer uses back to the system: mimalloc, its default,
    keeps freed pages a while, which showed as peak RSS several times the phases' live data (measured with
    bench/dedup_quality.py; ~25 us a call)."""
    pa.default_memory_pool().release_unused()


_MERGE_ROWS = 16384  # rows buffered by the bucket phase's merge, over all files of a band ...
_MIN_BATCH_ROWS = 1024  # ... but at least this many a file
_SORT_KEYS = [("band_hash", "ascending"), ("doc_id", "ascending"), ("task", "ascending"), ("index", "ascending")]


def _merged_blocks(files: list[str]):
    """The rows of sorted signature files as a series of (table, band hashes) blocks, each holding every row
    of a range of hashes (so the blocks, each sorted, make the merge of the files). A streaming k-way merge a
    block at a time, with no Python object per row: each file has one record batch buffered; every buffered
    row whose hash is at most the smallest last buffered hash of the files that have more rows can go out, as
    nothing still unread sorts before it."""
    batch_rows = max(_MIN_BATCH_ROWS, _MERGE_ROWS // max(1, len(files)))
    readers = [pq.ParquetFile(f) for f in files]
    left = [r.metadata.num_rows for r in readers]  # rows not yet in a buffer
    # read on this thread (no CPU pool threads): Arrow's allocator reuses freed blocks instead of a heap per thread
    batches = [r.iter_batches(batch_size=batch_rows, use_threads=False) for r in readers]
    buffers: list[pa.RecordBatch | None] = [None] * len(files)

    def refill(i: int):
        while (buffers[i] is None or buffers[i].num_rows == 0) and left[i] > 0:
            buffers[i] = next(batches[i])
            left[i] -= buffers[i].num_rows

    for i in range(len(files)):
        refill(i)
    while True:
        live = [i for i, b in enumerate(buffers) if b is not None and b.num_rows > 0]
        if not live:
            return
        more = [b.column("band_hash")[-1].as_py() for i, b in enumerate(buffers) if left[i] > 0]
        cut = min(more) if more else None
        taken, hashes = [], []
        for i in live:
            h = buffers[i].column("band_hash").to_numpy()
            k = len(h) if cut is None else int(np.searchsorted(h, np.uint64(cut), side="right"))
            if k:
                taken.append(buffers[i].slice(0, k))
                hashes.append(h[:k])
                buffers[i] = buffers[i].slice(k)
                refill(i)
        yield pa.Table.from_batches(taken), np.concatenate(hashes)
        _release_freed()


class MinhashBucketStep(PipelineStep):
    """Phase 2: one task per band (or several bands per task); streams, never loads a band whole."""

    type = "refinery-dedup"
    name = "minhash_buckets"

    def __init__(self, config: MinhashConfig):
        super().__init__()
        self.config = config

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        cfg = self.config
        for band in range(rank, cfg.bands, world_size):
            files = sorted(glob.glob(os.path.join(os.path.dirname(cfg.sig_path(band, 0)), "*.parquet")))
            with AtomicParquetWriter(cfg.edge_path(band), EDGE_SCHEMA, 10000) as out, self.track_time("band"):
                # head: first row of the bucket of last_hash, the previous block's last hash; that bucket may go on
                # in this block, and its head sorts before every row still to come with that hash
                head, last_hash, edges, pending = None, None, 0, []
                for block, hashes in _merged_blocks(files):
                    order = np.argsort(hashes, kind="stable")
                    h = hashes[order]
                    # nearly every bucket is a single document: only the rows of buckets of two or more (or of
                    # the carried-over bucket) are taken out of the block and sorted by all keys
                    shared = np.zeros(len(h), dtype=bool)
                    np.equal(h[1:], h[:-1], out=shared[1:])
                    shared[:-1] |= shared[1:]
                    if last_hash is not None:
                        shared |= h == last_hash
                    if not shared.any():
                        head, last_hash = block.take([int(order[-1])]), h[-1]
                        continue
                    rows = block.take(order[shared])
                    rows = rows.take(pc.sort_indices(rows, sort_keys=_SORT_KEYS))
                    if head is not None and h[0] == last_hash:
                        rows = pa.concat_tables([head, rows])
                    rh = rows["band_hash"].to_numpy()
                    starts = np.ones(len(rh), dtype=bool)
                    np.not_equal(rh[1:], rh[:-1], out=starts[1:])
                    first = np.where(starts, np.arange(len(rh)), 0)
                    np.maximum.accumulate(first, out=first)  # row -> its bucket's first row
                    members = np.flatnonzero(~starts)
                    if len(members):
                        a, b = rows.take(first[members]), rows.take(members)
                        pending.append(
                            pa.Table.from_arrays(
                                [a["doc_id"], a["task"], a["index"], b["doc_id"], b["task"], b["index"]],
                                schema=EDGE_SCHEMA,
                            )
                        )
                        edges += len(members)
                        if sum(t.num_rows for t in pending) >= 10000:
                            out.write_table(pa.concat_tables(pending))
                            pending = []
                    if shared[-1]:
                        head = rows.take([int(first[-1])])
                    else:
                        head = block.take([int(order[-1])])
                    last_hash = h[-1]
                if pending:
                    out.write_table(pa.concat_tables(pending))
                self.stat_update("edges", value=edges)
        if data:
            yield from data


_TASK_SHIFT = 40  # a document's node number in the cluster phase: task << 40 | index


class MinhashClusterStep(PipelineStep):
    """Phase 3 (a single task): connected components over all links, in numpy; memory grows with the number of
    links (16 bytes each) and of linked documents only."""

    type = "refinery-dedup"
    name = "minhash_clusters"

    def __init__(self, config: MinhashConfig, tasks: int):
        super().__init__()
        self.config = config
        self.tasks = tasks

    def _read_links(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array]:
        """(a, b, nodes, ids): the links as positions in `nodes`, the sorted distinct node numbers (task << 40 |
        index) of the linked documents, and their ids."""
        links, new_nodes, new_ids = [], [], []
        known = np.empty(0, dtype=np.int64)  # sorted
        for band in range(self.config.bands):
            _release_freed()
            # read on this thread (no I/O or CPU pool threads): Arrow's allocator reuses what the last band freed
            table = pq.read_table(self.config.edge_path(band), use_threads=False, pre_buffer=False)
            if table.num_rows == 0:
                continue
            ends = []
            for side in ("a", "b"):
                task = table[f"{side}_task"].to_numpy().astype(np.int64)
                index = table[f"{side}_index"].to_numpy()
                if index.max() >= 1 << _TASK_SHIFT or task.max() >= 1 << (63 - _TASK_SHIFT):
                    raise RunIntegrityError("minhash_dedup: a task or document index out of range in the links")
                ends.append((task << _TASK_SHIFT) | index)
            links.append(np.stack(ends))
            # documents not seen in an earlier band, with their ids
            keys, first = np.unique(np.concatenate(ends), return_index=True)
            at = np.minimum(np.searchsorted(known, keys), max(len(known) - 1, 0))
            new = known[at] != keys if len(known) else np.ones(len(keys), dtype=bool)
            if new.any():
                band_ids = pa.concat_arrays([table["a_id"].combine_chunks(), table["b_id"].combine_chunks()])
                new_nodes.append(keys[new])
                new_ids.append(band_ids.take(first[new]))
                known = np.union1d(known, keys[new])
        if not links:
            return np.empty(0, np.int64), np.empty(0, np.int64), known, pa.array([], type=pa.string())
        nodes = np.concatenate(new_nodes)
        order = np.argsort(nodes)
        a, b = np.concatenate(links, axis=1)
        return np.searchsorted(known, a), np.searchsorted(known, b), nodes[order], pa.concat_arrays(new_ids).take(order)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        cfg = self.config
        with self.track_time("task"):
            a, b, nodes, ids = self._read_links()
            tasks, indices = nodes >> _TASK_SHIFT, nodes & ((1 << _TASK_SHIFT) - 1)
            # number the documents in keeper order, the smallest (id, task, index) first, so that each cluster's
            # keeper is its smallest number
            order = pc.sort_indices(
                pa.table({"id": ids, "task": tasks, "index": indices}),
                sort_keys=[("id", "ascending"), ("task", "ascending"), ("index", "ascending")],
            ).to_numpy()
            number = np.empty(len(nodes), dtype=np.int64)
            number[order] = np.arange(len(nodes))
            a, b = number[a], number[b]
            # connected components: every number points at the smallest number known in its cluster; hook
            # each link's two roots onto the smaller, then jump pointers until each points at a root; done when
            # both ends of every link share a root (that root is the smallest number of the cluster)
            root = np.arange(len(nodes), dtype=np.int64)
            while True:
                ra, rb = root[a], root[b]
                if np.array_equal(ra, rb):
                    break
                low = np.minimum(ra, rb)
                np.minimum.at(root, ra, low)
                np.minimum.at(root, rb, low)
                while True:
                    jumped = root[root]
                    if np.array_equal(jumped, root):
                        break
                    root = jumped
            size = np.bincount(root, minlength=len(nodes))
            removed = np.flatnonzero(root != np.arange(len(nodes)))  # by number
            by_number = order  # number -> position in nodes
        self.stat_update("clusters", value=int(np.count_nonzero(size)))
        self.stat_update("to_remove", value=len(removed))
        node = by_number[removed]
        kept = by_number[root[removed]]
        removed_task, removed_index = tasks[node], indices[node]
        for task in range(self.tasks):
            mine = np.flatnonzero(removed_task == task)
            mine = mine[np.argsort(removed_index[mine], kind="stable")]
            table = pa.Table.from_arrays(
                [
                    pa.array(removed_index[mine]),
                    ids.take(node[mine]),
                    ids.take(kept[mine]),
                    pa.array(size[root[removed[mine]]].astype(np.int64)),
                ],
                schema=REMOVE_SCHEMA,
            )
            write_table_atomic(cfg.remove_path(task), table)
        if data:
            yield from data


class MinhashDedupStage(RefineryStage):
    """Phase 4, the funnel stage: drops each document its cluster did not keep."""

    name = "minhash_dedup"

    def __init__(self, config: MinhashConfig, output=None):
        super().__init__(output)
        self.config = config
        self._remove: dict[int, tuple[str, str, int]] = {}

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        table = pq.read_table(self.config.remove_path(rank)).to_pydict()
        self._remove = {
            i: (d, k, s) for i, d, k, s in zip(table["index"], table["doc_id"], table["kept_id"], table["cluster_size"])
        }
        yield from super().run(data, rank, world_size)

    def process(self, doc: Document) -> Drop | None:
        hit = self._remove.get(doc.metadata.get(ROW_KEY))
        if hit is None:
            return None
        doc_id, kept_id, cluster_size = hit
        if doc_id != doc.id:
            raise RunIntegrityError(f"dedup removal list does not match the documents of this task ({doc_id} != {doc.id})")
        return Drop("duplicate", value=float(cluster_size), detail=f"kept {kept_id}")
