"""`refinery verify DIR`: checks a finished run end to end and names every violation.

- the funnel: per stage in == kept + sum(dropped); each stage's in == the previous stage's kept; the last
  stage's kept == the rows of documents/; document ids unique;
- removed/<stage>/ holds exactly the dropped counts, per reason;
- every Parquet file of the run reads completely;
- the shards: each listed file exists, rows and tokens per split match the manifest, num_tokens matches
  input_ids, ids are below vocab_size, every file's tokenizer_sha256 matches the manifest and the sha256 of
  tokenizer/tokenizer.json, and the shards hold every curated document exactly once.
"""

import glob
import json
import os

import pyarrow.parquet as pq

from pipeline.stats import collect_stats
from stages.tokenizer import file_sha256


def _read(path: str, problems: list[str], columns=None):
    try:
        return pq.read_table(path, columns=columns)
    except Exception as e:  # noqa: BLE001 - any failure to read is the finding
        problems.append(f"{path}: unreadable Parquet: {type(e).__name__}: {e}")
        return None


def verify_run(run_dir: str) -> tuple[list[str], int]:
    """Returns (problems, number of checks made)."""
    problems: list[str] = []
    checks = 0
    if not os.path.exists(os.path.join(run_dir, "run.json")):
        return [f"{run_dir}: not a refinery run folder (no run.json)"], 1

    # every Parquet file reads completely
    parquet = sorted(glob.glob(os.path.join(run_dir, "**", "*.parquet"), recursive=True))
    tables = {}
    for path in parquet:
        checks += 1
        t = _read(path, problems)
        if t is not None:
            tables[path] = t

    stats = collect_stats(run_dir)
    stages = stats["stages"]
    if not stages:
        problems.append(f"{run_dir}: no stats (the run has not completed any task)")
        return problems, checks + 1
    prev = None
    for s in stages:
        checks += 2
        if s["in"] != s["kept"] + sum(s["dropped"].values()):
            problems.append(f"stage {s['name']}: in {s['in']} != kept {s['kept']} + dropped {sum(s['dropped'].values())}")
        if prev is not None and s["in"] != prev["kept"]:
            problems.append(f"stage {s['name']}: in {s['in']} != kept {prev['kept']} of the stage before ({prev['name']})")
        prev = s
        removed_dir = os.path.join(run_dir, "removed", s["name"])
        if os.path.isdir(removed_dir):
            counts: dict[str, int] = {}
            for path in glob.glob(os.path.join(removed_dir, "*.parquet")):
                if path in tables:
                    for r in tables[path].column("reason").to_pylist():
                        counts[r] = counts.get(r, 0) + 1
            if counts != s["dropped"]:
                diff = {r: (s["dropped"].get(r, 0), counts.get(r, 0)) for r in set(counts) | set(s["dropped"])
                        if s["dropped"].get(r, 0) != counts.get(r, 0)}
                problems.append(f"removed/{s['name']}/ does not match the stats (reason: (stats, rows)): {diff}")

    doc_paths = [p for p in parquet if os.path.dirname(p) == os.path.join(run_dir, "documents")]
    doc_ids = [i for p in doc_paths if p in tables for i in tables[p].column("id").to_pylist()]
    checks += 2
    if len(doc_ids) != stages[-1]["kept"]:
        problems.append(f"documents/ holds {len(doc_ids)} rows, the last stage ({stages[-1]['name']}) kept {stages[-1]['kept']}")
    if len(set(doc_ids)) != len(doc_ids):
        problems.append(f"documents/ holds {len(doc_ids) - len(set(doc_ids))} duplicated document ids")

    manifest_path = os.path.join(run_dir, "shards", "manifest.json")
    if os.path.exists(manifest_path):
        problems += _verify_shards(run_dir, manifest_path, tables, set(doc_ids))
        checks += 6
    return problems, checks


def _verify_shards(run_dir: str, manifest_path: str, tables: dict, doc_ids: set) -> list[str]:
    problems = []
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        return [f"{manifest_path}: unreadable: {e}"]
    tok_path = os.path.join(run_dir, "tokenizer", "tokenizer.json")
    if not os.path.exists(tok_path):
        problems.append(f"{tok_path}: missing")
    elif file_sha256(tok_path) != manifest.get("tokenizer_sha256"):
        problems.append(f"{tok_path}: sha256 {file_sha256(tok_path)} differs from the manifest's "
                        f"{manifest.get('tokenizer_sha256')}")
    seen: list[str] = []
    for split, info in manifest.get("splits", {}).items():
        rows = tokens = 0
        for name in info["shards"]:
            path = os.path.join(run_dir, "shards", split, name)
            if not os.path.exists(path):
                problems.append(f"{path}: listed in the manifest but missing")
                continue
            t = tables.get(path)
            if t is None:
                continue  # already reported unreadable
            meta = {k.decode(): v.decode() for k, v in (t.schema.metadata or {}).items()}
            if meta.get("tokenizer_sha256") != manifest.get("tokenizer_sha256"):
                problems.append(f"{path}: tokenizer_sha256 {meta.get('tokenizer_sha256')} differs from the manifest's")
            lengths = t.column("input_ids").combine_chunks().value_lengths().to_pylist()
            if lengths != t.column("num_tokens").to_pylist():
                problems.append(f"{path}: num_tokens does not match the length of input_ids")
            flat = t.column("input_ids").combine_chunks().flatten().to_numpy()
            if len(flat) and flat.max() >= manifest.get("vocab_size", 0):
                problems.append(f"{path}: token id {flat.max()} >= vocab_size {manifest.get('vocab_size')}")
            rows += t.num_rows
            tokens += sum(lengths)
            seen += t.column("doc_id").to_pylist()
        if (rows, tokens) != (info["rows"], info["tokens"]):
            problems.append(f"shards/{split}: {rows} rows and {tokens} tokens, the manifest says {info['rows']} and {info['tokens']}")
    if len(seen) != len(set(seen)):
        problems.append(f"shards: {len(seen) - len(set(seen))} documents appear more than once")
    if set(seen) != doc_ids:
        problems.append(f"shards: {len(doc_ids - set(seen))} curated documents missing, "
                        f"{len(set(seen) - doc_ids)} not among the curated documents")
    return problems
