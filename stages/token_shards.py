"""Token shard stage: curated documents -> Parquet token shards (DIR/shards/{train,val}/) + manifest.json.

The tokenizer stage's phases (pipeline/build.py runs them in this order):
  tokenizer        1 task: counts the characters of documents/ per language, column by column, then trains the BPE
                   on the documents whose id_fraction(id, "tokenizer_sample") < p, each taken as many times as
                   `shards.language_weights` puts it in the shards; p makes that sample about sample_chars characters
  tokenize         one task per documents file, row group by row group: each copy of a document (language_weights
                   drops or repeats documents by id hash) is encoded, EOS appended, and given a 64-bit order key (a
                   hash of seed, copy and id) and the range of keys it falls in (one range per task); the task's rows
                   go, in key order, to work/tokens/<split>/<task>.parquet
  shards           one task per key range: takes its range's rows from every tokenize task's file, sorts them by
                   (key, doc_id) and writes shards/<split>/<split>_<range>_<n>.parquet, a new file every shard_tokens
                   tokens, and a part manifest (work/tokens/parts/)
  shards_manifest  1 task, once every range is written: merges the part manifests, in range order, into
                   shards/manifest.json, then deletes work/tokens/
So the rows of a split, read through the manifest's shards in order, are in key order: the token stream is the same
for any task or worker layout; only where one shard file ends and the next begins depends on the layout.
The train/val split is decided by a hash of the document id (every copy of a document in the same split).
A task holds its own rows' ids, keys and lengths (its tokens are spilled to a flat temporary file, about 2 bytes a
token), never anything per document of the whole corpus.
"""

import array
import glob
import json
import math
import os
import shutil
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from stages.base import id_fraction, id_hash
from refinery.atomic import AtomicParquetWriter, disk_full_error, is_disk_full, write_json_atomic
from refinery.schema import token_shard_schema, token_spill_schema
from refinery.layout import SPLITS, RunLayout, ShardLayout, file_sha256
from stages.registry import Stage, key
from stages.tokenizer import EOS, build_tokenizer

# a document whose `language` is null counts (and is weighted) under this key ("undetermined", ISO 639-2)
UNKNOWN_LANGUAGE = "und"
SAMPLE_PURPOSE, WEIGHT_PURPOSE = "tokenizer_sample", "language_weight"  # salts of id_fraction
SPILL_ROWS = 1000  # rows per row group of the tokenize tasks' files
# Key ranges, one `shards` task each: at most this many. A shards task reads the footer of every tokenize file and
# holds its range's rows, so files x ranges footer reads against corpus / ranges tokens in memory: at a snapshot
# (~90,000 files, ~300B tokens) 4,096 ranges are ~370M footer reads and ~75M tokens (~150 MB) per task.
MAX_SHARD_RANGES = 4096


def shard_ranges(files: int) -> int:
    """How many key ranges (shards tasks) a corpus in `files` documents files gets."""
    return max(1, min(files, MAX_SHARD_RANGES))


def is_val(doc_id: str, val_fraction: float) -> bool:
    return id_fraction(doc_id) < val_fraction


def language_key(language: str | None) -> str:
    return language or UNKNOWN_LANGUAGE


def language_weight(language: str | None, weights: dict | None) -> float:
    return float((weights or {}).get(language_key(language), 1.0))


def copies(doc_id: str, language: str | None, weights: dict | None) -> int:
    """How many times a document goes into the shards: floor(w), plus one when id_fraction(id, "language_weight")
    < w - floor(w) (so w < 1 keeps that share of the language's documents, w = 2.5 doubles them and repeats half
    of them once more)."""
    w = language_weight(language, weights)
    whole = math.floor(w)
    return whole + int(w > whole and id_fraction(doc_id, WEIGHT_PURPOSE) < w - whole)


def order_key(doc_id: str, copy: int, seed: int) -> int:
    """A row's place in the shards: a 64-bit hash of (seed, copy, id), so the order is a seeded shuffle that no task
    layout changes, and the copies of a repeated document are spread apart."""
    return id_hash(doc_id, f"{seed}/{copy}/")


def key_range(keys: np.ndarray, ranges: int) -> np.ndarray:
    """The range (0 .. ranges-1) of each uint64 key: about key * ranges / 2**64, exact in integers and monotone in
    the key, so range r's rows all come before range r+1's."""
    return ((keys >> np.uint64(32)) * np.uint64(ranges)) >> np.uint64(32)


def _batches(path: str, columns: tuple[str, ...], batch_size: int = 1000):
    """Record batches of a documents file (a column it lacks, e.g. `language`, comes as nulls)."""
    pf = pq.ParquetFile(path)
    present = [c for c in columns if c in pf.schema_arrow.names]
    for batch in pf.iter_batches(batch_size=batch_size, columns=present):
        yield {c: batch.column(c).to_pylist() if c in present else [None] * batch.num_rows for c in columns}


# -- the tokenizer's sample ----------------------------------------------------------------------------------------
def count_chars(files: list[str]) -> dict[str, int]:
    """Characters of text per language over the documents files, row group by row group, one column at a time."""
    counts: dict[str, int] = {}
    for path in files:
        pf = pq.ParquetFile(path)
        has_language = "language" in pf.schema_arrow.names
        for g in range(pf.num_row_groups):
            chars = pc.fill_null(pc.utf8_length(pf.read_row_group(g, columns=["text"]).column(0)), 0)
            languages = (pf.read_row_group(g, columns=["language"]).column(0) if has_language
                         else pa.nulls(len(chars), pa.string()))
            per = pa.table({"language": pc.fill_null(languages, UNKNOWN_LANGUAGE), "chars": chars}) \
                .group_by("language").aggregate([("chars", "sum")])
            for lang, n in zip(per.column("language").to_pylist(), per.column("chars_sum").to_pylist()):
                counts[lang] = counts.get(lang, 0) + int(n or 0)
    return dict(sorted(counts.items()))


def sample_fraction(chars: dict[str, int], weights: dict | None, sample_chars: int) -> float:
    """p such that the documents with id_fraction(id, "tokenizer_sample") < p, weighted as the shards weight them,
    hold about sample_chars characters (1: the whole corpus is smaller than that)."""
    weighted = sum(n * language_weight(lang, weights) for lang, n in chars.items())
    return 1.0 if weighted <= sample_chars else sample_chars / weighted


def sampled_texts(files: list[str], fraction: float, weights: dict | None):
    """The texts of the tokenizer's sample, each as many times as the shards will hold it."""
    for path in files:
        for b in _batches(path, ("id", "text", "language")):
            for doc_id, text, language in zip(b["id"], b["text"], b["language"]):
                if text and id_fraction(doc_id, SAMPLE_PURPOSE) < fraction:
                    for _ in range(copies(doc_id, language, weights)):
                        yield text


def train_tokenizer(files: list[str], out_path: str, vocab_size: int, sample_chars: int, min_frequency: int,
                    path: str | None = None, language_weights: dict | None = None) -> dict:
    """Trains (or, with `path`, copies) the tokenizer on the id-hash sample of the documents files; returns what the
    sample was (characters per language, the fraction p)."""
    if path:
        build_tokenizer([], out_path, vocab_size, None, min_frequency, existing=path)
        return {}
    chars = count_chars(files)
    fraction = sample_fraction(chars, language_weights, sample_chars)
    build_tokenizer(sampled_texts(files, fraction, language_weights), out_path, vocab_size, None, min_frequency, None)
    return {"chars": chars, "fraction": fraction}


# -- tokenize: one documents file -> its rows, in key order ----------------------------------------------------------
def tokenizer_meta(tokenizer_path: str):
    from stages.tokenizer import load_text_encoder

    tok = load_text_encoder(tokenizer_path)
    vocab = tok.get_vocab_size()
    dtype = "uint16" if vocab <= 2**16 else "uint32"
    meta = {"tokenizer_sha256": file_sha256(tokenizer_path), "vocab_size": vocab, "eos_id": tok.token_to_id(EOS),
            "dtype": dtype}
    return tok, meta


def spill_file(work_dir: str, split: str, task: int) -> str:
    return os.path.join(work_dir, split, f"{task:05d}.parquet")


def part_file(work_dir: str, task: int) -> str:
    return os.path.join(work_dir, "parts", f"{task:05d}.json")


def encode_documents(docs_file: str | None, tokenizer_path: str, work_dir: str, task: int, ranges: int,
                     val_fraction: float, seed: int, language_weights: dict | None = None, batch_size: int = 512,
                     stat=lambda name, value=1: None):
    """Encodes one documents file (None or absent: no documents) into work_dir/<split>/<task>.parquet, rows sorted by
    order key, each row tagged with its key range."""
    tok, meta = tokenizer_meta(tokenizer_path)
    eos, dtype = meta["eos_id"], meta["dtype"]
    spill = {s: _TokenSpill(os.path.join(work_dir, s, f".{task:05d}.tokens.tmp-{os.getpid()}"), dtype) for s in SPLITS}
    try:
        def encode(batch):
            encodings = tok.encode_batch([t or "" for _, t, _, _ in batch], add_special_tokens=False)
            for (doc_id, _, language, n), enc in zip(batch, encodings):
                ids = enc.ids
                ids.append(eos)
                sp = spill["val" if is_val(doc_id, val_fraction) else "train"]
                for c in range(n):
                    sp.add(doc_id, language_key(language), order_key(doc_id, c, seed), ids)
                stat("copies", n)

        # tokenized as read, so only one batch of text is held at a time
        batch = []
        if docs_file and os.path.exists(docs_file):
            for b in _batches(docs_file, ("id", "text", "language")):
                for doc_id, text, language in zip(b["id"], b["text"], b["language"]):
                    stat("documents")
                    n = copies(doc_id, language, language_weights)
                    if not n:
                        stat("weighted_out")
                        continue
                    batch.append((doc_id, text, language, n))
                    if len(batch) == batch_size:
                        encode(batch)
                        batch = []
        encode(batch)
        for split, sp in spill.items():
            sp.write_sorted(spill_file(work_dir, split, task), ranges)
    finally:
        for sp in spill.values():
            sp.remove()


class _TokenSpill:
    """One split's rows of a task as read: ids, languages, keys and lengths in memory, token ids appended to a flat
    binary file."""

    def __init__(self, path: str, dtype: str):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.path, self.dtype = path, np.dtype(dtype)
        self._typecode = next(c for c in "HILQ" if array.array(c).itemsize == self.dtype.itemsize)
        self.doc_ids: list[str] = []
        self.languages: list[str] = []
        self.keys: list[int] = []
        self.lengths: list[int] = []
        self._file = open(path, "wb", buffering=1 << 20)

    def add(self, doc_id: str, language: str, order: int, ids: list[int]):
        self.doc_ids.append(doc_id)
        self.languages.append(language)
        self.keys.append(order)
        self.lengths.append(len(ids))
        try:
            self._file.write(array.array(self._typecode, ids))  # native byte order, as np.memmap reads it
        except OSError as e:
            if is_disk_full(e):
                raise disk_full_error(self.path, "token spill file") from e
            raise

    def tokens(self) -> np.ndarray:
        """All token ids, in reading order (a read-only memory map: pages come from disk as rows need them)."""
        self._file.close()
        if not os.path.getsize(self.path):
            return np.empty(0, self.dtype)
        return np.asarray(np.memmap(self.path, dtype=self.dtype, mode="r"))

    def write_sorted(self, path: str, ranges: int):
        schema = token_spill_schema(str(self.dtype))
        flat = self.tokens()
        keys = np.asarray(self.keys, dtype=np.uint64)
        lengths = np.asarray(self.lengths, dtype=np.int64)
        starts = np.zeros(len(lengths), dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        order = np.argsort(keys, kind="stable")
        dests = key_range(keys[order], ranges).astype(np.int32)
        ids_type = schema.field("input_ids").type
        with AtomicParquetWriter(path, schema, SPILL_ROWS) as out:
            for g in range(0, len(order), SPILL_ROWS):
                rows = order[g : g + SPILL_ROWS]
                n = lengths[rows]
                offsets = np.zeros(len(rows) + 1, dtype=np.int32)
                np.cumsum(n, out=offsets[1:])
                values = np.concatenate([flat[starts[i] : starts[i] + lengths[i]] for i in rows])
                out.write_table(pa.table({
                    "key": pa.array(keys[rows], pa.uint64()),
                    "range": pa.array(dests[g : g + SPILL_ROWS], pa.int32()),
                    "doc_id": pa.array([self.doc_ids[i] for i in rows], pa.string()),
                    "language": pa.array([self.languages[i] for i in rows], pa.string()),
                    "input_ids": pa.ListArray.from_arrays(pa.array(offsets), pa.array(values), type=ids_type),
                    "num_tokens": pa.array(n.astype(np.int32), type=pa.int32()),
                }, schema=schema))

    def remove(self):
        try:
            self._file.close()  # flushing can fail on a full disk: the file goes all the same
        except OSError:
            pass
        if os.path.exists(self.path):
            os.remove(self.path)


# -- shards: one key range -> its shard files ------------------------------------------------------------------------
def _range_rows(work_dir: str, split: str, task: int, sources: int) -> pa.Table:
    """Range `task`'s rows of one split from every tokenize task's file, sorted by (key, doc_id); only the row
    groups whose `range` statistics include the task are read."""
    parts = []
    schema = None
    for source in range(sources):
        pf = pq.ParquetFile(spill_file(work_dir, split, source))  # absent: the tokenize phase is incomplete, fail
        schema = pf.schema_arrow
        col = schema.get_field_index("range")
        for g in range(pf.metadata.num_row_groups):
            st = pf.metadata.row_group(g).column(col).statistics
            if st is not None and st.has_min_max and not st.min <= task <= st.max:
                continue
            t = pf.read_row_group(g)
            t = t.filter(pc.equal(t.column("range"), task))
            if t.num_rows:
                parts.append(t)
    if not parts:
        return schema.empty_table() if schema is not None else None
    table = pa.concat_tables(parts)
    return table.take(pc.sort_indices(table, sort_keys=[("key", "ascending"), ("doc_id", "ascending")]))


def write_range(work_dir: str, out_dir: str, tokenizer_path: str, task: int, sources: int, shard_tokens: int,
                row_group_rows: int) -> dict:
    """Writes key range `task`'s shards (a new file once one holds shard_tokens tokens or more) and its part
    manifest; returns the part manifest."""
    _, meta = tokenizer_meta(tokenizer_path)
    schema = token_shard_schema(meta["dtype"], meta)
    shards = ShardLayout(out_dir)
    part = {}
    for split in SPLITS:
        folder = shards.split(split)
        os.makedirs(folder, exist_ok=True)
        for old in glob.glob(os.path.join(folder, f"{split}_{task:05d}_*.parquet")):
            os.remove(old)  # a rerun rewrites the range whole
        table = _range_rows(work_dir, split, task, sources)
        names = []
        tokens = table.column("num_tokens").to_numpy() if table is not None else np.empty(0, np.int32)
        cuts, now = [0], 0
        for i, n in enumerate(tokens.tolist()):
            now += n
            if now >= shard_tokens:
                cuts.append(i + 1)
                now = 0
        if cuts[-1] != len(tokens):
            cuts.append(len(tokens))
        for a, b in zip(cuts, cuts[1:]):
            name = f"{split}_{task:05d}_{len(names):05d}.parquet"
            with AtomicParquetWriter(shards.shard(split, name), schema, row_group_rows) as out:
                out.write_table(table.slice(a, b - a).select(["input_ids", "doc_id", "num_tokens"]))
            names.append(name)
        by_language: dict[str, dict] = {}
        if table is not None and table.num_rows:
            per = table.group_by("language").aggregate([("num_tokens", "sum"), ("num_tokens", "count")])
            for lang, t, r in zip(*(per.column(c).to_pylist() for c in ("language", "num_tokens_sum", "num_tokens_count"))):
                by_language[lang] = {"rows": int(r), "tokens": int(t)}
        part[split] = {"shards": names, "rows": len(tokens), "tokens": int(tokens.sum()), "languages": by_language}
    write_json_atomic(part_file(work_dir, task), part)
    return part


def merge_manifest(work_dir: str, out_dir: str, tokenizer_path: str, ranges: int, seed: int,
                   language_weights: dict | None) -> dict:
    """shards/manifest.json from the part manifests of ranges 0 .. ranges-1, in that order; then work_dir goes."""
    if not os.path.isdir(work_dir) and os.path.exists(ShardLayout(out_dir).manifest):
        return ShardLayout(out_dir).read_manifest()  # merged, then killed once its parts were gone: done
    _, meta = tokenizer_meta(tokenizer_path)
    splits = {s: {"shards": [], "rows": 0, "tokens": 0, "languages": {}} for s in SPLITS}
    for task in range(ranges):
        with open(part_file(work_dir, task)) as f:  # absent: the shards phase is incomplete, fail
            part = json.load(f)
        for split, info in part.items():
            out = splits[split]
            out["shards"] += info["shards"]
            out["rows"] += info["rows"]
            out["tokens"] += info["tokens"]
            for lang, c in info["languages"].items():
                have = out["languages"].setdefault(lang, {"rows": 0, "tokens": 0})
                have["rows"] += c["rows"]
                have["tokens"] += c["tokens"]
    languages: dict[str, dict] = {}
    for info in splits.values():
        info["languages"] = dict(sorted(info["languages"].items()))
        for lang, c in info["languages"].items():
            have = languages.setdefault(lang, {"rows": 0, "tokens": 0})
            have["rows"] += c["rows"]
            have["tokens"] += c["tokens"]
    manifest = {**meta, "splits": splits, "languages": dict(sorted(languages.items())),
                "language_weights": dict(sorted((language_weights or {}).items())), "seed": seed}
    write_json_atomic(ShardLayout(out_dir).manifest, manifest)
    _remove_work(work_dir)
    return manifest


def _remove_work(work_dir: str):
    """Renamed first (to a temporary name the next run sweeps), so a kill while deleting leaves no half folder."""
    gone = os.path.join(os.path.dirname(work_dir), f".{os.path.basename(work_dir)}.tmp-{os.getpid()}")
    os.replace(work_dir, gone)
    shutil.rmtree(gone, ignore_errors=True)


def write_token_shards(docs_folder: str, tokenizer_path: str, out_dir: str, val_fraction: float = 0.01, seed: int = 1234,
                       shard_tokens: int = 50_000_000, row_group_rows: int = 1000, batch_size: int = 512,
                       language_weights: dict | None = None) -> dict:
    """The three shard phases in this process, one task per documents file (for tools that tokenize a documents
    folder outside `refinery run`: ablate, filter); gives what a run with that many tasks gives."""
    files = sorted(glob.glob(os.path.join(docs_folder, "*.parquet")))
    sources, ranges = max(1, len(files)), shard_ranges(len(files))
    work_dir = os.path.join(out_dir, f".work.tmp-{os.getpid()}")  # a killed run's is swept (refinery/atomic.py)
    shards = ShardLayout(out_dir)
    for split in SPLITS:
        for old in glob.glob(os.path.join(shards.split(split), f"{split}_*.parquet")):
            os.remove(old)  # a rerun rewrites the shards whole (the folder's lock keeps any other run out)
    try:
        for task in range(sources):
            encode_documents(files[task] if files else None, tokenizer_path, work_dir, task, ranges, val_fraction,
                             seed, language_weights, batch_size)
        for task in range(ranges):
            write_range(work_dir, out_dir, tokenizer_path, task, sources, shard_tokens, row_group_rows)
        return merge_manifest(work_dir, out_dir, tokenizer_path, ranges, seed, language_weights)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


# -- the phases' steps -------------------------------------------------------------------------------------------
class _TokenStep(PipelineStep):
    type = "refinery-tokens"

    def __init__(self, layout: RunLayout, tokenizer: dict, shards: dict | None, tasks: int):
        super().__init__()
        # tasks: the documents files (tokenize tasks); ranges: the key ranges (shards tasks)
        self.layout, self.tokenizer, self.shards, self.tasks = layout, tokenizer, shards, tasks
        self.ranges = shard_ranges(tasks)

    @property
    def weights(self) -> dict | None:
        return (self.shards or {}).get("language_weights")

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.track_time("run"):
            self.work(rank)
        if data:
            yield from data

    def work(self, rank: int):
        raise NotImplementedError


class TrainTokenizerStep(_TokenStep):
    """The `tokenizer` phase (one task): trains (or copies) the tokenizer on the id-hash sample."""

    name = "tokenizer"

    def work(self, rank: int):
        t = self.tokenizer
        sample = train_tokenizer(self.layout.document_files(), self.layout.tokenizer, t["vocab_size"],
                                 t["sample_chars"], t["min_frequency"], t["path"], self.weights)
        if sample:
            self.stat_update("corpus_chars", value=sum(sample["chars"].values()))
            self.stat_update("sample_per_million", value=round(sample["fraction"] * 1e6))


class TokenizeStep(_TokenStep):
    """The `tokenize` phase (one task per documents file): encodes the task's documents into work/tokens/."""

    name = "tokenize"

    def work(self, rank: int):
        from stages.documents import task_file

        s = self.shards
        encode_documents(task_file(self.layout.documents, rank), self.layout.tokenizer, self.layout.token_work, rank,
                         self.ranges, s["val_fraction"], s["seed"], self.weights, stat=self.stat_update_value)

    def stat_update_value(self, name, value=1):
        self.stat_update(name, value=value)


class WriteShardsStep(_TokenStep):
    """The `shards` phase (one task per key range, shard_ranges(documents files) of them): writes the range's shard
    files and part manifest."""

    name = "shards"

    def work(self, rank: int):
        s = self.shards
        part = write_range(self.layout.token_work, self.layout.shards.root, self.layout.tokenizer, rank, self.tasks,
                           s["shard_tokens"], s["row_group_rows"])
        for split, info in part.items():
            self.stat_update(f"{split}_tokens", value=info["tokens"])
            self.stat_update(f"{split}_rows", value=info["rows"])


class ShardsManifestStep(_TokenStep):
    """The `shards_manifest` phase (one task, once every range is written): the merged shards/manifest.json."""

    name = "shards_manifest"

    def work(self, rank: int):
        merge_manifest(self.layout.token_work, self.layout.shards.root, self.layout.tokenizer, self.ranges,
                       self.shards["seed"], self.weights)


@dataclass
class ShardsParams:
    val_fraction: float = key(0.01, min=0, max=1, help="share of documents (by id hash) in shards/val")
    seed: int = key(1234, help="salt of the rows' order key (a hash of seed, copy and document id)")
    shard_tokens: int = key(50_000_000, min=0, min_exclusive=True, help="tokens per shard file (about)")
    row_group_rows: int = key(1000, min=0, min_exclusive=True, help="rows per Parquet row group")
    language_weights: dict | None = key(None, help="{language: weight}: a document of that language goes into the "
                                                   "shards floor(w) times, plus once more by id hash with probability "
                                                   "w - floor(w) (0.5 keeps half, 2 doubles); unlisted languages 1")

    def problems(self):
        for lang, w in (self.language_weights or {}).items():
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w < 1000 or w != w:
                yield ("language_weights", f"{lang}: weight must be a number from 0 to 1000, got {w!r}")


class ShardsStep(Stage):
    """The `shards` step: tokenizes every curated document into shards/ (run by the tokenizer's phases)."""

    name = "shards"
    order = 1010
    funnel = False
    summary = ("tokenizes the curated documents (one task per documents file; EOS appended) into shards/train/ and "
               "shards/val/ (split by a hash of the document id), rows in the order of a seeded hash of their id, the "
               "same for any layout; language_weights up- or down-samples languages by id hash; the manifest counts "
               "tokens per language")
    Params = ShardsParams
    version = 2  # 2: rows in order-key order, one file set per shards task, language_weights (an older run's shards
    #              and tokenize phase cannot be continued)
    inspect_metrics = ()
    requires = ("tokenizer",)  # the shards are written with it

    @classmethod
    def build(cls, params, ctx):
        pass  # written by the tokenizer's phases, which read these params
