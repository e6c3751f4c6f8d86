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
import os

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.scan import SortedIds, batches, file_batches, id_hashes, repeated
from pipeline.stats import collect_stats
from refinery.layout import RunLayout, file_sha256

# Memory: every file is read one column at a time (the columns a check needs together, together), batch by batch;
# what is held across files is the 8-byte hash of each curated document's id (documents/) and of each shard row's
# doc_id: 16 bytes per curated document. Two different ids with the same hash would count as one id; a hash seen
# twice is confirmed on the id strings before a duplicate is reported.
MATCH_CHUNK = 1 << 16  # hashes looked up at once when comparing the shards' ids with the documents'


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

    # every Parquet file reads completely; while each is read, what the checks below need of it is gathered
    parquet = sorted(glob.glob(os.path.join(run_dir, "**", "*.parquet"), recursive=True))
    removed_dir = os.path.normpath(layout.removed)
    documents = {os.path.normpath(p) for p in layout.document_files()}
    shard_files = _manifest_shards(layout)
    doc_ids = SortedIds(_rows(documents))
    shard_ids = SortedIds(_rows(shard_files))
    readable: set[str] = set()
    reasons: dict[str, dict[str, int]] = {}  # removed file -> reason -> rows
    shard_facts: dict[str, dict] = {}
    for path in parquet:
        key = os.path.normpath(path)
        if os.path.dirname(os.path.dirname(key)) == removed_dir:
            counts: dict[str, int] = {}
            if _scan(path, c, ["reason"], lambda b, counts=counts: _count_reasons(b, counts)):
                reasons[key] = counts
        elif key in documents:
            hashes: list[np.ndarray] = []
            if _scan(path, c, ["id"], lambda b, hashes=hashes: hashes.append(id_hashes(b.column(0)))):
                for h in hashes:
                    doc_ids.add(h)
                readable.add(key)
        elif key in shard_files:
            facts = {"rows": 0, "tokens": 0, "lengths_match": True, "max_id": None, "hashes": []}
            if _scan(path, c, ["input_ids", "num_tokens", "doc_id"], lambda b, facts=facts: _shard_batch(b, facts)):
                facts["metadata"] = pq.read_schema(path).metadata
                for h in facts.pop("hashes"):
                    shard_ids.add(h)
                shard_facts[key] = facts
        else:
            _scan(path, c)

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
                for r, n in reasons.get(os.path.normpath(path), {}).items():
                    counts[r] = counts.get(r, 0) + n
            diff = {r: (s["dropped"].get(r, 0), counts.get(r, 0)) for r in set(counts) | set(s["dropped"])
                    if s["dropped"].get(r, 0) != counts.get(r, 0)}
            c.check(not diff, f"removed/{s['name']}/ does not match the stats (reason: (stats, rows)): {diff}")

    _verify_languages(stages, c)

    docs = doc_ids.finish()
    c.check(len(docs) == stages[-1]["kept"],
            f"documents/ holds {len(docs)} rows, the last stage ({stages[-1]['name']}) kept {stages[-1]['kept']}")
    extra = _extra_occurrences(docs, sorted(readable), "id")
    c.check(extra == 0, f"documents/ holds {extra} duplicated document ids")

    if os.path.exists(layout.shards.manifest):
        _verify_shards(layout, shard_facts, shard_ids.finish(), _unique(docs), c)
    return c.problems, c.made


def _verify_languages(stages: list[dict], c: Checks):
    """From the first stage that counts per language (lang/<L>/... stats) on: each stage's per-language counts sum
    to its own, each language's in == kept + dropped, and a language's in is what the stage before kept of it."""
    first = next((i for i, s in enumerate(stages) if s.get("languages")), None)
    if first is None:
        return
    prev = None
    for s in stages[first:]:
        langs = s.get("languages", {})
        for key in ("in", "kept", "kept_bytes"):
            total = sum(lang[key] for lang in langs.values())
            c.check(total == s.get(key, 0), f"stage {s['name']}: its per-language {key} counts sum to {total}, "
                                            f"its {key} is {s.get(key, 0)}")
        dropped: dict[str, int] = {}
        for lang in langs.values():
            for reason, n in lang["dropped"].items():
                dropped[reason] = dropped.get(reason, 0) + n
        c.check(dropped == s["dropped"], f"stage {s['name']}: its per-language drops sum to {dropped}, "
                                         f"its drops are {s['dropped']}")
        for code, lang in langs.items():
            dropped_n = sum(lang["dropped"].values())
            c.check(lang["in"] == lang["kept"] + dropped_n, f"stage {s['name']}, language {code}: in {lang['in']} != "
                                                            f"kept {lang['kept']} + dropped {dropped_n}")
        if prev is not None:
            before = prev.get("languages", {})
            for code in sorted(set(langs) | set(before)):
                n_in, n_kept = langs.get(code, {}).get("in", 0), before.get(code, {}).get("kept", 0)
                c.check(n_in == n_kept, f"stage {s['name']}, language {code}: in {n_in} != kept {n_kept} of the "
                                        f"stage before ({prev['name']})")
        prev = s


def _scan(path: str, c: Checks, wanted: list[str] = (), use=None) -> bool:
    """Reads every column of the file, batch by batch (the `wanted` ones together, handed to `use`); a failure
    anywhere is the finding."""
    try:
        f = pq.ParquetFile(path)
        names = f.schema_arrow.names
        together = [n for n in wanted if n in names]
        if together:
            for batch in file_batches(f, together):
                use(batch)
        for name in names:
            if name not in together:
                for _ in file_batches(f, [name]):
                    pass
    except Exception as e:  # noqa: BLE001 - any failure to read is the finding
        c.check(False, f"{path}: unreadable Parquet: {type(e).__name__}: {e}")
        return False
    c.check(True, "")
    return True


def _rows(paths) -> int:
    """Rows the files' footers announce (a file whose footer does not read counts 0: it is reported unreadable)."""
    total = 0
    for path in paths:
        try:
            total += pq.ParquetFile(path).metadata.num_rows
        except Exception:  # noqa: BLE001 - reported when the file is read
            pass
    return total


def _count_reasons(batch, counts: dict):
    for item in pc.value_counts(batch.column(0)).to_pylist():
        counts[item["values"]] = counts.get(item["values"], 0) + item["counts"]


def _shard_batch(batch, facts: dict):
    names = batch.schema.names
    ids = batch.column(names.index("input_ids")) if "input_ids" in names else None
    if ids is not None:
        lengths = ids.value_lengths().to_numpy(zero_copy_only=False)
        num_tokens = (batch.column(names.index("num_tokens")).to_numpy(zero_copy_only=False)
                      if "num_tokens" in names else None)
        if num_tokens is None or not np.array_equal(lengths, num_tokens):
            facts["lengths_match"] = False
        flat = ids.flatten().to_numpy()
        if len(flat):
            top = int(flat.max())
            facts["max_id"] = top if facts["max_id"] is None else max(facts["max_id"], top)
        facts["tokens"] += int(lengths.sum())
    facts["rows"] += batch.num_rows
    if "doc_id" in names:
        facts["hashes"].append(id_hashes(batch.column(names.index("doc_id"))))


def _manifest_shards(layout: RunLayout) -> set[str]:
    try:
        manifest = layout.shards.read_manifest()
        return {os.path.normpath(layout.shards.shard(split, name))
                for split, info in manifest.get("splits", {}).items() for name in info["shards"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return set()  # reported by _verify_shards


def _extra_occurrences(sorted_hashes: np.ndarray, paths: list[str], column: str) -> int:
    """Rows beyond the first of each id (len(ids) - len(set(ids))): hashes seen twice are confirmed on the id
    strings, read again from the files for those hashes only."""
    shared = repeated(sorted_hashes)
    if not len(shared):
        return 0
    found: dict[int, list[str]] = {}
    for path in paths:
        for batch in batches(path, [column]):
            hashes = id_hashes(batch.column(0))
            hits = np.flatnonzero(np.isin(hashes, shared))
            if len(hits):
                values = batch.column(0).take(hits).to_pylist()
                for h, v in zip(hashes[hits].tolist(), values):
                    found.setdefault(h, []).append(v)
    return sum(len(v) - len(set(v)) for v in found.values())


def _unique(sorted_hashes: np.ndarray) -> np.ndarray:
    if len(sorted_hashes) < 2 or not (sorted_hashes[1:] == sorted_hashes[:-1]).any():
        return sorted_hashes  # the usual case: no copy
    return np.unique(sorted_hashes)


def _missing(wanted: np.ndarray, present: np.ndarray) -> int:
    """How many of the (sorted, unique) `wanted` hashes are not among the (sorted, unique) `present` ones."""
    if not len(present):
        return len(wanted)
    missing = 0
    for start in range(0, len(wanted), MATCH_CHUNK):
        chunk = wanted[start:start + MATCH_CHUNK]
        at = np.minimum(np.searchsorted(present, chunk), len(present) - 1)
        missing += int((present[at] != chunk).sum())
    return missing


def _verify_shards(layout: RunLayout, facts: dict, seen: np.ndarray, doc_ids: np.ndarray, c: Checks):
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
    shard_paths = []
    for split, info in manifest.get("splits", {}).items():
        rows = tokens = 0
        for name in info["shards"]:
            path = shards.shard(split, name)
            if not c.check(os.path.exists(path), f"{path}: listed in the manifest but missing"):
                continue
            f = facts.get(os.path.normpath(path))
            if f is None:
                continue  # already reported unreadable
            shard_paths.append(path)
            meta = {k.decode(): v.decode() for k, v in (f["metadata"] or {}).items()}
            c.check(meta.get("tokenizer_sha256") == manifest.get("tokenizer_sha256"),
                    f"{path}: tokenizer_sha256 {meta.get('tokenizer_sha256')} differs from the manifest's")
            c.check(f["lengths_match"], f"{path}: num_tokens does not match the length of input_ids")
            top = f["max_id"] if f["max_id"] is not None else 0
            c.check(not (f["max_id"] is not None and top >= manifest.get("vocab_size", 0)),
                    f"{path}: token id {top} >= vocab_size {manifest.get('vocab_size')}")
            rows += f["rows"]
            tokens += f["tokens"]
        c.check((rows, tokens) == (info["rows"], info["tokens"]),
                f"shards/{split}: {rows} rows and {tokens} tokens, the manifest says {info['rows']} and {info['tokens']}")
    extra = _extra_occurrences(seen, sorted(set(shard_paths)), "doc_id")
    c.check(extra == 0, f"shards: {extra} documents appear more than once")
    seen = _unique(seen)
    missing, foreign = _missing(doc_ids, seen), _missing(seen, doc_ids)
    c.check(missing == 0 and foreign == 0, f"shards: {missing} curated documents missing, "
                                           f"{foreign} not among the curated documents")
