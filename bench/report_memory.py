"""Peak memory and time of `refinery stats`, `refinery verify` and `refinery report` on a synthetic finished run,
at two sizes: the commands should hold flat memory (issue 21), apart from the bytes per document they state.

    python bench/report_memory.py                       # 100,000 and 1,000,000 curated documents
    python bench/report_memory.py --docs 20000 200000   # other sizes
    python bench/report_memory.py --reference /work/main # also the code of another checkout, on the same folders
    python bench/report_memory.py --tiny                # smoke test (2,000 and 6,000 documents)

The run folder is written directly as Parquet, the way a finished run of configs/fineweb.yaml has it, with column
sizes of a real one: documents/ (one file per task of 50,000 documents, row groups of 1,000, text of a log-normal
length around 3,000 characters, the schema of refinery.schema with every stage's field), removed/<stage>/ (one
row per dropped document: its first 2,000 characters of text at most, value and detail), inspect/<stage>/
(5% of each stage's input: metrics the stage thresholds, 500 characters), the stats datatrove writes per task
(with the per-language keys lang/<L>/...), errors/, tokenizer/ and shards/ (a token list per document, about one
token per 4 characters). Not written: dedup_index/ and work/ (verify reads every Parquet file; a real run's
MinHash signatures would add reading time, not memory).

Each command runs as a child process of its own; its peak RSS is what os.wait4 reports for it. The table prints
per command: peak RSS and seconds at each size, and the growth of peak RSS from the smallest to the largest size;
`per-doc` subtracts what the command states it holds per document (verify: 16 bytes per curated document) before
the growth is computed. A folder is written once per size under --work and reused (delete it to rebuild).
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import asdict

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from pipeline.config import load_config  # noqa: E402
from refinery.layout import RunLayout  # noqa: E402
from refinery.schema import INSPECT_SCHEMA, REMOVED_SCHEMA, document_schema, token_shard_schema  # noqa: E402
from stages.registry import builtin  # noqa: E402

DOCS_PER_TASK = 50_000
ROW_GROUP = 1000
REMOVED_TEXT = 2000
INSPECT_RATE = 0.05
INSPECT_TEXT = 500
VOCAB = 32_000
LANGUAGES = {"en": 0.7, "de": 0.12, "fr": 0.08, "zh": 0.06, "ja": 0.04}
# share of each stage's input it drops, per reason (a plausible FineWeb-like funnel); stages after `language`
# count per language too
DROPS = {
    "read": {"not_response": 0.25, "http_status": 0.02},
    "url_filter": {"hard_blacklisted": 0.01, "domain": 0.005},
    "extract": {"empty": 0.03, "timeout": 0.002},
    "language": {"wrong_language": 0.12, "low_score": 0.03},
    "gopher_repetition": {"dup_line_frac": 0.03, "top_2_gram": 0.01},
    "gopher_quality": {"gopher_short_doc": 0.05, "gopher_enough_stop_words": 0.02, "gopher_below_alpha_threshold": 0.01},
    "c4_quality": {"too_few_sentences": 0.02, "lorem_ipsum": 0.001},
    "fineweb_quality": {"line_punct_ratio": 0.02, "short_line_ratio": 0.01},
    "minhash_dedup": {"duplicate": 0.08},
    "pii": {},
}
FINALIZE = ("minhash_dedup", "pii")  # the stages datatrove runs in the finalize phase (the others: curate)
LANGUAGE_FROM = "language"
VERIFY_BYTES_PER_DOC = 16


class Text:
    """English-like text cut from one seeded pool of Zipf-distributed pseudo-words (compresses like real text)."""

    def __init__(self, rng: np.random.Generator, chars: int = 8_000_000):
        letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
        weights = 1 / np.arange(1, 27)
        words = ["".join(rng.choice(letters, size=int(n), p=weights / weights.sum()))
                 for n in rng.integers(1, 11, size=20_000)]
        zipf = 1 / np.arange(1, len(words) + 1)
        picks = rng.choice(len(words), size=chars // 5, p=zipf / zipf.sum())
        pool = " ".join(words[i] for i in picks)
        lines = pool.split(" ")
        self.pool = "".join(w + ("\n" if i % 13 == 12 else ". " if i % 11 == 10 else " ") for i, w in enumerate(lines))
        self.rng = rng

    def lengths(self, n: int) -> np.ndarray:
        return np.clip(self.rng.lognormal(np.log(2600), 0.7, size=n), 200, 60_000).astype(np.int64)

    def take(self, lengths) -> list[str]:
        starts = self.rng.integers(0, len(self.pool) - 60_001, size=len(lengths))
        return [self.pool[s:s + n] for s, n in zip(starts.tolist(), lengths.tolist())]


def ids(rng, n: int) -> list[str]:
    raw = rng.bytes(16 * n)
    return [f"<urn:uuid:{uuid.UUID(bytes=raw[16 * i:16 * i + 16])}>" for i in range(n)]


def urls(rng, n: int) -> list[str]:
    hosts = rng.integers(0, 200_000, size=n).tolist()
    pages = rng.integers(0, 10**9, size=n).tolist()
    return [f"https://www.site{h}.example.com/articles/2024/{p}-a-page-about-something" for h, p in zip(hosts, pages)]


def write(path: str, table: pa.Table):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(table, path, row_group_size=ROW_GROUP, compression="zstd")


def metrics_for(cls, params: dict, reasons: list[str], rng) -> list:
    """Per row, the stage's thresholded metrics (each passing its configured value, but the one of the row's own
    reason, which fails it), and `chars`."""
    rules = [t for t in cls.thresholds if isinstance(params.get(t.key), (int, float))]
    out = []
    noise = rng.random((len(reasons), len(rules) + 1))
    for i, reason in enumerate(reasons):
        row = [("chars", float(200 + 5000 * noise[i, -1]))]
        for j, t in enumerate(rules):
            v = float(params[t.key])
            step = (abs(v) or 1) * (0.05 + noise[i, j])
            passing = (t.reason != reason)
            up = (t.keep in (">=", ">")) == passing
            row.append((t.metric, v + step if up else v - step))
        out.append(row)
    return out


def build(run_dir: str, n_docs: int, seed: int = 1):
    """A finished run of `n_docs` curated documents."""
    rng = np.random.default_rng(seed)
    text = Text(rng)
    cfg = load_config(os.path.join(ROOT, "configs", "fineweb.yaml"))
    cfg.inspect_rate, cfg.inspect_text_chars, cfg.removed_text_chars = INSPECT_RATE, INSPECT_TEXT, REMOVED_TEXT
    registry = builtin()
    stages = [s for s in registry.funnel() if s in cfg.stages and s in DROPS]
    layout = RunLayout(run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    with open(layout.marker, "w") as f:
        json.dump({"fingerprint": "bench", "identity": {"layout": 2}, "config": asdict(cfg), "inputs": []}, f, default=str)
    schema = document_schema(registry.document_fields())
    tokenizer = os.path.join(run_dir, "tokenizer", "tokenizer.json")
    os.makedirs(os.path.dirname(tokenizer))
    with open(tokenizer, "w") as f:
        json.dump({"model": "bench", "vocab_size": VOCAB}, f)
    sha = hashlib.sha256(open(tokenizer, "rb").read()).hexdigest()
    shard_meta = {"tokenizer_sha256": sha, "vocab_size": VOCAB, "eos_id": 0, "dtype": "uint16"}
    splits = {"train": {"shards": [], "rows": 0, "tokens": 0}, "val": {"shards": [], "rows": 0, "tokens": 0}}
    lang_names, lang_p = list(LANGUAGES), np.array(list(LANGUAGES.values()))
    tasks = max(1, -(-n_docs // DOCS_PER_TASK))
    for task in range(tasks):
        n = min(DOCS_PER_TASK, n_docs - task * DOCS_PER_TASK)
        # documents/: the stage's survivors at the end of the funnel
        lengths = text.lengths(n)
        doc_ids, doc_urls, langs = ids(rng, n), urls(rng, n), rng.choice(lang_names, size=n, p=lang_p)
        texts = text.take(lengths)
        cols = {"text": texts, "id": doc_ids, "url": doc_urls, "dump": ["CC-MAIN-2024-10"] * n,
                "date": ["2024-02-21T08:15:00Z"] * n, "language": langs.tolist(),
                "language_score": (0.65 + 0.35 * rng.random(n)).tolist(),
                "minhash_cluster_size": rng.choice([1, 1, 1, 1, 2, 3], size=n).tolist(),
                "metadata": [json.dumps({"charset": "utf-8", "html_chars": int(x) * 3, "warc_file": f"f{task}.warc.gz",
                                         "warc_offset": i * 9000}) for i, x in enumerate(lengths.tolist())]}
        write(os.path.join(layout.documents, f"{task:05d}.parquet"),
              pa.table({name: cols.get(name, [None] * n) for name in schema.names}, schema=schema))
        del cols
        # backwards through the funnel: each stage's input is what it kept plus what it dropped
        kept_langs, kept_bytes = langs, lengths.copy()  # what the stage at hand kept (bytes: UTF-8 = chars here)
        kept_ids = doc_ids
        entries = {}
        for stage in reversed(stages):
            shares = DROPS[stage]
            n_in = int(round(len(kept_ids) / (1 - sum(shares.values()))))
            n_drop = n_in - len(kept_ids)
            reasons = rng.choice(list(shares), size=n_drop, p=np.array(list(shares.values())) / sum(shares.values())) if shares else np.array([], str)
            drop_ids, drop_len = ids(rng, n_drop), text.lengths(n_drop)
            has_text = np.isin(reasons, ["not_response", "http_status", "empty", "timeout"], invert=True)
            drop_len[~has_text] = 0
            drop_langs = rng.choice(lang_names, size=n_drop, p=lang_p)
            drop_texts = text.take(np.minimum(drop_len, REMOVED_TEXT))
            value = np.where(reasons == "duplicate", 2.0, rng.random(n_drop))
            removed = {"id": drop_ids, "url": urls(rng, n_drop), "reason": reasons.tolist(), "value": value.tolist(),
                       "detail": ["" if r != "wrong_language" else "de" for r in reasons.tolist()], "text": drop_texts}
            after_language = stages.index(stage) >= stages.index(LANGUAGE_FROM)
            fields = list(REMOVED_SCHEMA)
            if after_language:
                removed["language"] = drop_langs.tolist()
                fields.append(pa.field("language", pa.string()))
            write(os.path.join(layout.removed, stage, f"{task:05d}.parquet"), pa.table(removed, schema=pa.schema(fields)))
            # inspect/: a sample of the stage's input, kept or not
            in_ids = kept_ids + drop_ids
            outcome = ["kept"] * len(kept_ids) + reasons.tolist()
            sample = np.flatnonzero(rng.random(n_in) < INSPECT_RATE)
            sizes = np.concatenate([kept_bytes, drop_len])
            write(os.path.join(layout.inspect, stage, f"{task:05d}.parquet"), pa.table({
                "id": [in_ids[i] for i in sample], "url": urls(rng, len(sample)), "outcome": [outcome[i] for i in sample],
                "metrics": metrics_for(registry.get(stage), cfg.stages[stage] or {}, [outcome[i] for i in sample], rng),
                "text": text.take(np.minimum(sizes[sample], INSPECT_TEXT)), "bytes": sizes[sample].tolist()},
                schema=INSPECT_SCHEMA))
            stats = {"in": n_in, "kept": len(kept_ids), "kept_bytes": {"total": int(kept_bytes.sum())}}
            for r in shares:
                count = int((reasons == r).sum())
                if count:
                    stats[f"dropped/{r}"] = count
            if after_language:
                for lang in lang_names:
                    k, d = kept_langs == lang, drop_langs == lang
                    stats[f"lang/{lang}/in"] = int(k.sum() + d.sum())
                    stats[f"lang/{lang}/kept"] = int(k.sum())
                    stats[f"lang/{lang}/kept_bytes"] = {"total": int(kept_bytes[k].sum())}
                    for r in shares:
                        count = int(((reasons == r) & d).sum())
                        if count:
                            stats[f"lang/{lang}/dropped/{r}"] = count
            entries[stage] = {"name": f"refinery: {stage}", "time_stats": {"total": 0.001 * n_in}, "stats": stats}
            kept_ids = in_ids
            kept_langs = np.concatenate([kept_langs, drop_langs])
            kept_bytes = np.concatenate([kept_bytes, drop_len])
        for phase, names in (("curate", [s for s in stages if s not in FINALIZE]), ("finalize", [s for s in stages if s in FINALIZE])):
            path = os.path.join(layout.logs(phase), "stats", f"{task:05d}.json")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                json.dump([entries[s] for s in names], f)
        os.makedirs(layout.errors, exist_ok=True)
        with open(os.path.join(layout.errors, f"{task:05d}.json"), "w") as f:
            json.dump([], f)
        # shards/: one token list per curated document (val: 5% of them), EOS appended
        counts = lengths // 4 + 1
        tokens = rng.integers(1, VOCAB, size=int(counts.sum()), dtype=np.uint16)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        tokens[offsets[1:] - 1] = 0
        val = rng.random(n) < 0.05
        for split, rows in (("train", np.flatnonzero(~val)), ("val", np.flatnonzero(val))):
            lists = pa.ListArray.from_arrays(pa.array(offsets), pa.array(tokens)).take(pa.array(rows))
            name = f"{split}_{task:05d}.parquet"
            write(layout.shards.shard(split, name), pa.table(
                {"input_ids": lists, "doc_id": [doc_ids[i] for i in rows], "num_tokens": counts[rows].astype(np.int32)},
                schema=token_shard_schema("uint16", shard_meta)))
            splits[split]["shards"].append(name)
            splits[split]["rows"] += len(rows)
            splits[split]["tokens"] += int(counts[rows].sum())
    with open(layout.shards.manifest, "w") as f:
        json.dump({**shard_meta, "splits": splits}, f, indent=1)


COMMANDS = {
    "stats": lambda d, tmp: ["stats", d],
    "stats --by-language": lambda d, tmp: ["stats", d, "--by-language"],
    "verify": lambda d, tmp: ["verify", d],
    "report": lambda d, tmp: ["report", d, "-o", os.path.join(tmp, "report.html")],
}
PER_DOC = {"verify": VERIFY_BYTES_PER_DOC}


def run_command(code: str, args: list[str]) -> tuple[float, float]:
    """Runs the command in a child whose usage is read with os.wait4 (Popen.communicate would reap it first)."""
    env = {**os.environ, "PYTHONPATH": code}
    start = time.monotonic()
    out_path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"report_memory.{os.getpid()}.out")
    with open(out_path, "wb") as out:
        pid = subprocess.Popen([sys.executable, "-m", "pipeline.cli", *args], cwd=code, env=env, stdout=out,
                               stderr=subprocess.STDOUT).pid
        _, status, usage = os.wait4(pid, 0)
    seconds = time.monotonic() - start
    with open(out_path, "rb") as f:
        text = f.read().decode(errors="replace")
    os.remove(out_path)
    if status != 0:
        raise SystemExit(f"refinery {' '.join(args)} (from {code}) failed:\n{text[-4000:]}")
    return usage.ru_maxrss / 1024, seconds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--docs", type=int, nargs="+", default=[100_000, 1_000_000], help="curated documents per run")
    p.add_argument("--work", default=os.path.join("/tmp", "refinery-report-memory"), help="where the runs are written")
    p.add_argument("--reference", metavar="CHECKOUT", help="also measure another checkout's code (e.g. main's)")
    p.add_argument("--reference-max-docs", type=int, default=None,
                   help="measure the reference only up to this size (its memory grows with the run)")
    p.add_argument("--tiny", action="store_true", help="smoke test: 2,000 and 6,000 documents")
    args = p.parse_args(argv)
    sizes = [2000, 6000] if args.tiny else sorted(args.docs)
    os.makedirs(args.work, exist_ok=True)
    codes = [("this", ROOT)] + ([("reference", os.path.abspath(args.reference))] if args.reference else [])
    results = {}
    for n in sizes:
        run_dir = os.path.join(args.work, f"run-{n}")
        if not os.path.exists(os.path.join(run_dir, "shards", "manifest.json")):
            start = time.monotonic()
            build(run_dir, n)
            print(f"wrote a synthetic run of {n:,} documents to {run_dir} in {time.monotonic() - start:.0f}s "
                  f"({du(run_dir) / 1e9:.2f} GB)", flush=True)
        for label, code in codes:
            if label == "reference" and args.reference_max_docs and n > args.reference_max_docs:
                continue
            for name, make in COMMANDS.items():
                if label == "reference" and name == "stats --by-language":
                    continue
                results[label, name, n] = run_command(code, make(run_dir, args.work))
                rss, sec = results[label, name, n]
                print(f"  {label} {name} {n:,}: {rss:,.0f} MB, {sec:.1f} s", flush=True)
    print()
    lo, hi = sizes[0], sizes[-1]
    print(f"{'code':<10} {'command':<20} " + " ".join(f"{f'RSS MB @{n:,}':>16} {f's @{n:,}':>12}" for n in sizes)
          + f" {'RSS growth':>11} {'per-doc':>8}")
    for label, _ in codes:
        for name in COMMANDS:
            if (label, name, lo) not in results:
                continue
            row = [results.get((label, name, n)) for n in sizes]
            cells = " ".join(f"{r[0]:>16,.0f} {r[1]:>12.1f}" if r else f"{'-':>16} {'-':>12}" for r in row)
            growth = per_doc = "-"
            if row[-1]:
                a, b = results[label, name, lo][0], results[label, name, hi][0]
                growth = f"{100 * (b - a) / a:+.0f}%"
                stated = PER_DOC.get(name, 0) if label == "this" else 0
                per_doc = f"{100 * (b - stated * (hi - lo) / 2**20 - a) / a:+.0f}%"
            print(f"{label:<10} {name:<20} {cells} {growth:>11} {per_doc:>8}")
    print(f"(per-doc: the growth less the stated bytes per document, verify {VERIFY_BYTES_PER_DOC} B; "
          f"sizes in curated documents)")
    return 0


def du(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


if __name__ == "__main__":
    sys.exit(main())
