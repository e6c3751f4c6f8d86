"""What url_dedup and exact_dedup share: one key per document (a hash of its normalised URL, of its normalised
text), one document kept per key across the whole run, with memory bounded as for MinHash:

1. keys (in the curation phase, after every curate filter): each task writes its (key, id, task, index, date)
   rows sorted by key then id, one file per task;
2. merge (phase dedup_keys, one task, before MinHash's clusters): a streaming k-way merge of the sorted files of
   all tasks (and, with `against:`, of the earlier runs' files), a block of keys at a time; every key keeps one
   document (the stage says which) and the others go to a removal list per task. url_dedup decides first and
   exact_dedup only among the documents url_dedup left, so that no text is lost because its two copies were each
   removed by another stage; MinHash then picks its keepers among the documents both left;
3. filter (the funnel stage, in finalize): each task drops the documents of its removal list.

Memory: the merge holds one block of rows (about 16k) and the removal list (one row per removed document); the
key phase holds a Python tuple per document of its task (~150 bytes) until it writes the sorted file (~60 bytes a row
on disk).
"""

import glob
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from refinery.atomic import write_json_atomic, write_table_atomic
from refinery.schema import KEY_REMOVE_SCHEMA, KEY_SCHEMA
from stages.base import Drop, RefineryStage, RunIntegrityError
from stages.documents import ROW_KEY
from stages.minhash_dedup import _TASK_SHIFT, _by_task, _merged_blocks, _release_freed


def work_dir(layout, stage: str) -> str:
    """A key stage's intermediates (work/keys/<stage>/): its removal lists are in remove/ there, one file per task."""
    return os.path.join(layout.keys, stage)


def remove_dir(layout, stage: str) -> str:
    """The folder of a key stage's removal lists (one `{task:05d}.parquet` per task), for the steps after it."""
    return os.path.join(work_dir(layout, stage), "remove")


class KeyFiles:
    """Where a key stage's files are: its keys (`key_dir`, kept for later runs when it is the dedup_index) and its
    removal lists (`work_dir`/remove)."""

    def __init__(self, key_dir: str, work_dir: str):
        self.key_dir, self.work_dir = key_dir, work_dir

    def key_path(self, task: int) -> str:
        return os.path.join(self.key_dir, f"{task:05d}.parquet")

    def key_files(self) -> list[str]:
        return sorted(glob.glob(os.path.join(self.key_dir, "*.parquet")))

    @property
    def remove_dir(self) -> str:
        return os.path.join(self.work_dir, "remove")

    def remove_path(self, task: int) -> str:
        return os.path.join(self.remove_dir, f"{task:05d}.parquet")


class KeyStep(PipelineStep):
    """Phase 1: the key of every document passing by (it forwards all of them); `key_of` returns None for a
    document that has no key (no URL): it is never a duplicate."""

    type = "refinery-dedup"

    def __init__(self, name: str, files: KeyFiles, key_of, with_date: bool = False):
        super().__init__()
        self.name = f"{name}_keys"
        self.files, self.key_of, self.with_date = files, key_of, with_date

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        rows = []
        for index, doc in enumerate(data):
            with self.track_time():
                k = self.key_of(doc)
                if k is None:
                    self.stat_update("no_key")
                else:
                    rows.append((k, doc.id, index, (doc.metadata.get("date") or None) if self.with_date else None))
            yield doc
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        table = pa.Table.from_pydict(
            {"key": [r[0] for r in rows], "doc_id": [r[1] for r in rows], "task": [rank] * len(rows),
             "index": [r[2] for r in rows], "date": [r[3] for r in rows]},
            schema=KEY_SCHEMA,
        )
        write_table_atomic(self.files.key_path(rank), table)


def dead_nodes(folders: list[str], tasks: int) -> np.ndarray:
    """Sorted node numbers (task << 40 | index) of the documents in the removal lists of these folders."""
    nodes = [np.empty(0, dtype=np.int64)]
    for folder in folders:
        for task in range(tasks):
            index = pq.read_table(os.path.join(folder, f"{task:05d}.parquet"), columns=["index"])
            nodes.append((np.int64(task) << _TASK_SHIFT) | index.column("index").to_numpy().astype(np.int64))
    return np.unique(np.concatenate(nodes))


def _whole_keys(blocks):
    """The merge's blocks (each the rows of a range of keys), regrouped so that all rows of a key are in one block:
    the merge can cut between rows of the same key (a file's rows of one key on both sides of one of its batches),
    and each block keeps one document per key. The rows of a block's largest key wait for the next block, as
    later blocks hold no smaller key."""
    carry = None
    for block, _ in blocks:
        if carry is not None:
            block = pa.concat_tables([carry, block])
        keys = block["key"].to_numpy()
        last = keys == keys.max()
        carry = block.filter(pa.array(last))
        if not last.all():
            yield block.filter(pa.array(~last))
    if carry is not None:
        yield carry


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """values[i] in sorted_set, by binary search (np.isin sorts the set again on every call)."""
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[at] == values


class KeyMergeStep(PipelineStep):
    """Phase 2 (a single task): one document kept per key. `sort_keys`: the keeper order within a key after the
    earlier runs' rows (which always win); `reason`: why this run's other documents go; `removed_before`: removal
    folders of a stage that decided before (their documents take no part); `earlier`: (name, key folder, tasks)
    of the runs of `against:`."""

    type = "refinery-dedup"

    def __init__(self, name: str, files: KeyFiles, tasks: int, reason: str, detail: str, sort_keys: list,
                 removed_before: list[str] = (), earlier: list = (), meta: tuple[str, dict] | None = None):
        super().__init__()
        self.name = f"{name}_merge"
        self.files, self.tasks, self.reason, self.detail = files, tasks, reason, detail
        self.sort_keys = sort_keys
        self.removed_before, self.earlier, self.meta = list(removed_before), list(earlier), meta

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        # the steps before this one in the phase (url_dedup's merge before exact_dedup's) run to the end first
        if data:
            yield from data
        with self.track_time("task"):
            self._merge()

    def _merge(self):
        files = [self.files.key_path(t) for t in range(self.tasks)]
        shifts = [0] * len(files)
        names = []  # (first task number, name) of each earlier run
        shift = self.tasks
        for name, folder, tasks in self.earlier:
            theirs = sorted(glob.glob(os.path.join(folder, "*.parquet")))
            files += theirs
            shifts += [shift] * len(theirs)
            names.append((shift, name))
            shift += tasks
        dead = dead_nodes(self.removed_before, self.tasks)
        out: list[pa.Table] = []
        removed = groups = 0
        blocks = _merged_blocks(files, key="key", task_shifts=shifts, scratch=self.files.work_dir)
        for block in _whole_keys(blocks):
            task = block["task"].to_numpy().astype(np.int64)
            node = (task << _TASK_SHIFT) | block["index"].to_numpy().astype(np.int64)
            alive = ~_member(node, dead)
            block = block.filter(pa.array(alive))
            if block.num_rows == 0:
                continue
            earlier = pa.array(block["task"].to_numpy() >= self.tasks)
            block = block.append_column("earlier", earlier)
            block = block.take(pc.sort_indices(block, sort_keys=[("key", "ascending"), ("earlier", "descending")]
                                               + self.sort_keys))
            keys = block["key"].to_numpy()
            starts = np.ones(len(keys), dtype=bool)
            np.not_equal(keys[1:], keys[:-1], out=starts[1:])
            first = np.maximum.accumulate(np.where(starts, np.arange(len(keys)), 0))  # row -> its key's first row
            group_id = np.cumsum(starts) - 1
            size = np.bincount(group_id)[group_id]
            groups += int(starts.sum())
            tasks = block["task"].to_numpy()
            gone = np.flatnonzero(~starts & (tasks < self.tasks))
            if not len(gone):
                continue
            removed += len(gone)
            keeper = first[gone]
            ids = block["doc_id"]
            kept_ids = ids.take(keeper).to_pylist()
            kept_tasks = tasks[keeper]
            reasons, details = [], []
            for kid, kt in zip(kept_ids, kept_tasks):
                if kt >= self.tasks:
                    run = [n for s, n in names if s <= kt][-1]
                    reasons.append("duplicate")
                    details.append(f"{self.detail} {kid} of earlier run {run}")
                else:
                    reasons.append(self.reason)
                    details.append(f"{self.detail} {kid}")
            out.append(pa.table({"task": pa.array(tasks[gone]), "index": block["index"].take(gone),
                                 "doc_id": ids.take(gone), "reason": pa.array(reasons, pa.string()),
                                 "detail": pa.array(details, pa.string()), "group_size": pa.array(size[gone].astype(np.int64))}))
            _release_freed()
        self.stat_update("keys", value=groups)
        self.stat_update("to_remove", value=removed)
        table = pa.concat_tables(out) if out else None
        if table is not None:  # sorted once for all tasks (one per input file: tens of thousands), then sliced
            order, bounds = _by_task(table["task"].to_numpy(), table["index"].to_numpy(), self.tasks)
            table = table.take(order)
        for t in range(self.tasks):
            if table is None:
                mine = KEY_REMOVE_SCHEMA.empty_table()
            else:
                mine = table.slice(int(bounds[t]), int(bounds[t + 1] - bounds[t]))
                mine = pa.Table.from_arrays([mine[n] for n in KEY_REMOVE_SCHEMA.names], schema=KEY_REMOVE_SCHEMA)
            write_table_atomic(self.files.remove_path(t), mine)
        if self.meta is not None:  # written last: its presence says the stored keys are whole
            path, values = self.meta
            write_json_atomic(path, {**values, "tasks": self.tasks})


def read_index_meta(run: str, path: str, what: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        raise ValueError(f"against: {run} holds no {what} ({path} missing): it is not a finished refinery run with "
                         f"that stage") from None


class KeyDedupStage(RefineryStage):
    """Phase 3, the funnel stage: drops the documents of its task's removal list."""

    def __init__(self, files: KeyFiles, output=None):
        super().__init__(output)
        self.files = files
        self._remove: dict[int, tuple] = {}

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        t = pq.read_table(self.files.remove_path(rank)).to_pydict()
        self._remove = {i: (d, r, x, s) for i, d, r, x, s in
                        zip(t["index"], t["doc_id"], t["reason"], t["detail"], t["group_size"])}
        yield from super().run(data, rank, world_size)

    def process(self, doc: Document) -> Drop | None:
        hit = self._remove.get(doc.metadata.get(ROW_KEY))
        if hit is None:
            return None
        doc_id, reason, detail, size = hit
        if doc_id != doc.id:
            raise RunIntegrityError(f"{self.name}: removal list does not match the documents of this task "
                                    f"({doc_id} != {doc.id})")
        return Drop(reason, value=float(size), detail=detail)
