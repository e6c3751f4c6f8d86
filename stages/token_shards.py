"""Token shard stage: curated documents -> Parquet token shards (DIR/shards/{train,val}/) + manifest.json.

One row per document (EOS appended); the train/val split is decided by a hash of the document id, so it does
not depend on task layout; rows are sorted by id and then shuffled with a seeded permutation.
"""

import glob
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from stages.base import id_fraction
from stages.parquet_io import AtomicParquetWriter, write_json_atomic
from stages.schema import token_shard_schema
from stages.tokenizer import EOS, build_tokenizer, file_sha256


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
    splits: dict[str, list[tuple[str, np.ndarray]]] = {"train": [], "val": []}

    def encode(batch):
        for (doc_id, _), enc in zip(batch, tok.encode_batch([t for _, t in batch], add_special_tokens=False)):
            splits["val" if is_val(doc_id, val_fraction) else "train"].append(
                (doc_id, np.asarray(enc.ids + [eos], dtype=dtype)))

    # tokenized as read, so only one batch of text is held at a time; the ids, not the file order, fix the rows
    batch = []
    for item in _iter_documents(docs_folder):
        batch.append(item)
        if len(batch) == batch_size:
            encode(batch)
            batch = []
    encode(batch)
    for rows in splits.values():
        rows.sort(key=lambda r: r[0])
    manifest = {**meta, "splits": {}}
    rng = np.random.default_rng(seed)
    for split, rows in splits.items():
        folder = os.path.join(out_dir, split)
        os.makedirs(folder, exist_ok=True)
        for old in glob.glob(os.path.join(folder, "*.parquet")):
            os.remove(old)  # a rerun rewrites the split whole
        order = rng.permutation(len(rows))
        names, tokens, shard = [], 0, []

        def flush():
            name = f"{split}_{len(names):05d}.parquet"
            with AtomicParquetWriter(os.path.join(folder, name), schema, row_group_rows) as out:
                out.write_table(pa.table({
                    "input_ids": pa.array([r[1] for r in shard], type=schema.field("input_ids").type),
                    "doc_id": [r[0] for r in shard],
                    "num_tokens": pa.array([len(r[1]) for r in shard], type=pa.int32()),
                }, schema=schema))
            names.append(name)

        shard_tokens_now = 0
        for i in order:
            shard.append(rows[i])
            shard_tokens_now += len(rows[i][1])
            tokens += len(rows[i][1])
            if shard_tokens_now >= shard_tokens:
                flush()
                shard, shard_tokens_now = [], 0
        if shard or not names:
            flush()
        manifest["splits"][split] = {"shards": names, "rows": len(rows), "tokens": int(tokens)}
    write_json_atomic(os.path.join(out_dir, "manifest.json"), manifest)
    return manifest


class TokenizeStep(PipelineStep):
    """The tokenize phase (one task): trains (or copies) the tokenizer, then writes the token shards."""

    type = "refinery-tokens"
    name = "tokenize"

    def __init__(self, docs_folder: str, run_dir: str, tokenizer: dict, shards: dict | None):
        super().__init__()
        self.docs_folder, self.run_dir, self.tokenizer, self.shards = docs_folder, run_dir, tokenizer, shards

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        t = self.tokenizer
        path = os.path.join(self.run_dir, "tokenizer", "tokenizer.json")
        with self.track_time("run"):
            build_tokenizer((text for _, text in _iter_documents(self.docs_folder)), path, t["vocab_size"],
                            t["sample_chars"], t["min_frequency"], t["path"])
            if self.shards is not None:
                manifest = write_token_shards(self.docs_folder, path, os.path.join(self.run_dir, "shards"), **self.shards)
                for split, info in manifest["splits"].items():
                    self.stat_update(f"{split}_tokens", value=info["tokens"])
                    self.stat_update(f"{split}_rows", value=info["rows"])
        if data:
            yield from data
