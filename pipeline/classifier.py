"""`refinery classifier train`: a fastText quality classifier with DCLM's recipe (baselines/train_fasttext_classifier.py,
used with `--wordNgrams 2` and fastText's other defaults), for the quality_classifier stage.

Texts come from sources (a run folder's documents/, a removed/<stage>/ folder, Parquet or JSONL files or folders
with a `text` column, a plain text file of one document per line), are prepared as the stage prepares them
(DCLM's `" ".join(text.strip().splitlines())`), labelled `__label__hq` (positive) and `__label__lq` (negative),
balanced (as many of each class: the smaller class's count, at most --max-per-class, drawn with the seed), and a
share of each class is held out to measure the model. Training uses one thread: fastText's result then depends on
the seed only.
"""

import glob
import gzip
import io
import json
import os
import random
import tempfile

import pyarrow.parquet as pq

from refinery.atomic import atomic_path

POSITIVE, NEGATIVE = "hq", "lq"


class SourceError(ValueError):
    pass


def _parquet_texts(path: str):
    f = pq.ParquetFile(path)
    if "text" not in f.schema_arrow.names:
        raise SourceError(f"{path}: no `text` column (columns: {', '.join(f.schema_arrow.names)})")
    for batch in f.iter_batches(batch_size=1000, columns=["text"]):
        yield from (t for t in batch.column("text").to_pylist() if t)


def _jsonl_texts(path: str):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise SourceError(f"{path}:{n}: not JSON ({e})") from None
            if not isinstance(row, dict) or "text" not in row:
                raise SourceError(f"{path}:{n}: no `text` field")
            if row["text"]:
                yield row["text"]


def _plain_texts(path: str):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.strip():
                yield line


def _is_jsonl(path: str) -> bool:
    return path.endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson"))


def _file_texts(path: str):
    if path.endswith(".parquet"):
        return _parquet_texts(path)
    if _is_jsonl(path):
        return _jsonl_texts(path)
    return _plain_texts(path)


def source_files(src: str) -> list[str]:
    """The files a source stands for: a run folder -> its documents/; a folder -> its Parquet and JSONL files; a
    file -> itself."""
    from refinery.layout import RunLayout

    if os.path.isdir(src):
        layout = RunLayout(src)
        if os.path.exists(layout.marker):
            files = layout.document_files()
            if not files:
                raise SourceError(f"{src}: a run folder with no documents/ (has the run finished?)")
            return files
        files = sorted(p for p in glob.glob(os.path.join(src, "*")) if os.path.isfile(p)
                       and (p.endswith(".parquet") or _is_jsonl(p)))
        if not files:
            raise SourceError(f"{src}: a folder with no Parquet or JSONL files (and not a run folder)")
        return files
    if os.path.isfile(src):
        return [src]
    raise SourceError(f"{src}: no such file or folder")


def read_texts(sources: list[str]) -> list[str]:
    texts = []
    for src in sources:
        for path in source_files(src):
            texts.extend(_file_texts(path))
    return texts


def balanced_split(pos: list[str], neg: list[str], max_per_class: int | None, holdout: float, seed: int):
    """(train, test): lists of (label, text), as many of each class (the smaller count, capped), drawn with the
    seed; the held-out share is taken from each class."""
    rng = random.Random(seed)
    n = min(len(pos), len(neg), max_per_class or 1 << 62)
    train, test = [], []
    for label, texts in ((POSITIVE, pos), (NEGATIVE, neg)):
        chosen = rng.sample(texts, n)
        cut = int(round(n * holdout))
        test += [(label, t) for t in chosen[:cut]]
        train += [(label, t) for t in chosen[cut:]]
    rng.shuffle(train)
    return train, test


def _table(scores: list[float], labels: list[str], threshold: float) -> dict:
    tp = sum(1 for s, y in zip(scores, labels) if s >= threshold and y == POSITIVE)
    fp = sum(1 for s, y in zip(scores, labels) if s >= threshold and y == NEGATIVE)
    fn = sum(1 for s, y in zip(scores, labels) if s < threshold and y == POSITIVE)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    kept = (tp + fp) / len(scores) if scores else 0.0
    return {"threshold": threshold, "precision": p, "recall": r, "f1": f1, "kept": kept}


THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
TRIES = 8


def train_supervised(data: str, log=print, **options):
    """fasttext.train_supervised on one thread (its result then depends on the seed only). This fastText build
    sometimes stops with "Encountered NaN" at the start of training, depending on the state of the process (the
    same call in one process fails and succeeds alternately; seen on small training sets): such a try is
    repeated, up to TRIES times."""
    import fasttext

    for attempt in range(1, TRIES + 1):
        try:
            return fasttext.train_supervised(input=data, thread=1, verbose=0, **options)
        except RuntimeError as e:
            if "NaN" not in str(e):
                raise
            log(f"fastText stopped on a NaN (try {attempt} of {TRIES})" + ("; trying again" if attempt < TRIES else ""))
    raise SourceError(f"fastText stopped on a NaN {TRIES} times: give it more texts, a larger --bucket (word pairs "
                      "colliding in a small hash table diverge), or another --lr or --dim")


def train_classifier(positive: list[str], negative: list[str], out: str, max_per_class: int | None = None,
                     holdout: float = 0.1, epoch: int = 5, dim: int = 100, lr: float = 0.1, word_ngrams: int = 2,
                     bucket: int = 2_000_000, min_count: int = 1, seed: int = 1, log=print) -> dict:
    """Trains and writes the model (atomically); returns the figures it printed."""
    from stages.quality_classifier import FastTextScorer, prepare_fasttext

    if not 0 <= holdout < 1:
        raise SourceError(f"--holdout must be at least 0 and below 1, got {holdout}")
    if max_per_class is not None and max_per_class < 1:
        raise SourceError(f"--max-per-class must be at least 1, got {max_per_class}")
    pos, neg = read_texts(positive), read_texts(negative)
    log(f"read {len(pos):,} positive ({POSITIVE}) and {len(neg):,} negative ({NEGATIVE}) texts")
    if not pos or not neg:
        raise SourceError(f"no {'positive' if not pos else 'negative'} texts in the sources given")
    train, test = balanced_split(pos, neg, max_per_class, holdout, seed)
    per_class = len(train) // 2 + len(test) // 2
    log(f"balanced: {per_class:,} per class; training on {len(train):,}, holding out {len(test):,} "
        f"({holdout:.0%} of each class)")
    with tempfile.TemporaryDirectory(prefix="refinery-classifier-") as tmp:
        data = os.path.join(tmp, "train.txt")
        with io.open(data, "w", encoding="utf-8", errors="replace") as f:
            for label, text in train:
                f.write(f"__label__{label} {prepare_fasttext(text)}\n")
        model = train_supervised(data, log, lr=lr, dim=dim, epoch=epoch, wordNgrams=word_ngrams, minCount=min_count,
                                 bucket=bucket, seed=seed)
    with atomic_path(out, "model") as tmp_out:
        model.save_model(tmp_out)
    result = {"model": out, "per_class": per_class, "train": len(train), "holdout": len(test), "table": []}
    if test:
        scorer = FastTextScorer(out, POSITIVE)  # the model as the stage loads it, scored as the stage scores
        scores = scorer.score([t for _, t in test])
        labels = [y for y, _ in test]
        at_half = _table(scores, labels, 0.5)
        result["at_0.5"] = at_half
        log(f"held out {len(test):,}: at threshold 0.5 precision {at_half['precision']:.3f} recall "
            f"{at_half['recall']:.3f} F1 {at_half['f1']:.3f}")
        log(f"{'threshold':>9} {'kept':>7} {'precision':>9} {'recall':>7} {'F1':>6}")
        for t in THRESHOLDS:
            row = _table(scores, labels, t)
            result["table"].append(row)
            log(f"{t:>9.2f} {row['kept']:>6.1%} {row['precision']:>9.3f} {row['recall']:>7.3f} {row['f1']:>6.3f}")
    log(f"wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB); use it with stages.quality_classifier.model "
        f"and label {POSITIVE}")
    return result
