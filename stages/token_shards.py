"""Token shard stage: curated documents -> Parquet token shards (DIR/shards/{train,val}/) + manifest.json.

One row per document (EOS appended); the train/val split is decided by a hash of the document id, so it does
not depend on task layout; rows are sorted by id and then shuffled with a seeded permutation.
Memory holds each document's id and length, not its tokens: those are spilled as they are made to a flat
temporary file per split (out_dir/.tokens-<split>.tmp-<pid>, about 2 bytes a token, removed at the end, also
on failure; a killed run's are swept by the next run of the folder, which holds the folder's lock) and read
back through a memory map, one row group at a time, when the shards are written.
"""

import array
import glob
import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from stages.base import id_fraction
from refinery.atomic import AtomicParquetWriter, disk_full_error, is_disk_full, write_json_atomic
from refinery.schema import token_shard_schema
from refinery.layout import SPLITS, RunLayout, ShardLayout, file_sha256
from stages.registry import Stage, key
from stages.tokenizer import EOS, build_tokenizer


def is_val(doc_id: str, val_fraction: float) -> bool:
    return id_fraction(doc_id) < val_fraction


def _iter_documents(folder: str, columns=("id", "text")):
    for path in sorted(glob.glob(os.path.join(folder, "*.parquet"))):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1000, columns=list(columns)):
            yield from zip(*(batch.column(c).to_pylist() for c in columns))


def write_token_shards(docs_folder: str, tokenizer_path: str, out_dir: str, val_fraction: float = 0.01, seed: int = 1234,
                       shard_tokens: int = 50_000_000, row_group_rows: int = 1000, batch_size: int = 512) -> dict:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tokenizer_path)
    eos = tok.token_to_id(EOS)
    vocab = tok.get_vocab_size()
    dtype = "uint16" if vocab <= 2**16 else "uint32"
    meta = {"tokenizer_sha256": file_sha256(tokenizer_path), "vocab_size": vocab, "eos_id": eos, "dtype": dtype}
    schema = token_shard_schema(dtype, meta)
    os.makedirs(out_dir, exist_ok=True)
    # Streaming: the token ids go, as read, to one flat temporary file per split (beside the shards, not in
    # memory); only each document's id and length stay in memory to order the rows.
    shards = ShardLayout(out_dir)
    spill = {s: _TokenSpill(os.path.join(out_dir, f".tokens-{s}.tmp-{os.getpid()}"), dtype) for s in SPLITS}
    try:
        def encode(batch):
            encodings = tok.encode_batch([t for _, t in batch], add_special_tokens=False)
            for (doc_id, _), enc in zip(batch, encodings):
                ids = enc.ids
                ids.append(eos)
                spill["val" if is_val(doc_id, val_fraction) else "train"].add(doc_id, ids)

        # tokenized as read, so only one batch of text is held at a time; the ids, not the file order, fix the rows
        batch = []
        for item in _iter_documents(docs_folder):
            batch.append(item)
            if len(batch) == batch_size:
                encode(batch)
                batch = []
        encode(batch)
        manifest = {**meta, "splits": {}}
        rng = np.random.default_rng(seed)
        for split, sp in spill.items():
            manifest["splits"][split] = _write_split(sp, shards.split(split), split, rng, schema,
                                                     shard_tokens, row_group_rows)
    finally:
        for sp in spill.values():
            sp.remove()
    write_json_atomic(shards.manifest, manifest)
    return manifest


class _TokenSpill:
    """One split's documents as read: ids and lengths in memory, token ids appended to a flat binary file."""

    def __init__(self, path: str, dtype: str):
        self.path, self.dtype = path, np.dtype(dtype)
        self._typecode = next(c for c in "HILQ" if array.array(c).itemsize == self.dtype.itemsize)
        self.doc_ids: list[str] = []
        self.lengths: list[int] = []
        self._file = open(path, "wb", buffering=1 << 20)

    def add(self, doc_id: str, ids: list[int]):
        self.doc_ids.append(doc_id)
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

    def remove(self):
        try:
            self._file.close()  # flushing can fail on a full disk: the file goes all the same
        except OSError:
            pass
        if os.path.exists(self.path):
            os.remove(self.path)


def _write_split(sp: _TokenSpill, folder: str, split: str, rng: np.random.Generator, schema: pa.Schema,
                 shard_tokens: int, row_group_rows: int) -> dict:
    """Rows sorted by id (a stable sort: equal ids keep reading order), then put in a seeded permutation's order;
    a shard is closed once it holds shard_tokens tokens or more."""
    os.makedirs(folder, exist_ok=True)
    for old in glob.glob(os.path.join(folder, f"{split}_*.parquet")):
        os.remove(old)  # a rerun rewrites the split whole (the folder's lock keeps any other run out)
    flat = sp.tokens()
    lengths = np.asarray(sp.lengths, dtype=np.int64)
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    by_id = sorted(range(len(sp.doc_ids)), key=sp.doc_ids.__getitem__)
    order = [by_id[i] for i in rng.permutation(len(by_id))]  # rows in output order, as indices in reading order
    ids_type = schema.field("input_ids").type
    names, tokens, shard = [], 0, []

    def flush():
        name = f"{split}_{len(names):05d}.parquet"
        with AtomicParquetWriter(os.path.join(folder, name), schema, row_group_rows) as out:
            # one row group at a time, as write_table would cut one table of the whole shard
            for g in range(0, max(len(shard), 1), row_group_rows):
                rows = shard[g : g + row_group_rows]
                n = lengths[rows] if rows else np.empty(0, np.int64)
                offsets = np.zeros(len(rows) + 1, dtype=np.int32)
                np.cumsum(n, out=offsets[1:])
                values = np.concatenate([flat[starts[i] : starts[i] + lengths[i]] for i in rows]) if rows else flat[:0]
                out.write_table(pa.table({
                    "input_ids": pa.ListArray.from_arrays(pa.array(offsets), pa.array(values), type=ids_type),
                    "doc_id": pa.array([sp.doc_ids[i] for i in rows], pa.string()),
                    "num_tokens": pa.array(n.astype(np.int32), type=pa.int32()),
                }, schema=schema))
        names.append(name)

    shard_tokens_now = 0
    for i in order:
        shard.append(i)
        n = sp.lengths[i]
        shard_tokens_now += n
        tokens += n
        if shard_tokens_now >= shard_tokens:
            flush()
            shard, shard_tokens_now = [], 0
    if shard or not names:
        flush()
    return {"shards": names, "rows": len(order), "tokens": int(tokens)}


class TokenizeStep(PipelineStep):
    """The tokenize phase (one task): trains (or copies) the tokenizer, then writes the token shards."""

    type = "refinery-tokens"
    name = "tokenize"

    def __init__(self, layout: RunLayout, tokenizer: dict, shards: dict | None):
        super().__init__()
        self.layout, self.tokenizer, self.shards = layout, tokenizer, shards

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        t = self.tokenizer
        docs, path = self.layout.documents, self.layout.tokenizer
        with self.track_time("run"):
            build_tokenizer((text for _, text in _iter_documents(docs)), path, t["vocab_size"],
                            t["sample_chars"], t["min_frequency"], t["path"])
            if self.shards is not None:
                manifest = write_token_shards(docs, path, self.layout.shards.root, **self.shards)
                for split, info in manifest["splits"].items():
                    self.stat_update(f"{split}_tokens", value=info["tokens"])
                    self.stat_update(f"{split}_rows", value=info["rows"])
        if data:
            yield from data


@dataclass
class ShardsParams:
    val_fraction: float = key(0.01, min=0, max=1, help="share of documents (by id hash) in shards/val")
    seed: int = key(1234, help="seed of the row shuffle")
    shard_tokens: int = key(50_000_000, min=0, min_exclusive=True, help="tokens per shard file (about)")
    row_group_rows: int = key(1000, min=0, min_exclusive=True, help="rows per Parquet row group")


class ShardsStep(Stage):
    """The `shards` step: tokenizes every curated document into shards/ (run by the tokenizer's phase)."""

    name = "shards"
    order = 1010
    funnel = False
    summary = ("tokenizes every curated document (encode_batch, EOS appended) into shards/train/ and shards/val/ "
               "(split by a hash of the document id), rows shuffled with seed, files of about shard_tokens tokens")
    Params = ShardsParams
    inspect_metrics = ()
    requires = ("tokenizer",)  # the shards are written with it

    @classmethod
    def build(cls, params, ctx):
        pass  # written by the tokenizer's step, which reads these params
