"""Stage `minhash_dedup`: MinHash near-duplicate removal with datasketch, in four phases so that memory stays
bounded as the corpus grows (the shape of datatrove's MinhashDedup*):

1. signatures (in the curation phase, one file per task and band, sorted by band hash then document id);
2. buckets (one task per band): a streaming merge of the sorted files of all tasks; documents sharing a band
   hash are linked to the smallest document id of their bucket;
3. clusters (one task): union-find over those links; every cluster keeps the document with the smallest id,
   so the choice depends neither on the number of tasks nor on which worker ran what;
4. filter (the `minhash_dedup` funnel stage): each task drops its documents that are not their cluster's keeper.
"""

import glob
import heapq
import os
import re
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
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


class MinhashConfig:
    """The parameters all four phases must agree on."""

    def __init__(self, work_dir: str, ngram: int = 5, num_perm: int = 112, bands: int = 14, rows: int = 8, seed: int = 1):
        if bands * rows != num_perm:
            raise ValueError(f"minhash_dedup: bands x rows ({bands} x {rows}) must equal num_perm ({num_perm})")
        self.work_dir, self.ngram, self.num_perm, self.bands, self.rows, self.seed = work_dir, ngram, num_perm, bands, rows, seed
        self._template = None  # built on first use, in the worker

    def _minhash(self):
        # datasketch draws num_perm permutations per MinHash(); draw them once and copy the empty sketch
        if self._template is None:
            from datasketch import MinHash

            self._template = MinHash(num_perm=self.num_perm, seed=self.seed, hashfunc=xxhash.xxh32_intdigest)
        return self._template.copy()

    def band_hashes(self, text: str) -> list[int] | None:
        grams = shingles(text, self.ngram)
        if not grams:
            return None
        mh = self._minhash()
        mh.update_batch(list(grams))
        hv = np.ascontiguousarray(mh.hashvalues, dtype=np.uint64)
        return [xxhash.xxh64_intdigest(hv[b * self.rows : (b + 1) * self.rows].tobytes()) for b in range(self.bands)]

    def sig_path(self, band: int, task: int) -> str:
        return os.path.join(self.work_dir, "sigs", f"{band:03d}", f"{task:05d}.parquet")

    def edge_path(self, band: int) -> str:
        return os.path.join(self.work_dir, "edges", f"{band:03d}.parquet")

    def remove_path(self, task: int) -> str:
        return os.path.join(self.work_dir, "remove", f"{task:05d}.parquet")


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
                hashes = cfg.band_hashes(doc.text)
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


def _iter_sorted(path: str):
    for batch in pq.ParquetFile(path).iter_batches(batch_size=10000):
        cols = batch.to_pydict()
        yield from zip(cols["band_hash"], cols["doc_id"], cols["task"], cols["index"])


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
            with AtomicParquetWriter(cfg.edge_path(band), EDGE_SCHEMA, 10000) as out:
                head, last_hash, edges = None, None, 0
                with self.track_time():
                    for h, doc_id, task, index in heapq.merge(*(_iter_sorted(f) for f in files)):
                        if h != last_hash:
                            head, last_hash = (doc_id, task, index), h
                            continue
                        edges += 1
                        out.write(
                            {"a_id": head[0], "a_task": head[1], "a_index": head[2], "b_id": doc_id, "b_task": task, "b_index": index}
                        )
                self.stat_update("edges", value=edges)
        if data:
            yield from data


class MinhashClusterStep(PipelineStep):
    """Phase 3 (a single task): union-find over all links; memory grows with duplicated documents only."""

    type = "refinery-dedup"
    name = "minhash_clusters"

    def __init__(self, config: MinhashConfig, tasks: int):
        super().__init__()
        self.config = config
        self.tasks = tasks

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        cfg = self.config
        parent: dict[tuple[int, int], tuple[int, int]] = {}
        ids: dict[tuple[int, int], str] = {}

        def find(x):
            root = x
            while parent[root] != root:
                root = parent[root]
            while parent[x] != root:
                parent[x], x = root, parent[x]
            return root

        def union(a, b):
            ra, rb = find(a), find(b)
            if ra == rb:
                return
            # the root is always the member with the smallest (id, task, index): the cluster's keeper
            if (ids[rb], rb) < (ids[ra], ra):
                ra, rb = rb, ra
            parent[rb] = ra

        with self.track_time():
            for band in range(cfg.bands):
                path = cfg.edge_path(band)
                for batch in pq.ParquetFile(path).iter_batches(batch_size=50000):
                    c = batch.to_pydict()
                    for a_id, a_t, a_i, b_id, b_t, b_i in zip(
                        c["a_id"], c["a_task"], c["a_index"], c["b_id"], c["b_task"], c["b_index"]
                    ):
                        a, b = (a_t, a_i), (b_t, b_i)
                        for node, doc_id in ((a, a_id), (b, b_id)):
                            if node not in parent:
                                parent[node] = node
                                ids[node] = doc_id
                        union(a, b)
            size: dict[tuple[int, int], int] = defaultdict(int)
            for node in parent:
                size[find(node)] += 1
            per_task: dict[int, list[tuple[int, str, str, int]]] = defaultdict(list)
            for node in parent:
                root = find(node)
                if root != node:
                    per_task[node[0]].append((node[1], ids[node], ids[root], size[root]))
        self.stat_update("clusters", value=sum(1 for n in parent if find(n) == n))
        self.stat_update("to_remove", value=sum(len(v) for v in per_task.values()))
        for task in range(self.tasks):
            rows = sorted(per_task.get(task, []))
            table = pa.Table.from_pydict(
                {
                    "index": [r[0] for r in rows],
                    "doc_id": [r[1] for r in rows],
                    "kept_id": [r[2] for r in rows],
                    "cluster_size": [r[3] for r in rows],
                },
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
