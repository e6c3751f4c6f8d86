"""Stage `minhash_dedup`: MinHash near-duplicate removal with datasketch, in four phases so that memory stays
bounded as the corpus grows (the shape of datatrove's MinhashDedup*):

1. signatures (in the curation phase, one file per task and band, sorted by band hash then document id);
2. buckets (one task per band): a streaming merge of the sorted files of all tasks, a block of rows at a time;
   documents sharing a band hash are linked to the smallest document id of their bucket;
3. clusters (one task): connected components over those links; every cluster keeps the document with the
   smallest id, so the choice depends neither on the number of tasks nor on which worker ran what;
4. filter (the `minhash_dedup` funnel stage): each task drops its documents that are not their cluster's keeper,
   and writes `minhash_cluster_size` (the number of documents of its cluster, 1 for a unique one) on those it keeps.

The keeper is chosen among the documents still alive: documents url_dedup or exact_dedup removed (decided in the
dedup_keys phase, before the clusters) count in their cluster's size but are never its keeper. With `against:`,
the signatures earlier runs stored in their dedup_index/minhash/ join the buckets: their documents count in the
cluster sizes, always win, and every document of this run in a cluster holding one of theirs is dropped.
"""

import glob
import json
import os
import re
import shutil
import unicodedata
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from stages.base import Drop, RefineryStage, RunIntegrityError
from stages.profiles import CHAR_NGRAM, DEFAULT, profile_for
from stages.word_tokens import word_tokenizer
from stages.registry import key
from stages.documents import ROW_KEY
from refinery.atomic import AtomicParquetWriter, temp_path_for, write_json_atomic, write_table_atomic
from refinery.layout import RunLayout
from refinery.schema import CLUSTER_SIZE_SCHEMA, EDGE_SCHEMA, REMOVE_SCHEMA, SIGNATURE_SCHEMA

# the parameters an earlier run's stored signatures must share with this run's for `against:`
MATCHING_PARAMS = ("ngram", "num_perm", "bands", "rows", "seed", "profiles")
MATCHING_DEFAULTS = {"profiles": False}  # what an index written before the parameter existed was computed with
INDEX_META = "minhash.json"

_WORD = re.compile(r"\w+")


def shingles(text: str, n: int, profile=None) -> set[bytes]:
    """Word n-grams of the lower-cased text, punctuation ignored (FineWeb's 5-gram shingles). With a language's
    profile (stages/profiles.py): n-grams of its word tokenizer's words (punctuation dropped) for a language written
    with spaces, character n-grams (profiles.CHAR_NGRAM letters, marks and digits, whitespace and punctuation
    dropped) for one written without; the default profile (English, a language without one) as without."""
    if profile is not None and profile.language != DEFAULT.language:
        if profile.shingle() == "chars":
            return char_shingles(text, CHAR_NGRAM)
        words = [w for w in word_tokenizer(profile.tokenizer).word_tokenize(text.lower()) if _WORD.search(w)]
    else:
        words = _WORD.findall(text.lower())
    if len(words) < n:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)}


def char_shingles(text: str, n: int) -> set[bytes]:
    """Character n-grams of the text's letters, marks and digits (Unicode categories L, M, N), lower-cased."""
    category = unicodedata.category
    chars = "".join(c for c in text.lower() if category(c)[0] in "LMN")
    if len(chars) < n:
        return {chars.encode()} if chars else set()
    return {chars[i : i + n].encode() for i in range(len(chars) - n + 1)}


class MinhashConfig:
    """The parameters all four phases must agree on."""

    def __init__(self, work_dir: str, ngram: int = 5, num_perm: int = 112, bands: int = 14, rows: int = 8, seed: int = 1,
                 index_dir: str | None = None, profiles: bool = False):
        if bands * rows != num_perm:
            raise ValueError(f"minhash_dedup: bands x rows ({bands} x {rows}) must equal num_perm ({num_perm})")
        self.work_dir, self.ngram, self.num_perm, self.bands, self.rows, self.seed = work_dir, ngram, num_perm, bands, rows, seed
        self.profiles = profiles  # shingles by the profile of each document's language (stages/profiles.py)
        # where the signatures go: a run's dedup_index/minhash/ (kept for later runs), else work_dir
        self.index_dir = index_dir or work_dir
        self._template = None  # built on first use, in the worker

    def params(self) -> dict:
        return {k: getattr(self, k) for k in MATCHING_PARAMS}

    def _minhash(self):
        # datasketch draws num_perm permutations per MinHash(); draw them once and copy the empty sketch
        if self._template is None:
            from datasketch import MinHash

            self._template = MinHash(num_perm=self.num_perm, seed=self.seed, hashfunc=xxhash.xxh32_intdigest)
        return self._template.copy()

    def band_hashes(self, text: str, language: str | None = None) -> list[int] | None:
        grams = shingles(text, self.ngram, profile_for(language) if self.profiles else None)
        if not grams:
            return None
        mh = self._minhash()
        mh.update_batch(list(grams))
        hv = np.ascontiguousarray(mh.hashvalues, dtype=np.uint64)
        return [xxhash.xxh64_intdigest(hv[b * self.rows : (b + 1) * self.rows].tobytes()) for b in range(self.bands)]

    def sig_path(self, band: int, task: int) -> str:
        return os.path.join(self.index_dir, "sigs", f"{band:03d}", f"{task:05d}.parquet")

    def edge_path(self, band: int) -> str:
        return os.path.join(self.work_dir, "edges", f"{band:03d}.parquet")

    def remove_path(self, task: int) -> str:
        return os.path.join(self.work_dir, "remove", f"{task:05d}.parquet")

    def size_path(self, task: int) -> str:
        return os.path.join(self.work_dir, "sizes", f"{task:05d}.parquet")


def check_not_this_run(run: str, own: str | None):
    if own is not None and os.path.realpath(run) == os.path.realpath(own):
        raise ValueError(f"against: {run} is this run's own folder: name earlier runs only")


def earlier_minhash_runs(against: list[str], params: dict, own: str | None = None) -> list[tuple[str, str, int]]:
    """(name, signature folder, tasks) of each earlier run named in `against:`; raises ValueError, naming the run and
    what differs, when a run stored no signatures or stored them with other MinHash parameters (their band hashes
    would never match this run's)."""
    out = []
    for run in against:
        check_not_this_run(run, own)
        index = RunLayout(run).minhash_index
        meta_path = os.path.join(index, INDEX_META)
        try:
            with open(meta_path) as f:
                meta = json.load(f)
        except (OSError, ValueError):
            raise ValueError(f"against: {run} holds no MinHash signatures ({meta_path} missing): it is not a finished "
                             f"refinery run with minhash_dedup") from None
        there = {k: meta.get(k, MATCHING_DEFAULTS.get(k)) for k in MATCHING_PARAMS}
        differ = [f"{k} {there[k]!r} there, {params[k]!r} here" for k in MATCHING_PARAMS if there[k] != params[k]]
        if differ:
            raise ValueError(f"against: {run} computed its MinHash signatures with other parameters ({'; '.join(differ)}); "
                             f"its signatures cannot be compared with this run's: use its parameters or drop it from "
                             f"against")
        out.append((run, index, int(meta["tasks"])))
    return out

class MinhashSignatureStep(PipelineStep):
    """Phase 1: computes the band hashes of every document passing by (it forwards all of them)."""

    type = "refinery-dedup"
    name = "minhash_signatures"

    def __init__(self, config: MinhashConfig):
        super().__init__()
        self.config = config

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        cfg = self.config
        rows: list[list[tuple[int, str, int]]] = [[] for _ in range(cfg.bands)]
        for index, doc in enumerate(data):
            with self.track_time():
                hashes = cfg.band_hashes(doc.text, doc.metadata.get("language"))
                if hashes is None:
                    self.stat_update("no_shingles")
                else:
                    for band, h in enumerate(hashes):
                        rows[band].append((h, doc.id, index))
            yield doc
        for band, band_rows in enumerate(rows):
            band_rows.sort()
            table = pa.Table.from_pydict(
                {
                    "band_hash": [r[0] for r in band_rows],
                    "doc_id": [r[1] for r in band_rows],
                    "task": [rank] * len(band_rows),
                    "index": [r[2] for r in band_rows],
                },
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


def _batches(file: pq.ParquetFile, rows: int, task_shift: int = 0):
    """The file as record batches of about `rows` rows (at least a row group), reading a few row groups at a
    time: ParquetFile.iter_batches held on to memory in proportion to the file's size. task_shift is added to the
    `task` column (the rows of an earlier run get task numbers after this run's)."""
    meta = file.metadata
    group, size = [], 0
    for rg in range(meta.num_row_groups):
        group.append(rg)
        size += meta.row_group(rg).num_rows
        if size >= rows or rg == meta.num_row_groups - 1:
            # read on this thread (no CPU pool threads): Arrow's allocator then reuses the blocks freed before
            table = file.read_row_groups(group, use_threads=False).combine_chunks()
            if task_shift:
                at = table.schema.get_field_index("task")
                table = table.set_column(at, "task", pc.add(table["task"], pa.scalar(task_shift, pa.int32())))
            if table.num_rows:
                yield table.to_batches()[0]
            group, size = [], 0


MAX_MERGE_FILES = 256  # files a merge reads at once: more are first merged in groups of this many, into scratch files


def _merged_blocks(files: list[str], key: str = "band_hash", task_shifts: list[int] | None = None,
                   scratch: str | None = None):
    """The rows of sorted signature files as a series of (table, band hashes) blocks, each sorted, whose
    concatenation is the merge of the files. Rows of one hash can fall on both sides of a cut between blocks (a
    file's rows of that hash either side of one of its batches): a caller that needs all rows of a hash together
    carries the last hash over (the bucket step; key dedup's _whole_keys). A run has a file per task and
    a task per input file (a snapshot: ~90,000): past MAX_MERGE_FILES files, groups of files are merged first
    into sorted files under `scratch` (a temporary folder inside it, removed when done), so open files and
    buffered rows stay bounded whatever the number of tasks."""
    if len(files) <= MAX_MERGE_FILES:
        yield from _merge_files(files, key, task_shifts)
        return
    if scratch is None:
        raise ValueError(f"merging {len(files)} files needs a scratch folder")
    shifts = task_shifts or [0] * len(files)
    folder = temp_path_for(os.path.join(scratch, f"merge-{key}"))  # this process's: swept if it is killed
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    try:
        groups = []
        for start in range(0, len(files), MAX_MERGE_FILES):
            path = os.path.join(folder, f"{len(groups):06d}.parquet")
            schema = pq.read_schema(files[start])
            with pq.ParquetWriter(path, schema) as out:
                for block, _ in _merge_files(files[start:start + MAX_MERGE_FILES], key,
                                             shifts[start:start + MAX_MERGE_FILES]):
                    # a block is the rows of a range of keys from several files: sorted here, as every input is
                    block = block.take(pc.sort_indices(block, sort_keys=[(key, "ascending")] + _SORT_KEYS[1:]))
                    out.write_table(block.cast(schema), row_group_size=_MERGE_ROWS)  # task numbers shifted
            groups.append(path)
        yield from _merged_blocks(groups, key, None, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _merge_files(files: list[str], key: str, task_shifts: list[int] | None):
    """_merged_blocks over files few enough to read at once. A streaming k-way merge a block at a time, with no
    Python object per row: each file has one record batch buffered; every buffered row whose hash is at most the
    smallest last buffered hash of the files that have more rows can go out, as nothing still unread sorts
    before it."""
    batch_rows = max(_MIN_BATCH_ROWS, _MERGE_ROWS // max(1, len(files)))
    readers = [pq.ParquetFile(f) for f in files]
    left = [r.metadata.num_rows for r in readers]  # rows not yet in a buffer
    shifts = task_shifts or [0] * len(files)
    batches = [_batches(r, batch_rows, shift) for r, shift in zip(readers, shifts)]
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
        more = [b.column(key)[-1].as_py() for i, b in enumerate(buffers) if left[i] > 0]
        cut = min(more) if more else None
        taken, hashes = [], []
        for i in live:
            h = buffers[i].column(key).to_numpy()
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

    def __init__(self, config: MinhashConfig, tasks: int | None = None, earlier: list[tuple[str, str, int]] = ()):
        super().__init__()
        self.config = config
        self.tasks = tasks
        self.earlier = list(earlier)  # (name, signature folder, tasks) of the runs of `against:`

    def band_files(self, band: int) -> tuple[list[str], list[int]]:
        """This run's signature files of a band, then the earlier runs', with the shift of their task numbers."""
        cfg = self.config
        files = sorted(glob.glob(os.path.join(os.path.dirname(cfg.sig_path(band, 0)), "*.parquet")))
        shifts = [0] * len(files)
        shift = self.tasks if self.tasks is not None else len(files)
        for _, index, tasks in self.earlier:
            theirs = sorted(glob.glob(os.path.join(index, "sigs", f"{band:03d}", "*.parquet")))
            files += theirs
            shifts += [shift] * len(theirs)
            shift += tasks
        return files, shifts

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        cfg = self.config
        for band in range(rank, cfg.bands, world_size):
            files, shifts = self.band_files(band)
            with AtomicParquetWriter(cfg.edge_path(band), EDGE_SCHEMA, 10000) as out, self.track_time("band"):
                # head: first row of the bucket of last_hash, the previous block's last hash; that bucket may go on
                # in this block, and its head sorts before every row still to come with that hash
                head, last_hash, edges, pending = None, None, 0, []
                for block, hashes in _merged_blocks(files, task_shifts=shifts, scratch=cfg.work_dir):
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


def _by_task(task: np.ndarray, index: np.ndarray, tasks: int) -> tuple[np.ndarray, np.ndarray]:
    """(order, bounds): positions sorted by (task, index); those of task t are order[bounds[t]:bounds[t + 1]] (tasks
    at or past `tasks`, an earlier run's, in none)."""
    order = np.lexsort((index, task))
    return order, np.searchsorted(task[order], np.arange(tasks + 1), side="left")


def _distinct_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (a[i], b[i]) pairs, sorted."""
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    keep = np.ones(len(a), dtype=bool)
    keep[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    return a[keep], b[keep]


class MinhashClusterStep(PipelineStep):
    """Phase 3 (a single task): connected components over all links, in numpy; memory grows with the number of
    distinct links (16 bytes each) and of linked documents only."""

    type = "refinery-dedup"
    name = "minhash_clusters"

    def __init__(self, config: MinhashConfig, tasks: int, removed_before: list[str] = (),
                 earlier: list[tuple[str, str, int]] = ()):
        super().__init__()
        self.config = config
        self.tasks = tasks
        # folders of removal lists (KEY_REMOVE_SCHEMA, one file per task) of url_dedup and exact_dedup: their documents
        # are never a cluster's keeper
        self.removed_before = list(removed_before)
        self.earlier = list(earlier)

    def _dead_nodes(self) -> np.ndarray:
        """Sorted node numbers of the documents an earlier dedup stage of this run removed."""
        nodes = [np.empty(0, dtype=np.int64)]
        for folder in self.removed_before:
            for task in range(self.tasks):
                path = os.path.join(folder, f"{task:05d}.parquet")
                index = pq.read_table(path, columns=["index"]).column("index").to_numpy().astype(np.int64)
                nodes.append((np.int64(task) << _TASK_SHIFT) | index)
        return np.unique(np.concatenate(nodes))

    def _earlier_name(self, task: int) -> str:
        shift = self.tasks
        for name, _, tasks in self.earlier:
            if task < shift + tasks:
                return name
            shift += tasks
        raise RunIntegrityError(f"minhash_dedup: task {task} in the links belongs to no run")
    def _read_links(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array]:
        """(a, b, nodes, ids): the distinct links as positions in `nodes` (int32 while they fit), the sorted
        distinct node numbers (task << 40 | index) of the linked documents, and their ids."""
        # distinct links: near-duplicates share several bands, each link is kept once
        link_a, link_b = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        new_nodes, new_ids = [], []
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
            link_a, link_b = _distinct_pairs(np.concatenate([link_a, ends[0]]), np.concatenate([link_b, ends[1]]))
            # documents not seen in an earlier band, with their ids
            keys, first = np.unique(np.concatenate(ends), return_index=True)
            at = np.minimum(np.searchsorted(known, keys), max(len(known) - 1, 0))
            new = known[at] != keys if len(known) else np.ones(len(keys), dtype=bool)
            if new.any():
                band_ids = pa.concat_arrays([table["a_id"].combine_chunks(), table["b_id"].combine_chunks()])
                new_nodes.append(keys[new])
                new_ids.append(band_ids.take(first[new]))
                known = np.union1d(known, keys[new])
        if not len(link_a):
            return np.empty(0, np.int32), np.empty(0, np.int32), known, pa.array([], type=pa.string())
        nodes = np.concatenate(new_nodes)
        order = np.argsort(nodes)
        position = np.int32 if len(known) < 2**31 else np.int64
        a = np.searchsorted(known, link_a).astype(position)
        b = np.searchsorted(known, link_b).astype(position)
        return a, b, nodes[order], pa.concat_arrays(new_ids).take(order)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        cfg = self.config
        with self.track_time("task"):
            a, b, nodes, ids = self._read_links()
            tasks, indices = nodes >> _TASK_SHIFT, nodes & ((1 << _TASK_SHIFT) - 1)
            # number the documents in keeper order so that each cluster's keeper is its smallest number: earlier
            # runs' documents first (they always win), then this run's documents still alive, then those url_dedup
            # or exact_dedup removed (never a keeper while an alive one is in the cluster); within each, the
            # smallest (id, task, index)
            dead = np.isin(nodes, self._dead_nodes())
            rank_ = np.where(tasks >= self.tasks, 0, np.where(dead, 2, 1)).astype(np.int8)
            order = pc.sort_indices(
                pa.table({"rank": rank_, "id": ids, "task": tasks, "index": indices}),
                sort_keys=[("rank", "ascending"), ("id", "ascending"), ("task", "ascending"), ("index", "ascending")],
            ).to_numpy()
            number = np.empty(len(nodes), dtype=a.dtype)
            number[order] = np.arange(len(nodes), dtype=a.dtype)
            a, b = number[a], number[b]
            # connected components: every number points at the smallest number known in its cluster; hook
            # each link's two roots onto the smaller, then jump pointers until each points at a root; done when
            # both ends of every link share a root (that root is the smallest number of the cluster)
            root = np.arange(len(nodes), dtype=a.dtype)
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
        kept_ids = ids.take(kept)
        if self.earlier:  # a keeper of an earlier run is named with its run
            kept_task = tasks[kept]
            names = np.array([self._earlier_name(int(t)) if t >= self.tasks else "" for t in kept_task], dtype=object)
            kept_ids = pa.array([f"{k} of earlier run {n}" if n else k for k, n in zip(kept_ids.to_pylist(), names)],
                                type=pa.string())
        keepers = np.flatnonzero((root == np.arange(len(nodes))) & (size > 1))  # by number
        keeper_node = by_number[keepers]
        # one pass over the rows for all tasks (a run has a task per input file: tens of thousands), each task's
        # rows in index order
        removed_by_task, removed_bounds = _by_task(removed_task, removed_index, self.tasks)
        kept_by_task, kept_bounds = _by_task(tasks[keeper_node], indices[keeper_node], self.tasks)
        for task in range(self.tasks):
            mine = removed_by_task[removed_bounds[task]:removed_bounds[task + 1]]
            table = pa.Table.from_arrays(
                [
                    pa.array(removed_index[mine]),
                    ids.take(node[mine]),
                    kept_ids.take(mine),
                    pa.array(size[root[removed[mine]]].astype(np.int64)),
                ],
                schema=REMOVE_SCHEMA,
            )
            write_table_atomic(cfg.remove_path(task), table)
            mine = kept_by_task[kept_bounds[task]:kept_bounds[task + 1]]
            write_table_atomic(cfg.size_path(task), pa.Table.from_arrays(
                [pa.array(indices[keeper_node[mine]]), ids.take(keeper_node[mine]),
                 pa.array(size[keepers[mine]].astype(np.int64))], schema=CLUSTER_SIZE_SCHEMA))
        # what a later run's `against:` needs besides the signatures, written last: its presence says they are whole
        write_json_atomic(os.path.join(cfg.index_dir, INDEX_META), {**cfg.params(), "tasks": self.tasks})
        if data:
            yield from data


@dataclass
class MinhashParams:
    ngram: int = key(5, min=0, min_exclusive=True, help="words per shingle")
    num_perm: int = key(112, min=0, min_exclusive=True, help="hash permutations per signature")
    bands: int = key(14, min=0, min_exclusive=True, help="LSH bands (one dedup_buckets task each)")
    rows: int = key(8, min=0, min_exclusive=True, help="hashes per band")
    seed: int = key(1, help="seed of the permutations")
    profiles: bool = key(False, help="shingles by the profile of each document's `language` (stages/profiles.py): "
                                     "tokenizer words, or character n-grams for scripts without spaces")
    against: list[str] = key([], help="earlier run folders whose stored signatures (dedup_index/minhash/) this run "
                                      "deduplicates against; their documents always win")

    def problems(self) -> list[str]:
        if self.bands * self.rows != self.num_perm:
            return [f"bands x rows must equal num_perm, got {self.bands} x {self.rows} != {self.num_perm}"]
        return []


class MinhashDedupStage(RefineryStage):
    """Phase 4, the funnel stage: drops each document its cluster did not keep."""

    name = "minhash_dedup"
    order = 80
    summary = ("datasketch MinHash on word 5-grams, 14 bands x 8 rows; across all tasks (and earlier runs, "
               "`against`); each cluster keeps its smallest document id still alive; writes minhash_cluster_size")
    Params = MinhashParams
    reasons = ("duplicate",)
    fields = (("minhash_cluster_size", pa.int64()),)
    version = 2  # 2: keepers chosen among the documents url_dedup and exact_dedup left; minhash_cluster_size
    value_is_cluster_size = True
    preflight_label = "minhash_dedup (datasketch, xxhash, against)"

    @classmethod
    def preflight(cls, params):
        import datasketch  # noqa: F401
        import xxhash  # noqa: F401

        earlier_minhash_runs(params.against, {k: getattr(params, k) for k in MATCHING_PARAMS})
        if params.profiles:  # shingles by each language's word tokenizer
            from stages.profiles import check_tokenizers

            check_tokenizers()

    @classmethod
    def build(cls, params, ctx):
        # signatures in curate (after every curate filter), then buckets per band and clusters over all tasks, then
        # each finalize task drops its documents that are not their cluster's keeper
        values = asdict(params)
        against = values.pop("against")
        dedup = MinhashConfig(ctx.layout.minhash, **values, index_dir=ctx.layout.minhash_index)
        earlier = earlier_minhash_runs(against, dedup.params(), own=ctx.layout.root)
        # the documents url_dedup and exact_dedup remove (decided in dedup_keys, before the clusters) are no keepers
        from stages.key_dedup import remove_dir

        removed_before = [remove_dir(ctx.layout, name) for name in ("url_dedup", "exact_dedup") if name in ctx.params]
        ctx.add("curate", cls.order, MinhashSignatureStep(dedup))
        ctx.add_phase("dedup_buckets", rank=20, tasks=min(dedup.bands, ctx.tasks))
        ctx.add("dedup_buckets", cls.order, MinhashBucketStep(dedup, ctx.tasks, earlier))
        ctx.add_phase("dedup_clusters", rank=30, tasks=1)
        ctx.add("dedup_clusters", cls.order, MinhashClusterStep(dedup, ctx.tasks, removed_before, earlier))
        ctx.add("finalize", cls.order, cls(dedup, output=ctx.output))

    def __init__(self, config: MinhashConfig, output=None):
        super().__init__(output)
        self.config = config
        self._remove: dict[int, tuple[str, str, int]] = {}
        self._sizes: dict[int, tuple[str, int]] = {}

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        table = pq.read_table(self.config.remove_path(rank)).to_pydict()
        self._remove = {
            i: (d, k, s) for i, d, k, s in zip(table["index"], table["doc_id"], table["kept_id"], table["cluster_size"])
        }
        sizes = self.config.size_path(rank)
        table = pq.read_table(sizes).to_pydict() if os.path.exists(sizes) else {"index": [], "doc_id": [], "cluster_size": []}
        self._sizes = {i: (d, s) for i, d, s in zip(table["index"], table["doc_id"], table["cluster_size"])}
        yield from super().run(data, rank, world_size)

    def process(self, doc: Document) -> Drop | None:
        row = doc.metadata.get(ROW_KEY)
        hit = self._remove.get(row)
        if hit is None:
            kept = self._sizes.get(row)
            if kept is not None and kept[0] != doc.id:
                raise RunIntegrityError(f"dedup cluster size list does not match the documents of this task ({kept[0]} != {doc.id})")
            doc.metadata["minhash_cluster_size"] = 1 if kept is None else int(kept[1])
            return None
        doc_id, kept_id, cluster_size = hit
        if doc_id != doc.id:
            raise RunIntegrityError(f"dedup removal list does not match the documents of this task ({doc_id} != {doc.id})")
        return Drop("duplicate", value=float(cluster_size), detail=f"kept {kept_id}")
