"""Stage `decontaminate`: documents sharing a word n-gram (13 words by default, as GPT-3) with an evaluation set.

Normalisation, on both sides (as GPT-3, Dolma and datatrove's n-gram decontamination): lower-cased, punctuation
stripped; the words are the runs of letters and digits ([^\\W_]+), so line and paragraph breaks are spaces and an
item split across paragraphs still matches. Each eval item gives its n-grams (items shorter than `ngram` words
give none: the n-gram is the evidence, a short phrase is common English). N-grams are kept as 64-bit hashes
(xxh3 per word, a polynomial over the n words), one sorted array per eval set: 8 bytes each, 8 MB per million.

Eval sets: a JSONL (.jsonl, .json, optionally .gz) or Parquet file whose `fields` name the text fields (empty: every
text field; a list of strings is read item by item, as HellaSwag's `endings`); a plain-text file (any other
extension), one item per line; a folder written by `datasets.save_to_disk` (every split; needs `datasets`,
checked in preflight). An eval set is named by its file or folder name without extension.

`mode: filter` drops a matching document with reason `contaminated`, detail `<eval set>: "<first matching
n-gram>"` (the n-gram quotes the eval data, normalised); `mode: annotate` drops nothing and writes the matching
eval sets' names, comma-separated, to the `contaminated_by` column. Either way `refinery stats` and the report
count the documents matching each eval set (`contaminated/<eval set>`).
"""

import gzip
import json
import os
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import xxhash
from datatrove.data import Document, DocumentsPipeline

from stages.base import Drop, RefineryStage
from stages.registry import key

_WORD = re.compile(r"[^\W_]+")
_P = np.uint64(0x100000001B3)  # the polynomial's base (FNV's prime)
STAT_PREFIX = "contaminated/"


def words(text: str) -> list[str]:
    return _WORD.findall((text or "").lower())


def ngram_hashes(ws: list[str], n: int) -> np.ndarray:
    """The hash of each word n-gram of `ws`, in order (empty when there are fewer than n words)."""
    count = len(ws) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    w = np.fromiter((xxhash.xxh3_64_intdigest(x.encode("utf-8", "surrogatepass")) for x in ws), dtype=np.uint64,
                    count=len(ws))
    h = np.zeros(count, dtype=np.uint64)
    for j in range(n):  # uint64 arithmetic wraps: a polynomial hash modulo 2**64
        h = h * _P + w[j : j + count]
    return h


def eval_set_name(path: str) -> str:
    base = os.path.basename(os.path.normpath(path))
    for ext in (".gz", ".jsonl", ".json", ".parquet", ".txt"):
        if base.endswith(ext):
            base = base[: -len(ext)]
    return base


def _texts_of(record: dict, fields: list[str]):
    for name in fields or list(record):
        value = record.get(name)
        if isinstance(value, str):
            yield value
        elif isinstance(value, (list, tuple)):
            yield from (v for v in value if isinstance(v, str))


def eval_items(path: str, fields: list[str]):
    """The text items of an eval set (see the module's formats)."""
    if os.path.isdir(path):
        import datasets  # optional: only for folders written by save_to_disk

        loaded = datasets.load_from_disk(path)
        splits = loaded.values() if isinstance(loaded, datasets.DatasetDict) else [loaded]
        for split in splits:
            for record in split:
                yield from _texts_of(record, fields)
        return
    base = path[:-3] if path.endswith(".gz") else path
    opener = gzip.open if path.endswith(".gz") else open
    if base.endswith((".jsonl", ".json")):
        with opener(path, "rt", encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    try:
                        record = json.loads(line)
                    except ValueError as e:
                        raise ValueError(f"{path}: line {number} is not JSON ({e})") from None
                    if isinstance(record, dict):
                        yield from _texts_of(record, fields)
    elif base.endswith(".parquet"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=1000):
            for record in batch.to_pylist():
                yield from _texts_of(record, fields)
    else:
        with opener(path, "rt", encoding="utf-8") as f:
            yield from (line for line in f if line.strip())


class EvalIndex:
    """The n-gram hashes of each eval set, sorted; built once per task."""

    def __init__(self, paths: list[str], fields: list[str], ngram: int):
        self.ngram = ngram
        self.names, self.hashes, self.items, self.short = [], [], [], []
        for path in paths:
            name = eval_set_name(path)
            while name in self.names:
                name += "_"
            chunks, items, short = [], 0, 0
            for text in eval_items(path, fields):
                h = ngram_hashes(words(text), ngram)
                items += 1
                if len(h):
                    chunks.append(h)
                else:
                    short += 1
            self.names.append(name)
            self.hashes.append(np.unique(np.concatenate(chunks)) if chunks else np.empty(0, dtype=np.uint64))
            self.items.append(items)
            self.short.append(short)

    def matches(self, text: str) -> list[tuple[int, int, list[str]]]:
        """(eval set number, position of the document's first n-gram found in it, the document's words) for every
        eval set sharing an n-gram with the text, in the eval sets' order."""
        ws = words(text)
        h = ngram_hashes(ws, self.ngram)
        out = []
        if not len(h):
            return out
        for i, table in enumerate(self.hashes):
            if not len(table):
                continue
            at = np.minimum(np.searchsorted(table, h), len(table) - 1)
            hit = np.flatnonzero(table[at] == h)
            if len(hit):
                out.append((i, int(hit[0]), ws))
        return out


@dataclass
class DecontaminateParams:
    eval_sets: list[str] = key([], help="evaluation sets: JSONL/Parquet files, plain-text files (an item a line), "
                                        "folders saved by datasets.save_to_disk")
    fields: list[str] = key([], help="text fields of JSONL/Parquet/datasets rows (empty: every text field); a list "
                                     "of strings is read item by item")
    ngram: int = key(13, min=0, min_exclusive=True, help="words per n-gram (13: GPT-3)")
    mode: str = key("filter", choices=("filter", "annotate"),
                    help="filter: drop as contaminated; annotate: write contaminated_by, drop nothing")

    def problems(self) -> list:
        if not self.eval_sets:
            return [("eval_sets", "name at least one evaluation set (the stage is off until you do: leave it out of "
                                  "stages: instead)")]
        return []


class DecontaminateStage(RefineryStage):
    name = "decontaminate"
    order = 87
    phase = "finalize"
    summary = ("word 13-gram overlap (lower-cased, punctuation stripped) with the evaluation sets named in "
               "`eval_sets`; drops (filter) or marks `contaminated_by` (annotate)")
    Params = DecontaminateParams
    reasons = ("contaminated",)
    fields = (("contaminated_by", pa.string()),)
    inspect_metrics = ("chars", "eval_sets_matched")
    preflight_label = "decontaminate (eval sets)"

    @classmethod
    def preflight(cls, params):
        for path in params.eval_sets:
            if not os.path.exists(path):
                raise FileNotFoundError(f"eval set {path} does not exist")
            if os.path.isdir(path):
                import datasets  # noqa: F401 - a save_to_disk folder needs it
        index = EvalIndex(params.eval_sets, params.fields, params.ngram)
        empty = [n for n, h in zip(index.names, index.hashes) if not len(h)]
        if empty:
            raise ValueError(f"eval sets {empty} give no {params.ngram}-word n-gram (no items, no such fields, or every "
                             f"item shorter than {params.ngram} words): check `fields` and `ngram`")

    @classmethod
    def build(cls, params, ctx):
        ctx.add(cls.phase, cls.order, cls(params.eval_sets, params.fields, params.ngram, params.mode, output=ctx.output))

    def __init__(self, eval_sets: list[str], fields: list[str] = (), ngram: int = 13, mode: str = "filter", output=None):
        super().__init__(output)
        self.eval_sets, self.text_fields, self.ngram, self.mode = list(eval_sets), list(fields), ngram, mode
        self.index: EvalIndex | None = None
        self._matched = 0

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if self.index is None:
            self.index = EvalIndex(self.eval_sets, self.text_fields, self.ngram)
        yield from super().run(data, rank, world_size)

    def metrics(self, doc, text_in, verdict):
        return {"chars": len(text_in or ""), "eval_sets_matched": self._matched}

    def process(self, doc: Document) -> Drop | None:
        found = self.index.matches(doc.text)
        self._matched = len(found)
        for i, _, _ in found:
            self.stat_update(STAT_PREFIX + self.index.names[i])
        if not found:
            return None
        names = [self.index.names[i] for i, _, _ in found]
        if self.mode == "annotate":
            doc.metadata["contaminated_by"] = ",".join(names)
            return None
        i, at, ws = min(found, key=lambda f: (f[1], f[0]))
        gram = " ".join(ws[at : at + self.ngram])
        return Drop("contaminated", value=float(len(found)), detail=f'{self.index.names[i]}: "{gram}"')
