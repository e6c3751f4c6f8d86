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
import math

import pyarrow.parquet as pq

from pipeline.stats import collect_stats, run_registry
from refinery.layout import RunLayout
from refinery.schema import KEPT
from stages.base import id_fraction, scrubbed_head, utf8_size

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


def _rows_from_inspect(run_dir: str, stage: str) -> list[dict]:
    rows = []
    for path in RunLayout(run_dir).stage_files("inspect", stage):
        for r in pq.read_table(path).to_pylist():
            metrics = {k: v for k, v in (r["metrics"] or []) if v is not None and math.isfinite(v)}
            # a run written before inspect/ had `bytes`: its rows have none (the what-if then says so)
            rows.append({"id": r["id"], "url": r["url"], "outcome": r["outcome"], "metrics": metrics,
                         "bytes": r.get("bytes"), "text": r["text"]})
    return rows


def _rows_from_documents(run_dir: str, field: str, metric: str) -> list[dict]:
    rows = []
    for path in RunLayout(run_dir).document_files():
        t = pq.read_table(path, columns=["id", "url", "text", field]).to_pydict()
        for doc_id, url, text, value in zip(t["id"], t["url"], t["text"], t[field]):
            metrics = {} if value is None or not math.isfinite(value) else {metric: value}
            rows.append({"id": doc_id, "url": url, "outcome": KEPT, "metrics": metrics,
                         "bytes": utf8_size(text or ""), "text": text})
    return rows


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _grid(values: list[float], configured: float | None, points: int) -> list[float]:
    lo, hi = min(values), max(values)
    grid = {lo + (hi - lo) * i / (points - 1) for i in range(points)} if hi > lo else {lo}
    if configured is not None:
        grid.add(float(configured))
    return sorted(grid)


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
    # a threshold set per language (a mapping) has no one value to mark: the curve then has no configured point
    params = {k: v for k, v in (configured[stage] or {}).items() if _is_number(v)}
    value = params.get(key)
    others = [(t, params.get(t.key)) for t in cls.thresholds if t.key != key and params.get(t.key) is not None]
    funnel = [s for s in collect_stats(run_dir)["stages"]]
    names = [s["name"] for s in funnel]
    nothing_dropped = stage in names and all(not s["dropped"] for s in funnel[names.index(stage):])
    if rule.document_field and nothing_dropped:
        source, rows = "documents", _rows_from_documents(run_dir, rule.document_field, rule.metric)
    else:
        source, rows = "inspect", _rows_from_inspect(run_dir, stage)
    total_docs = len(rows)
    total_bytes = sum(r["bytes"] or 0 for r in rows)
    unsized = sum(r["bytes"] is None for r in rows)
    # the rows whose fate this threshold decides, with their metric
    open_rows, always = [], []  # always: kept without the metric (the rule did not look at it)
    for r in rows:
        m = r["metrics"].get(rule.metric)
        if m is None and r["outcome"] == KEPT:
            always.append(r)
        if m is None or r["outcome"] not in (KEPT, rule.reason):
            continue
        if r["outcome"] != KEPT and not all(t.passes(r["metrics"][t.metric], v) for t, v in others
                                            if t.metric in r["metrics"]):
            continue
        open_rows.append((m, r))
    out = {"stage": stage, "key": key, "metric": rule.metric, "keep": rule.keep, "reason": rule.reason,
           "configured": value, "source": source, "documents": total_docs, "bytes": total_bytes, "unsized": unsized,
           "points": [], "above": [], "below": [], "reference": value}
    if not open_rows:
        return out
    for v in _grid([m for m, _ in open_rows], value, points):
        passing = always + [r for m, r in open_rows if rule.passes(m, v)]
        docs, size = len(passing), sum(r["bytes"] or 0 for r in passing)
        out["points"].append({"threshold": v, "documents": docs, "documents_share": docs / total_docs,
                              "bytes": size, "bytes_share": size / total_bytes if total_bytes else 0.0,
                              "configured": value is not None and v == float(value)})
    reference = value if value is not None else sorted(m for m, _ in open_rows)[len(open_rows) // 2]
    out["reference"] = reference

    def show(m, r):
        return {"id": r["id"], "url": scrubber.scrub_url(r["url"]) if scrubber and r["url"] else r["url"],
                "value": m, "outcome": r["outcome"], "text": scrubbed_head(r["text"], SNIPPET, scrubber)}

    def order(item):  # by distance to the reference, ties by the id's hash (the same run shows the same rows)
        return abs(item[0] - reference), id_fraction(item[1]["id"], "examples")

    out["above"] = [show(m, r) for m, r in sorted((x for x in open_rows if x[0] >= reference), key=order)[:examples]]
    out["below"] = [show(m, r) for m, r in sorted((x for x in open_rows if x[0] < reference), key=order)[:examples]]
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
