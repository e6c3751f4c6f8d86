"""`refinery report`: one self-contained HTML file (no network, no CDN) about a run, or two runs compared.

It only reads what the run recorded: the merged stats (pipeline.stats), removed/<stage>/ (every dropped
document with its reason and deciding value) and inspect/<stage>/ (a hash-chosen sample of the documents
that entered each stage, kept or not, with the metrics its rules threshold). Samples are chosen by a hash of
the document id, so the same run always gives the same report.

When the run has a `pii` stage, every text, url and detail the report shows is scrubbed with its settings, even
where the run kept raw text (output.raw_text, or a run made before removed/ and inspect/ were scrubbed): a
report is made to be passed around.
"""

import html
import json
import os
import re

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.scan import Smallest, batches, map_entries, read_rows
from pipeline.stats import collect_stats, compare_stats, language_funnel, run_registry
from refinery.layout import RunLayout
from stages.base import id_fraction, scrubbed_head
from refinery.atomic import atomic_path
from refinery.schema import KEPT

EXAMPLES = 5  # documents shown per stage and reason
BINS = 30
SNIPPET = 300

# Memory: removed/ and inspect/ are read a few columns at a time, in batches; what is held is a bounded heap of
# examples per stage and reason (ids' hash, file, row) and, per metric, its range and 2 x BINS counts. The
# histograms take two passes over the metrics column (the bins need the range first).


def _files(run_dir: str, kind: str, stage: str) -> list[str]:
    return RunLayout(run_dir).stage_files(kind, stage)


def _url(url, scrubber):
    return scrubber.scrub_url(url) if scrubber else url


def dropped_examples(run_dir: str, stage: str, k: int = EXAMPLES, scrubber=None) -> dict[str, list[dict]]:
    """Per reason, the k dropped documents with the smallest id hash (scrubbed by `scrubber`, a PIIStage)."""
    chosen: dict[str, Smallest] = {}
    files = _files(run_dir, "removed", stage)
    for fi, path in enumerate(files):
        start = 0
        for batch in batches(path, ["id", "reason"]):
            ids, reasons = batch.column(0).to_pylist(), batch.column(1).to_pylist()
            for row, (doc_id, reason) in enumerate(zip(ids, reasons), start):
                heap = chosen.get(reason)
                if heap is None:
                    heap = chosen[reason] = Smallest(k)
                heap.offer((id_fraction(doc_id, "examples"), fi, row), (fi, row))
            start += batch.num_rows
    picked = {reason: heap.items() for reason, heap in chosen.items()}
    wanted: dict[int, list[int]] = {}
    for items in picked.values():
        for fi, row in items:
            wanted.setdefault(fi, []).append(row)
    fetched = {}
    for fi, rows in wanted.items():  # only the row groups that hold the chosen rows are read
        for row, r in zip(rows, read_rows(files[fi], rows)):
            detail = scrubber.scrub_with_urls(r["detail"]) if scrubber else r["detail"]
            fetched[fi, row] = {"id": r["id"], "url": _url(r["url"], scrubber), "value": r["value"], "detail": detail,
                                "text": scrubbed_head(r["text"], SNIPPET, scrubber)}
            if r.get("language") is not None:  # removed/ rows from the language stage on carry it
                fetched[fi, row]["language"] = r["language"]
    return {reason: [fetched[fi, row] for fi, row in items] for reason, items in picked.items()}


def _metric_values(column) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A map<string, double> column flattened: (row of each entry, its metric's code, its value), finite values
    only; the codes index `names`, returned fourth."""
    rows, keys, values = map_entries(column)
    if not len(keys):
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0), []
    encoded = pc.dictionary_encode(keys)
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    values = values.to_numpy(zero_copy_only=False).astype(np.float64)
    finite = np.isfinite(values)
    return rows[finite], codes[finite], values[finite], encoded.dictionary.to_pylist()


def inspection(run_dir: str, stage: str, k: int = EXAMPLES, scrubber=None) -> dict:
    """Distributions of every recorded metric (kept vs dropped) and kept examples, from inspect/<stage>/."""
    files = _files(run_dir, "inspect", stage)
    ranges: dict[str, list[float]] = {}  # metric -> [lo, hi] over kept and dropped rows
    kept_rows = Smallest(k)
    total = 0
    for fi, path in enumerate(files):
        start = 0
        for batch in batches(path, ["id", "outcome", "metrics"]):
            total += batch.num_rows
            kept = pc.fill_null(pc.equal(batch.column(1), KEPT), False).to_numpy(zero_copy_only=False)
            _, codes, values, names = _metric_values(batch.column(2))
            for code, name in enumerate(names):
                v = values[codes == code]
                if len(v):
                    lo, hi = float(v.min()), float(v.max())
                    r = ranges.setdefault(name, [lo, hi])
                    r[0], r[1] = min(r[0], lo), max(r[1], hi)
            ids = batch.column(0)
            for row in np.flatnonzero(kept).tolist():
                kept_rows.offer((id_fraction(ids[row].as_py(), "examples"), fi, start + row), (fi, start + row))
            start += batch.num_rows
    counts = {name: ([0] * BINS, [0] * BINS) for name in ranges}
    for path in files:
        for batch in batches(path, ["outcome", "metrics"]):
            kept = pc.fill_null(pc.equal(batch.column(0), KEPT), False).to_numpy(zero_copy_only=False)
            rows, codes, values, names = _metric_values(batch.column(1))
            for code, name in enumerate(names):
                here = codes == code
                if not here.any():
                    continue
                lo, hi = ranges[name]
                if hi == lo:
                    hi = lo + 1
                width = (hi - lo) / BINS
                bins = np.minimum(BINS - 1, ((values[here] - lo) / width).astype(np.int64))
                is_kept = kept[rows[here]]
                for series, mask in ((counts[name][0], is_kept), (counts[name][1], ~is_kept)):
                    for i, n in enumerate(np.bincount(bins[mask], minlength=BINS).tolist()):
                        series[i] += n
    hists = {}
    for name in sorted(ranges):
        lo, hi = ranges[name]
        hists[name] = {"lo": lo, "hi": hi if hi != lo else lo + 1, "kept": counts[name][0], "dropped": counts[name][1]}
    examples = []
    picked = kept_rows.items()
    for fi in sorted({fi for fi, _ in picked}):
        rows = [row for f, row in picked if f == fi]
        for row, r in zip(rows, read_rows(files[fi], rows, ["id", "url", "metrics", "text"])):
            examples.append(((fi, row), r))
    by_place = dict(examples)
    examples = [by_place[place] for place in picked]
    examples = [{"id": r["id"], "url": _url(r["url"], scrubber), "metrics": dict(r["metrics"] or []),
                 "text": scrubbed_head(r["text"], SNIPPET, scrubber)} for r in examples]
    return {"sampled": total, "histograms": hists, "kept_examples": examples}


def cluster_sizes(run_dir: str) -> dict[int, int]:
    """Duplicate clusters by size: from the curated documents' `minhash_cluster_size` (each kept document is its
    cluster's keeper; clusters of one included) when the run wrote it, else from the removed rows of the stages
    whose drop value is the cluster size (a cluster of n drops n - 1 documents, each carrying n as its value)."""
    by_size = _count_sizes(p for p in RunLayout(run_dir).document_files()
                           if "minhash_cluster_size" in pq.read_schema(p).names)
    if by_size:
        return dict(sorted(by_size.items()))
    dedup = [c.name for c in run_registry(run_dir).ordered() if c.value_is_cluster_size]
    dropped_by_size = _count_sizes((p for name in dedup for p in _files(run_dir, "removed", name)), "value")
    return {size: n // max(1, size - 1) for size, n in sorted(dropped_by_size.items())}


def _count_sizes(paths, column: str = "minhash_cluster_size") -> dict[int, int]:
    """How often each size occurs in the column (null and 0 left out; a float counts as int() of it)."""
    by_size: dict[int, int] = {}
    for path in paths:
        for batch in batches(path, [column]):
            v = batch.column(0).to_numpy(zero_copy_only=False).astype(np.float64)
            v = v[np.isfinite(v) & (v != 0)].astype(np.int64)
            sizes, n = np.unique(v, return_counts=True)
            for size, count in zip(sizes.tolist(), n.tolist()):
                by_size[size] = by_size.get(size, 0) + count
    return by_size


def run_scrubber(run_dir: str):
    """The run's text-scrubbing stage (pii) with its settings from run.json, or None when the run has none."""
    import dataclasses

    try:
        with open(RunLayout(run_dir).marker) as f:
            configured = json.load(f)["config"]["stages"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    for cls in run_registry(run_dir).ordered():
        if cls.scrubs_text and cls.name in configured:
            known = {f.name for f in dataclasses.fields(cls.Params)}  # another version's run.json may name others
            return cls(**{k: v for k, v in (configured[cls.name] or {}).items() if k in known})
    return None


def report_data(run_dir: str) -> dict:
    stats = collect_stats(run_dir)
    scrubber = run_scrubber(run_dir)
    from pipeline.whatif import run_what_ifs

    curves = run_what_ifs(run_dir, scrubber=scrubber)
    stages = []
    for s in stats["stages"]:
        stages.append({**s, "examples": dropped_examples(run_dir, s["name"], scrubber=scrubber),
                       **inspection(run_dir, s["name"], scrubber=scrubber), "what_if": curves.get(s["name"], {})})
    data = {"run": os.path.abspath(run_dir), "stats": stats, "stages": stages, "clusters": cluster_sizes(run_dir)}
    by_language = language_funnel(stats)
    if by_language["languages"]:  # a run whose stages count per language (lang/<L>/... stats)
        data["languages"] = by_language
    return data


def write_report(run_dir: str, out_path: str, compare_dir: str | None = None) -> str:
    if compare_dir:
        a, b = collect_stats(run_dir), collect_stats(compare_dir)
        data = {"mode": "compare", "a": os.path.abspath(run_dir), "b": os.path.abspath(compare_dir),
                "stats_a": a, "stats_b": b, "rows": compare_stats(a, b)}
        title = f"refinery: {os.path.basename(os.path.abspath(run_dir))} vs {os.path.basename(os.path.abspath(compare_dir))}"
    else:
        data = {"mode": "run", **report_data(run_dir)}
        title = f"refinery report: {os.path.basename(os.path.abspath(run_dir))}"
    page = render_page(title, data)
    with atomic_path(os.path.abspath(out_path), "report") as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(page)
    return out_path


def script_json(value) -> str:
    """JSON that stays data inside a <script> element whatever the crawled strings in it hold: with <, > and &
    escaped, no "</script>", "<!--" or "<script" can change how the browser's parser reads the element, and
    U+2028/U+2029 (ensure_ascii) cannot end a line of the script."""
    text = json.dumps(value, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_PLACEHOLDER = re.compile(r"__(TITLE|DATA)__")


def render_page(title: str, data: dict) -> str:
    """The template with every placeholder filled in one pass: text put in is never searched for placeholders."""
    values = {"TITLE": html.escape(title), "DATA": script_json(data)}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], TEMPLATE)


TEMPLATE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;color:#222}
h1{font-size:1.5em}h2{margin-top:2em;border-bottom:1px solid #ccc}h3{margin-bottom:.3em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right;vertical-align:top}
td.l,th.l{text-align:left}td.t{text-align:left;font-family:ui-monospace,monospace;font-size:12px;white-space:pre-wrap;max-width:640px;word-break:break-word}
tr.stage td{background:#f3f6fa;font-weight:600}.muted{color:#777}
.chart{margin:.4em 0 1em}.hists{display:flex;flex-wrap:wrap;gap:12px}.hist{border:1px solid #eee;padding:4px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
details{margin:.3em 0}summary{cursor:pointer}
</style></head><body>
<h1>__TITLE__</h1>
<div id="root"></div>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
var ERRORS = [];
window.addEventListener("error", function (e) { ERRORS.push(String(e.message)); document.body.dataset.errors = ERRORS.join(" | "); });
var consoleError = console.error;
console.error = function () { ERRORS.push(Array.prototype.join.call(arguments, " ")); document.body.dataset.errors = ERRORS.join(" | "); consoleError.apply(console, arguments); };
var D = JSON.parse(document.getElementById("data").textContent);
var KEPT_COLOR = "#4c78a8", DROP_COLOR = "#e45756", B_COLOR = "#f58518";
var charts = 0;
var SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, text) {
  var e = document.createElement(tag);
  for (var k in (attrs || {})) e.setAttribute(k, attrs[k]);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function svgEl(tag, attrs, text) {
  var e = document.createElementNS(SVG, tag);
  for (var k in (attrs || {})) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = String(text);
  return e;
}
function fmt(n) { return (n === null || n === undefined) ? "" : (typeof n === "number" && !Number.isInteger(n) ? n.toPrecision(4) : Number(n).toLocaleString("en-US")); }
function pct(a, b) { return b ? (100 * a / b).toFixed(2) + "%" : "-"; }
function section(parent, title, id) { var s = el("section", {id: id}); s.appendChild(el("h2", {}, title)); parent.appendChild(s); return s; }

// horizontal bars: rows [{label, values:[..]}], colors per series
function barChart(parent, rows, colors, names, title) {
  var w = 1000, lh = 22, left = 330, top = 24, max = 0;
  rows.forEach(function (r) { r.values.forEach(function (v) { max = Math.max(max, v); }); });
  var per = lh * colors.length, h = top + rows.length * (per + 6) + 10;
  var svg = svgEl("svg", {width: w, height: h, class: "chart", role: "img", "aria-label": title || "chart"});
  if (names) names.forEach(function (n, i) {
    svg.appendChild(svgEl("rect", {x: left + i * 160, y: 4, width: 10, height: 10, fill: colors[i]}));
    svg.appendChild(svgEl("text", {x: left + i * 160 + 14, y: 13, "font-size": 12}, n));
  });
  rows.forEach(function (r, i) {
    var y = top + i * (per + 6);
    svg.appendChild(svgEl("text", {x: left - 6, y: y + per / 2 + 4, "text-anchor": "end", "font-size": 12}, r.label));
    r.values.forEach(function (v, j) {
      var bw = max ? Math.max(v > 0 ? 1 : 0, (w - left - 170) * v / max) : 0;
      svg.appendChild(svgEl("rect", {x: left, y: y + j * lh, width: bw, height: lh - 4, fill: colors[j], class: "bar"}));
      svg.appendChild(svgEl("text", {x: left + bw + 4, y: y + j * lh + lh - 8, "font-size": 11}, fmt(v) + (r.notes ? r.notes[j] : "")));
    });
  });
  parent.appendChild(svg); charts++;
}

// stacked histogram of kept vs dropped
function histogram(parent, name, h) {
  var w = 360, ht = 150, pad = 28, n = h.kept.length, max = 0;
  for (var i = 0; i < n; i++) max = Math.max(max, h.kept[i] + h.dropped[i]);
  var box = el("div", {class: "hist"});
  box.appendChild(el("div", {}, name));
  var svg = svgEl("svg", {width: w, height: ht + pad, role: "img", "aria-label": name});
  var bw = (w - 10) / n;
  for (var i = 0; i < n; i++) {
    var kh = max ? (ht - 10) * h.kept[i] / max : 0, dh = max ? (ht - 10) * h.dropped[i] / max : 0;
    var x = 5 + i * bw, lo = h.lo + (h.hi - h.lo) * i / n, hi = h.lo + (h.hi - h.lo) * (i + 1) / n;
    var r1 = svgEl("rect", {x: x, y: ht - kh, width: Math.max(bw - 1, 1), height: kh, fill: KEPT_COLOR, class: "bar"});
    r1.appendChild(svgEl("title", {}, fmt(lo) + " to " + fmt(hi) + ": " + h.kept[i] + " kept"));
    var r2 = svgEl("rect", {x: x, y: ht - kh - dh, width: Math.max(bw - 1, 1), height: dh, fill: DROP_COLOR, class: "bar"});
    r2.appendChild(svgEl("title", {}, fmt(lo) + " to " + fmt(hi) + ": " + h.dropped[i] + " dropped"));
    svg.appendChild(r1); svg.appendChild(r2);
  }
  svg.appendChild(svgEl("text", {x: 5, y: ht + 16, "font-size": 11}, fmt(h.lo)));
  svg.appendChild(svgEl("text", {x: w - 5, y: ht + 16, "font-size": 11, "text-anchor": "end"}, fmt(h.hi)));
  box.appendChild(svg); parent.appendChild(box); charts++;
}

// what-if curve: share of the stage's input (documents, bytes) surviving each threshold, the configured one marked
function curveChart(parent, w) {
  var W = 520, H = 200, L = 44, R = 12, T = 12, B = 30, pts = w.points;
  var lo = pts[0].threshold, hi = pts[pts.length - 1].threshold; if (hi === lo) hi = lo + 1;
  function X(v) { return L + (W - L - R) * (v - lo) / (hi - lo); }
  function Y(s) { return T + (H - T - B) * (1 - s); }
  var box = el("div", {class: "hist", id: "whatif-" + w.stage + "-" + w.key});
  box.appendChild(el("div", {}, w.stage + "." + w.key + ": keep " + w.metric + " " + w.keep + " threshold"));
  var svg = svgEl("svg", {width: W, height: H, role: "img", "aria-label": "what-if " + w.stage + "." + w.key});
  [0, 0.5, 1].forEach(function (s) {
    svg.appendChild(svgEl("line", {x1: L, x2: W - R, y1: Y(s), y2: Y(s), stroke: "#ddd"}));
    svg.appendChild(svgEl("text", {x: L - 4, y: Y(s) + 4, "font-size": 10, "text-anchor": "end"}, (100 * s) + "%"));
  });
  [["documents_share", KEPT_COLOR], ["bytes_share", B_COLOR]].forEach(function (c) {
    var line = svgEl("polyline", {fill: "none", stroke: c[1], "stroke-width": 2, class: "curve",
      points: pts.map(function (p) { return X(p.threshold).toFixed(1) + "," + Y(p[c[0]]).toFixed(1); }).join(" ")});
    svg.appendChild(line);
    pts.forEach(function (p) {
      var dot = svgEl("circle", {cx: X(p.threshold), cy: Y(p[c[0]]), r: 2.5, fill: c[1], class: "point"});
      dot.appendChild(svgEl("title", {}, w.key + " " + fmt(p.threshold) + ": " + fmt(p.documents) + " documents (" + (100 * p.documents_share).toFixed(1) + "%), " + fmt(p.bytes) + " bytes (" + (100 * p.bytes_share).toFixed(1) + "%)"));
      svg.appendChild(dot);
    });
  });
  if (w.configured !== null && w.configured !== undefined) {
    var x = X(w.configured);
    svg.appendChild(svgEl("line", {x1: x, x2: x, y1: T, y2: H - B, stroke: "#333", "stroke-dasharray": "4 3", class: "configured", "data-threshold": String(w.configured)}));
    svg.appendChild(svgEl("text", {x: x + 3, y: T + 10, "font-size": 10}, "configured " + fmt(w.configured)));
  }
  svg.appendChild(svgEl("text", {x: L, y: H - 10, "font-size": 10}, fmt(lo)));
  svg.appendChild(svgEl("text", {x: W - R, y: H - 10, "font-size": 10, "text-anchor": "end"}, fmt(hi)));
  box.appendChild(svg);
  box.appendChild(el("div", {class: "muted"}, "blue: documents, orange: bytes (UTF-8); " + fmt(w.documents) + " documents from " + (w.source === "documents" ? "documents/ (all)" : "the inspection sample")));
  var ref = (w.configured !== null && w.configured !== undefined) ? "the configured threshold" : "the median";
  ["above", "below"].forEach(function (side) {
    if (!(w[side] || []).length) return;
    var det = el("details"); det.appendChild(el("summary", {}, "just " + side + " " + ref + " (" + fmt(w.reference) + ")"));
    table(det, ["url", w.metric, "outcome", "text (start)"], w[side].map(function (r) { return {cells: [r.url || r.id, fmt(r.value), r.outcome, r.text]}; }), ["l", "l", "l", "t"]);
    box.appendChild(det);
  });
  parent.appendChild(box); charts++;
}

function table(parent, head, rows, classes) {
  var t = el("table"), tr = el("tr");
  head.forEach(function (h, i) { tr.appendChild(el("th", {class: (classes && classes[i]) || ""}, h)); });
  t.appendChild(tr);
  rows.forEach(function (r) {
    var row = el("tr", r.cls ? {class: r.cls} : {});
    r.cells.forEach(function (c, i) { row.appendChild(el("td", {class: (classes && classes[i]) || ""}, c)); });
    t.appendChild(row);
  });
  parent.appendChild(t); return t;
}

function examplesTable(parent, rows, valueName) {
  table(parent, ["url", valueName, "text (start)"], rows.map(function (r) {
    return {cells: [r.url || r.id, r.value !== undefined ? fmt(r.value) + (r.detail ? " " + r.detail : "") + (r.language ? " [" + r.language + "]" : "")
                    : Object.keys(r.metrics).slice(0, 3).map(function (k) { return k + "=" + fmt(r.metrics[k]); }).join(", "),
                    r.text]};
  }), ["l", "l", "t"]);
}

function renderRun(root) {
  var st = D.stats.stages, runIn = st.length ? st[0]["in"] : 0, last = st.length ? st[st.length - 1].kept : 0;
  var s = section(root, "Summary", "summary");
  s.appendChild(el("p", {}, "Run " + D.run + ": " + fmt(runIn) + " records in, " + fmt(last) + " documents kept (" + pct(last, runIn) + ")."));
  if (D.stats.tokens) s.appendChild(el("p", {}, "Token shards: " + Object.keys(D.stats.tokens).map(function (k) { return k + " " + fmt(D.stats.tokens[k].tokens) + " tokens in " + fmt(D.stats.tokens[k].rows) + " documents"; }).join(", ") + "."));
  D.stats.errors.forEach(function (e) { s.appendChild(el("p", {class: "muted"}, "input error: " + e.file + ": " + e.error)); });

  var f = section(root, "Funnel", "funnel");
  barChart(f, st.map(function (x) { return {label: x.name, values: [x["in"], x.kept]}; }), ["#9ecae9", KEPT_COLOR], ["in", "kept"], "funnel");
  var rows = [];
  st.forEach(function (x) {
    rows.push({cls: "stage", cells: [x.name, fmt(x["in"]), fmt(x.kept), pct(x.kept, x["in"]), fmt(x.kept_bytes), x.time_s.toFixed(1)]});
    Object.keys(x.dropped).forEach(function (r) { rows.push({cells: ["  " + r, "", "-" + fmt(x.dropped[r]), pct(x.dropped[r], x["in"]) + " of stage", pct(x.dropped[r], runIn) + " of run", ""]}); });
     Object.keys(x.extra || {}).forEach(function (r) {
      var label = r.indexOf("contaminated/") === 0 ? "  documents matching eval set " + r.slice(13) : "  (" + r + " in kept documents)";
      rows.push({cells: [label, "", fmt(x.extra[r]), pct(x.extra[r], x["in"]) + " of stage", "", ""]});
    });
  });
  table(f, ["stage / reason", "in", "kept / dropped", "kept %", "bytes kept", "time s"], rows, ["l"]);

  if (D.languages) renderLanguages(root, D.languages);

  var r = section(root, "Removals per reason", "reasons");
  var reasonRows = [];
  st.forEach(function (x) { Object.keys(x.dropped).forEach(function (k) { reasonRows.push({label: x.name + ": " + k, values: [x.dropped[k]], notes: [" (" + pct(x.dropped[k], runIn) + " of run)"]}); }); });
  if (reasonRows.length) barChart(r, reasonRows, [DROP_COLOR], null, "removals"); else r.appendChild(el("p", {}, "Nothing was removed."));

  var d = section(root, "Distributions", "distributions");
  d.appendChild(el("p", {class: "muted"}, "Each stage's metrics over its inspection sample (output.inspect_rate of the documents, chosen by id hash), measured on the text as it entered the stage. Blue: kept, red: dropped by the stage. Metric names are the drop reasons whose rule thresholds them."));
  D.stages.forEach(function (x) {
    var names = Object.keys(x.histograms || {});
    if (!names.length) return;
    d.appendChild(el("h3", {}, x.name + " (" + fmt(x.sampled) + " documents sampled)"));
    var box = el("div", {class: "hists"}); d.appendChild(box);
    names.forEach(function (n) { histogram(box, n, x.histograms[n]); });
  });
  var sizes = Object.keys(D.clusters || {});
  if (sizes.length) {
    d.appendChild(el("h3", {}, "duplicate cluster sizes (minhash_cluster_size of the kept documents)"));
    barChart(d, sizes.map(function (k) { return {label: k + " documents", values: [D.clusters[k]], notes: [" clusters"]}; }), [DROP_COLOR], null, "clusters");
  }

  var withCurves = D.stages.filter(function (x) { return Object.keys(x.what_if || {}).length; });
  if (withCurves.length) {
    var wi = section(root, "Threshold what-if", "what-if");
    wi.appendChild(el("p", {class: "muted"}, "For each threshold: the share of the stage's input (its inspection sample; every document when nothing was dropped from this stage on) that would survive the stage at each value, the stage's other rules as configured. The dashed line is the configured threshold; `refinery stats DIR --what-if STAGE.KEY` prints the same curve."));
    withCurves.forEach(function (x) {
      wi.appendChild(el("h3", {}, x.name));
      var box = el("div", {class: "hists"}); wi.appendChild(box);
      Object.keys(x.what_if).forEach(function (k) { curveChart(box, x.what_if[k]); });
    });
  }

  var e = section(root, "Examples", "examples");
  e.appendChild(el("p", {class: "muted"}, "For each stage and reason, up to five dropped documents (the value that decided it), beside kept ones; chosen by a hash of the document id, so the same run gives the same examples."));
  D.stages.forEach(function (x) {
    var reasons = Object.keys(x.examples || {});
    e.appendChild(el("h3", {id: "ex-" + x.name}, x.name));
    reasons.forEach(function (k) {
      var det = el("details"); det.appendChild(el("summary", {}, "dropped: " + k + " (" + fmt(x.dropped[k] || 0) + ")"));
      examplesTable(det, x.examples[k], "value"); e.appendChild(det);
    });
    if ((x.kept_examples || []).length) {
      var det = el("details"); det.appendChild(el("summary", {}, "kept (" + fmt(x.kept) + ")"));
      examplesTable(det, x.kept_examples, "metrics"); e.appendChild(det);
    }
  });
}

// per language, from the first stage that counts languages on: in vs kept per language, one row per language,
// and each language's funnel
function renderLanguages(root, L) {
  var s = section(root, "Languages", "languages");
  var totalKept = 0;
  L.languages.forEach(function (x) { totalKept += x.kept; });
  s.appendChild(el("p", {class: "muted"}, "Per language (the document's language), from the " + L.from_stage + " stage on; each stage's rows sum to its funnel row. In: documents of the language entering " + L.from_stage + "; kept: what the last stage kept."));
  barChart(s, L.languages.map(function (x) { return {label: x.language, values: [x["in"], x.kept]}; }), ["#9ecae9", KEPT_COLOR], ["in", "kept"], "languages");
  table(s, ["language", "in", "kept", "kept %", "bytes kept", "% of kept"], L.languages.map(function (x) {
    return {cells: [x.language, fmt(x["in"]), fmt(x.kept), pct(x.kept, x["in"]), fmt(x.kept_bytes), pct(x.kept, totalKept)]};
  }), ["l"]);
  L.languages.forEach(function (x) {
    var det = el("details", {id: "lang-" + x.language}); det.appendChild(el("summary", {}, x.language + ": " + fmt(x["in"]) + " in, " + fmt(x.kept) + " kept (" + pct(x.kept, x["in"]) + ")"));
    var rows = [];
    x.stages.forEach(function (st) {
      rows.push({cls: "stage", cells: [st.name, fmt(st["in"]), fmt(st.kept), pct(st.kept, st["in"]), fmt(st.kept_bytes)]});
      Object.keys(st.dropped).forEach(function (k) { rows.push({cells: ["  " + k, "", "-" + fmt(st.dropped[k]), pct(st.dropped[k], st["in"]) + " of stage", pct(st.dropped[k], x["in"]) + " of language"]}); });
    });
    table(det, ["stage / reason", "in", "kept / dropped", "kept %", "bytes kept"], rows, ["l"]);
    s.appendChild(det);
  });
}

function renderCompare(root) {
  var s = section(root, "Runs", "summary");
  s.appendChild(el("p", {}, "A = " + D.a)); s.appendChild(el("p", {}, "B = " + D.b));
  var f = section(root, "Funnel, side by side", "funnel");
  var stageRows = D.rows.filter(function (r) { return r.reason === null; });
  barChart(f, stageRows.map(function (r) { return {label: r.stage, values: [r.a, r.b]}; }), [KEPT_COLOR, B_COLOR], ["A kept", "B kept"], "funnel");
  var c = section(root, "Change per stage and reason", "reasons");
  var reasonRows = D.rows.filter(function (r) { return r.reason !== null; });
  if (reasonRows.length) barChart(c, reasonRows.map(function (r) { return {label: r.stage + ": " + r.reason, values: [r.pct_a, r.pct_b], notes: ["% of run", "% of run"]}; }), [KEPT_COLOR, B_COLOR], ["A dropped (% of run)", "B dropped (% of run)"], "reasons");
  table(c, ["stage / reason", "A", "B", "B - A", "A %", "B %"], D.rows.map(function (r) {
    return {cls: r.reason === null ? "stage" : "", cells: [r.reason === null ? r.stage : "  " + r.reason, fmt(r.a), fmt(r.b), (r.b - r.a >= 0 ? "+" : "") + fmt(r.b - r.a), r.pct_a.toFixed(2) + "%", r.pct_b.toFixed(2) + "%"]};
  }), ["l"]);
  c.appendChild(el("p", {class: "muted"}, "Stage rows: documents kept and kept % of the stage's input. Reason rows: documents dropped and % of the run's input."));
}

try {
  var root = document.getElementById("root");
  if (D.mode === "compare") renderCompare(root); else renderRun(root);
  document.body.dataset.charts = String(charts);
} catch (err) {
  ERRORS.push(String(err && err.stack || err)); document.body.dataset.errors = ERRORS.join(" | ");
  throw err;
}
</script></body></html>
"""
