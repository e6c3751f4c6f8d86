"""The threshold what-if: for a stage's threshold key (a `Threshold` its class declares, stages/registry.py), the share of
the stage's input that would survive the stage as a function of that threshold, the others of the stage left as
configured, with the configured value marked and the documents just above and just below it.

Computed on the stage's input sample, inspect/<stage>/ (output.inspect_rate of the documents that entered it, by id
hash, with the metrics measured on the text as it entered). When neither the stage nor any stage after it dropped
anything (quality_classifier in mode annotate), documents/ holds the stage's whole input and the metric's column
there (the Threshold's document_field) is read instead: every document.

A sampled document survives threshold v when
  - it was kept and its metric passes v, or
  - this rule dropped it, its metric passes v, and each other threshold rule of the stage whose metric was recorded
    for it passes at its configured value (yes/no rules the stage did not evaluate on it are assumed to pass);
a document another rule dropped does not survive at any v. `refinery stats DIR --what-if STAGE.KEY` prints the
curve; the report draws it from the same function.
"""

import json

import numpy as np
import pyarrow.compute as pc

from pipeline.scan import Smallest, batches, map_entries, read_rows, utf8_lengths
from pipeline.stats import collect_stats, run_registry
from refinery.layout import RunLayout
from refinery.schema import KEPT
from stages.base import id_fraction, scrubbed_head

POINTS = 21  # thresholds evenly spaced between the smallest and the largest value, plus the configured one
EXAMPLES = 3  # documents shown just above and just below the configured threshold
SNIPPET = 300


class WhatIfError(ValueError):
    pass


def threshold_keys(run_dir: str) -> list[str]:
    """STAGE.KEY of every declared threshold of the stages the run has configured."""
    registry, configured = run_registry(run_dir), configured_stages(run_dir)
    return [f"{c.name}.{t.key}" for c in registry.ordered() if c.name in configured for t in c.thresholds]


def configured_stages(run_dir: str) -> dict:
    try:
        with open(RunLayout(run_dir).marker) as f:
            return json.load(f)["config"]["stages"] or {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


# Memory: the rows are read in batches of a few columns (never the whole sample or documents/); a curve needs
# a pass for the range of the metric, one for the counts at each threshold (with the examples nearest the reference
# in bounded heaps) and, without a configured threshold, the median: from the values themselves while they are at
# most MEDIAN_IN_MEMORY (8 bytes each), else by a radix selection, 16 bits a pass.
MEDIAN_IN_MEMORY = 1 << 20


class _Batch:
    """One batch of rows as arrays: where they are (file, first row), outcome masks, the metrics the curve needs
    (NaN where not recorded or not finite), UTF-8 bytes (0 where unknown) and how many rows have no size."""

    def __init__(self, fi, start, ids, kept, dropped_by_rule, metrics, size, unsized):
        self.fi, self.start, self.ids = fi, start, ids
        self.kept, self.dropped_by_rule, self.metrics, self.size, self.unsized = kept, dropped_by_rule, metrics, size, unsized


def _map_values(column, names: set[str]) -> dict[str, np.ndarray]:
    """Per metric name, the value of each row of a map<string, double> column (NaN where absent or not finite)."""
    n = len(column)
    out = {name: np.full(n, np.nan) for name in names}
    rows, keys, values = map_entries(column)
    if not len(keys):
        return out
    values = values.to_numpy(zero_copy_only=False).astype(np.float64)
    for name in names:
        hit = pc.equal(keys, name).to_numpy(zero_copy_only=False) & np.isfinite(values)
        out[name][rows[hit]] = values[hit]  # a name recorded twice in one row: the last one, as a dict keeps it
    return out


def _inspect_batches(run_dir: str, stage: str, rule, metrics: set[str]):
    for fi, path in enumerate(RunLayout(run_dir).stage_files("inspect", stage)):
        start = 0
        for batch in batches(path, ["id", "outcome", "metrics", "bytes"]):
            cols = dict(zip(batch.schema.names, batch.columns))
            outcome = cols["outcome"]
            kept = pc.fill_null(pc.equal(outcome, KEPT), False).to_numpy(zero_copy_only=False)
            by_rule = pc.fill_null(pc.equal(outcome, rule.reason), False).to_numpy(zero_copy_only=False)
            # a run written before inspect/ had `bytes`: its rows have none (the what-if then says so)
            sizes = cols.get("bytes")
            if sizes is None:
                size, unsized = np.zeros(batch.num_rows, np.int64), batch.num_rows
            else:
                size, unsized = pc.fill_null(sizes, 0).to_numpy(zero_copy_only=False).astype(np.int64), sizes.null_count
            yield _Batch(fi, start, cols["id"], kept, by_rule, _map_values(cols["metrics"], metrics), size, unsized)
            start += batch.num_rows


def _document_batches(run_dir: str, field: str, metric: str):
    for fi, path in enumerate(RunLayout(run_dir).document_files()):
        start = 0
        for batch in batches(path, ["id", "text", field]):
            cols = dict(zip(batch.schema.names, batch.columns))
            n = batch.num_rows
            values = np.full(n, np.nan)
            if field in cols:
                values = cols[field].to_numpy(zero_copy_only=False).astype(np.float64)
                values[~np.isfinite(values)] = np.nan
            yield _Batch(fi, start, cols["id"], np.ones(n, bool), np.zeros(n, bool), {metric: values},
                         utf8_lengths(cols["text"]), 0)
            start += n


def _grid(lo: float, hi: float, configured: float | None, points: int) -> list[float]:
    grid = {lo + (hi - lo) * i / (points - 1) for i in range(points)} if hi > lo else {lo}
    if configured is not None:
        grid.add(float(configured))
    return sorted(grid)


def _sortable(values: np.ndarray) -> np.ndarray:
    """Finite float64 values as uint64 keys in the same order."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    return np.where(bits >> np.uint64(63), ~bits, bits | np.uint64(1 << 63))


def _from_sortable(key: int) -> float:
    bits = key & ~(1 << 63) if key >> 63 else ~key & (2**64 - 1)
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


def _kth_smallest(passes, k: int) -> float:
    """The k-th smallest (0-based) of the values `passes()` yields (a fresh stream of arrays each call), with
    16 bits of the answer fixed per pass: four passes, 512 KB of counters."""
    prefix, fixed = 0, 0
    for shift in (48, 32, 16, 0):
        counts = np.zeros(1 << 16, np.int64)
        for values in passes():
            keys = _sortable(values)
            if fixed:
                keys = keys[(keys >> np.uint64(shift + 16)) == np.uint64(prefix >> (shift + 16))]
            counts += np.bincount(((keys >> np.uint64(shift)) & np.uint64(0xFFFF)).astype(np.int64), minlength=1 << 16)
        cum = np.cumsum(counts)
        bucket = int(np.searchsorted(cum, k, side="right"))
        k -= int(cum[bucket - 1]) if bucket else 0
        prefix |= bucket << shift
        fixed += 16
    return _from_sortable(prefix)


def what_if(run_dir: str, stage: str, key: str, points: int = POINTS, examples: int = EXAMPLES, scrubber=None) -> dict:
    registry = run_registry(run_dir)
    if stage not in registry:
        raise WhatIfError(f"no stage {stage!r} (thresholds of this run: {', '.join(threshold_keys(run_dir)) or 'none'})")
    cls = registry.get(stage)
    rule = next((t for t in cls.thresholds if t.key == key), None)
    configured = configured_stages(run_dir)
    if rule is None or stage not in configured:
        raise WhatIfError(f"{stage}.{key}: not a threshold of this run (its thresholds: "
                          f"{', '.join(threshold_keys(run_dir)) or 'none'})")
    params = configured[stage] or {}
    value = params.get(key)
    others = [(t, params.get(t.key)) for t in cls.thresholds if t.key != key and params.get(t.key) is not None]
    funnel = [s for s in collect_stats(run_dir)["stages"]]
    names = [s["name"] for s in funnel]
    nothing_dropped = stage in names and all(not s["dropped"] for s in funnel[names.index(stage):])
    if rule.document_field and nothing_dropped:
        source = "documents"

        def stream():
            return _document_batches(run_dir, rule.document_field, rule.metric)
    else:
        source = "inspect"
        wanted = {rule.metric} | {t.metric for t, _ in others}

        def stream():
            return _inspect_batches(run_dir, stage, rule, wanted)

    def open_mask(b: _Batch) -> np.ndarray:
        """The rows whose fate this threshold decides: a recorded metric, and kept, or dropped by this rule while
        every other rule recorded for it passes at its configured value."""
        m = b.metrics[rule.metric]
        others_pass = np.ones(len(m), bool)
        for t, v in others:
            o = b.metrics[t.metric]
            others_pass &= np.isnan(o) | t.passes(o, v)
        return ~np.isnan(m) & (b.kept | (b.dropped_by_rule & others_pass))

    # pass 1: the totals, the rows kept whatever the threshold (kept without the metric: the rule did not look at
    # them), the range of the open rows' metric
    total_docs = total_bytes = unsized = always_docs = always_bytes = n_open = 0
    lo = hi = None
    small: list[np.ndarray] | None = [] if value is None else None
    for b in stream():
        total_docs += len(b.kept)
        total_bytes += int(b.size.sum())
        unsized += b.unsized
        always = np.isnan(b.metrics[rule.metric]) & b.kept
        always_docs += int(always.sum())
        always_bytes += int(b.size[always].sum())
        m = b.metrics[rule.metric][open_mask(b)]
        if len(m):
            n_open += len(m)
            lo = float(m.min()) if lo is None else min(lo, float(m.min()))
            hi = float(m.max()) if hi is None else max(hi, float(m.max()))
            if small is not None and n_open <= MEDIAN_IN_MEMORY:
                small.append(m)
            else:
                small = None
    out = {"stage": stage, "key": key, "metric": rule.metric, "keep": rule.keep, "reason": rule.reason,
           "configured": value, "source": source, "documents": total_docs, "bytes": total_bytes, "unsized": unsized,
           "points": [], "above": [], "below": [], "reference": value}
    if not n_open:
        return out
    if value is not None:
        reference = value
    elif small is not None:
        reference = float(np.partition(np.concatenate(small), n_open // 2)[n_open // 2])
    else:
        reference = _kth_smallest(lambda: (b.metrics[rule.metric][open_mask(b)] for b in stream()), n_open // 2)
    out["reference"] = reference

    # pass 2: documents and bytes surviving each threshold; the open rows nearest the reference on either side,
    # by distance, ties by the id's hash (the same run shows the same rows)
    grid = _grid(lo, hi, value, points)
    docs_at = [always_docs] * len(grid)
    bytes_at = [always_bytes] * len(grid)
    nearest = {"above": Smallest(examples), "below": Smallest(examples)}
    for b in stream():
        where = open_mask(b)
        m, size = b.metrics[rule.metric][where], b.size[where]
        for i, v in enumerate(grid):
            passing = rule.passes(m, v)
            docs_at[i] += int(passing.sum())
            bytes_at[i] += int(size[passing].sum())
        rows = np.flatnonzero(where)
        distance = np.abs(m - reference)
        for side, on_side in (("above", m >= reference), ("below", m < reference)):
            heap = nearest[side]
            worst = heap.worst()
            chosen = on_side if worst is None else on_side & (distance <= worst[0])
            for j in np.flatnonzero(chosen):
                row = int(rows[j])
                heap.offer((float(distance[j]), id_fraction(b.ids[row].as_py(), "examples"), b.fi, b.start + row),
                           (b.fi, b.start + row, float(m[j]), KEPT if b.kept[row] else rule.reason))
    for v, docs, size in zip(grid, docs_at, bytes_at):
        out["points"].append({"threshold": v, "documents": docs, "documents_share": docs / total_docs,
                              "bytes": size, "bytes_share": size / total_bytes if total_bytes else 0.0,
                              "configured": value is not None and v == float(value)})

    files = (RunLayout(run_dir).document_files() if source == "documents"
             else RunLayout(run_dir).stage_files("inspect", stage))
    for side, heap in nearest.items():
        picked = heap.items()
        by_file: dict[int, list[int]] = {}
        for fi, row, _, _ in picked:
            by_file.setdefault(fi, []).append(row)
        fetched = {(fi, row): r for fi, rows in by_file.items()
                   for row, r in zip(rows, read_rows(files[fi], rows, ["id", "url", "text"]))}
        for fi, row, m, outcome in picked:
            r = fetched[fi, row]
            out[side].append({"id": r["id"], "url": scrubber.scrub_url(r["url"]) if scrubber and r["url"] else r["url"],
                              "value": m, "outcome": outcome, "text": scrubbed_head(r["text"], SNIPPET, scrubber)})
    return out


def run_what_ifs(run_dir: str, scrubber=None) -> dict:
    """stage -> key -> what_if, for every declared threshold of the run's configured stages (the report's data)."""
    out = {}
    for name in threshold_keys(run_dir):
        stage, key = name.split(".", 1)
        curve = what_if(run_dir, stage, key, scrubber=scrubber)
        if curve["points"]:
            out.setdefault(stage, {})[key] = curve
    return out


def _num(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, int) or float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:.4g}"


def format_what_if(w: dict) -> str:
    where = ("every document of documents/ (the stage and those after it dropped nothing)" if w["source"] == "documents"
             else f"inspect/{w['stage']}/, the stage's input sample")
    lines = [f"what-if {w['stage']}.{w['key']}: a document passes when {w['metric']} {w['keep']} {w['key']} "
             f"(configured: {_num(w['configured'])}); {w['documents']:,} documents, {w['bytes']:,} bytes, "
             f"from {where}",
             f"  {'threshold':>12} {'documents':>10} {'% docs':>8} {'bytes':>12} {'% bytes':>8}"]
    if w.get("unsized"):
        lines.insert(1, f"  ({w['unsized']:,} rows written before inspect/ recorded sizes count 0 bytes)")
    for p in w["points"]:
        mark = "> " if p["configured"] else "  "
        lines.append(f"{mark}{_num(p['threshold']):>12} {p['documents']:>10,} {100 * p['documents_share']:>7.1f}% "
                     f"{p['bytes']:>12,} {100 * p['bytes_share']:>7.1f}%" + ("   <- configured" if p["configured"] else ""))
    if not w["points"]:
        lines.append(f"  no document of the sample has a {w['metric']} this rule decides on")
    ref = "the configured threshold" if w["configured"] is not None else "the median (no threshold configured)"
    for side in ("above", "below"):
        if w[side]:
            lines.append(f"just {side} {ref} ({_num(w['reference'])}):")
            for ex in w[side]:
                text = " ".join((ex["text"] or "").split())[:100]
                lines.append(f"  {_num(ex['value']):>10} {ex['outcome']:<20} {ex['url'] or ex['id']}  {text}")
    return "\n".join(lines)
