"""`refinery verify DIR`: checks a finished run end to end and names every violation.

- the funnel: per stage in == kept + sum(dropped); each stage's in == the previous stage's kept; the last
  stage's kept == the rows of documents/; document ids unique;
- removed/<stage>/ holds exactly the dropped counts, per reason;
- every Parquet file of the run reads completely;
- the shards: each listed file exists, rows and tokens per split match the manifest, num_tokens matches
  input_ids, ids are below vocab_size, every file's tokenizer_sha256 matches the manifest and the sha256 of
  tokenizer/tokenizer.json, and the shards hold every curated document exactly once (as many times as
  shards.language_weights puts it there, when the manifest records weights).
"""

import glob
import os

import pyarrow.parquet as pq

from pipeline.stats import collect_stats
from refinery.layout import RunLayout, file_sha256


class Checks:
    """Counts the checks actually made, and the problems they found."""

    def __init__(self):
        self.made = 0
        self.problems: list[str] = []

    def check(self, ok: bool, problem: str) -> bool:
        self.made += 1
        if not ok:
            self.problems.append(problem)
        return ok


def verify_run(run_dir: str) -> tuple[list[str], int]:
    """Returns (problems, number of checks made)."""
    layout = RunLayout(run_dir)
    c = Checks()
    if not c.check(os.path.exists(layout.marker), f"{run_dir}: not a refinery run folder (no run.json)"):
        return c.problems, c.made

    # every Parquet file reads completely
    parquet = sorted(glob.glob(os.path.join(run_dir, "**", "*.parquet"), recursive=True))
    tables = {}
    for path in parquet:
        t = _read(path, c)
        if t is not None:
            tables[path] = t

    stats = collect_stats(run_dir)
    stages = stats["stages"]
    if not c.check(bool(stages), f"{run_dir}: no stats (the run has not completed any task)"):
        return c.problems, c.made
    prev = None
    for s in stages:
        dropped = sum(s["dropped"].values())
        c.check(s["in"] == s["kept"] + dropped, f"stage {s['name']}: in {s['in']} != kept {s['kept']} + dropped {dropped}")
        if prev is not None:
            c.check(s["in"] == prev["kept"],
                    f"stage {s['name']}: in {s['in']} != kept {prev['kept']} of the stage before ({prev['name']})")
        prev = s
        removed = layout.stage_files("removed", s["name"])
        if removed:
            counts: dict[str, int] = {}
            for path in removed:
                if path in tables:
                    for r in tables[path].column("reason").to_pylist():
                        counts[r] = counts.get(r, 0) + 1
            diff = {r: (s["dropped"].get(r, 0), counts.get(r, 0)) for r in set(counts) | set(s["dropped"])
                    if s["dropped"].get(r, 0) != counts.get(r, 0)}
            c.check(not diff, f"removed/{s['name']}/ does not match the stats (reason: (stats, rows)): {diff}")

    doc_ids = [i for p in layout.document_files() if p in tables for i in tables[p].column("id").to_pylist()]
    c.check(len(doc_ids) == stages[-1]["kept"],
            f"documents/ holds {len(doc_ids)} rows, the last stage ({stages[-1]['name']}) kept {stages[-1]['kept']}")
    c.check(len(set(doc_ids)) == len(doc_ids), f"documents/ holds {len(doc_ids) - len(set(doc_ids))} duplicated document ids")

    if os.path.exists(layout.shards.manifest):
        _verify_shards(layout, tables, set(doc_ids), c)
    return c.problems, c.made


def _read(path: str, c: Checks):
    try:
        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001 - any failure to read is the finding
        c.check(False, f"{path}: unreadable Parquet: {type(e).__name__}: {e}")
        return None
    c.check(True, "")
    return table


def _verify_shards(layout: RunLayout, tables: dict, doc_ids: set, c: Checks):
    shards = layout.shards
    try:
        manifest = shards.read_manifest()
    except (OSError, ValueError) as e:
        c.check(False, f"{shards.manifest}: unreadable: {e}")
        return
    tok_path = layout.tokenizer
    if c.check(os.path.exists(tok_path), f"{tok_path}: missing"):
        digest = file_sha256(tok_path)
        c.check(digest == manifest.get("tokenizer_sha256"),
                f"{tok_path}: sha256 {digest} differs from the manifest's {manifest.get('tokenizer_sha256')}")
    seen: list[str] = []
    for split, info in manifest.get("splits", {}).items():
        rows = tokens = 0
        for name in info["shards"]:
            path = shards.shard(split, name)
            if not c.check(os.path.exists(path), f"{path}: listed in the manifest but missing"):
                continue
            t = tables.get(path)
            if t is None:
                continue  # already reported unreadable
            meta = {k.decode(): v.decode() for k, v in (t.schema.metadata or {}).items()}
            c.check(meta.get("tokenizer_sha256") == manifest.get("tokenizer_sha256"),
                    f"{path}: tokenizer_sha256 {meta.get('tokenizer_sha256')} differs from the manifest's")
            lengths = t.column("input_ids").combine_chunks().value_lengths().to_pylist()
            c.check(lengths == t.column("num_tokens").to_pylist(), f"{path}: num_tokens does not match the length of input_ids")
            flat = t.column("input_ids").combine_chunks().flatten().to_numpy()
            c.check(not (len(flat) and flat.max() >= manifest.get("vocab_size", 0)),
                    f"{path}: token id {flat.max() if len(flat) else 0} >= vocab_size {manifest.get('vocab_size')}")
            rows += t.num_rows
            tokens += sum(lengths)
            seen += t.column("doc_id").to_pylist()
        c.check((rows, tokens) == (info["rows"], info["tokens"]),
                f"shards/{split}: {rows} rows and {tokens} tokens, the manifest says {info['rows']} and {info['tokens']}")
    weights = manifest.get("language_weights")
    if weights:
        from collections import Counter

        from stages.token_shards import copies

        want = Counter()
        for p in layout.document_files():
            if p in tables:
                for i, lang in zip(tables[p].column("id").to_pylist(), tables[p].column("language").to_pylist()):
                    want[i] = copies(i, lang, weights)
        have = Counter(seen)
        wrong = sum(1 for i in set(want) | set(have) if want[i] != have[i])
        c.check(not wrong, f"shards: {wrong} documents appear other than language_weights {weights} says")
        return
    c.check(len(seen) == len(set(seen)), f"shards: {len(seen) - len(set(seen))} documents appear more than once")
    c.check(set(seen) == doc_ids, f"shards: {len(doc_ids - set(seen))} curated documents missing, "
                                  f"{len(set(seen) - doc_ids)} not among the curated documents")
