"""The funnel of a run, merged from the per-task stats datatrove writes (logs/<phase>/stats/<task>.json).

datatrove's own logs/<phase>/stats.json covers only the tasks of the last call; the per-task files cover every
completed task once, however many times the run was resumed.
"""

import json
import os

from pipeline.inputs import printable
from refinery.layout import RunLayout
from stages.registry import (STAT_DROPPED_PREFIX, STAT_IN, STAT_KEPT, STAT_LANGUAGE_PREFIX, RegistryError, builtin,
                             registry_for)

FUNNEL_STEP = "refinery: "  # datatrove names a step's stats "<type>: <name>"; funnel stages have type "refinery"
# From the language stage on, each stage also counts per language L (the document's `language`; the language stage
# counts its drops under the label lid.176 found): lang/L/in, lang/L/kept, lang/L/kept_bytes, lang/L/dropped/<reason>,
# in the units of the stage's own in, kept, kept_bytes and dropped/<reason> (stages.registry.language_stat).
NO_LANGUAGE = "(no language)"  # what a stage counted that no language accounts for (a stage counting none)


def run_registry(run_dir: str):
    """The stages a run could have: the built-in ones and the plugins its run.json names (when importable here)."""
    try:
        with open(RunLayout(run_dir).marker) as f:
            plugins = json.load(f).get("config", {}).get("plugins") or []
        return registry_for(plugins)
    except (OSError, ValueError, AttributeError, RegistryError):
        return builtin()


def _stat_total(value) -> int:
    if isinstance(value, dict):
        return int(value.get("total", 0))
    return int(value)


INPUT_PREFIX = "input/"  # the read stage's counts of its files (stages/read.py STAT_RETRIES, STAT_FAILED)


def collect_stats(run_dir: str) -> dict:
    per_stage: dict[str, dict] = {}
    inputs: dict[str, int] = {}
    layout = RunLayout(run_dir)
    for path in layout.task_stats_files():
        with open(path) as f:
            entries = json.load(f)
        for entry in entries:
            if not entry.get("name", "").startswith(FUNNEL_STEP):
                continue
            name = entry["name"][len(FUNNEL_STEP):]
            stage = per_stage.setdefault(name, {"name": name, "in": 0, "kept": 0, "kept_bytes": 0, "dropped": {},
                                                "time_s": 0.0, "extra": {}})
            time_stats = entry.get("time_stats", 0)
            stage["time_s"] += float(time_stats.get("total", 0.0) if isinstance(time_stats, dict) else time_stats)
            for label, value in entry.get("stats", {}).items():
                total = _stat_total(value)
                if label == STAT_IN:
                    stage["in"] += total
                elif label == STAT_KEPT:
                    stage["kept"] += total
                elif label == "kept_bytes":
                    stage["kept_bytes"] += total
                elif label.startswith(STAT_DROPPED_PREFIX):
                    reason = label[len(STAT_DROPPED_PREFIX) :]
                    stage["dropped"][reason] = stage["dropped"].get(reason, 0) + total
                elif label.startswith(("replaced/", "contaminated/", "route/")):
                    stage["extra"][label] = stage["extra"].get(label, 0) + total
                elif label.startswith(STAT_LANGUAGE_PREFIX):
                    _add_language_stat(stage.setdefault("languages", {}), label[len(STAT_LANGUAGE_PREFIX):], total)
                elif label.startswith(INPUT_PREFIX):
                    key = label[len(INPUT_PREFIX):]
                    inputs[key] = inputs.get(key, 0) + total
    stages = []
    order = run_registry(run_dir).funnel()
    for name in list(order) + sorted(set(per_stage) - set(order)):
        if name in per_stage:
            s = per_stage[name]
            s["dropped"] = dict(sorted(s["dropped"].items(), key=lambda kv: (-kv[1], kv[0])))
            s["time_s"] = round(s["time_s"], 3)
            if not s["extra"]:
                s.pop("extra")
            if "languages" in s:
                s["languages"] = {lang: {**c, "dropped": dict(sorted(c["dropped"].items(), key=lambda kv: (-kv[1], kv[0])))}
                                  for lang, c in sorted(s["languages"].items())}
            stages.append(s)
    errors = []
    for path in layout.error_files():
        with open(path) as f:
            errors.extend(json.load(f))
    tokens = None
    if os.path.exists(layout.shards.manifest):
        splits = layout.shards.read_manifest()["splits"]
        tokens = {split: {"rows": info["rows"], "tokens": info["tokens"]} for split, info in splits.items()}
    return {"stages": stages, "errors": errors, "tokens": tokens, "input": _input_summary(layout, inputs, errors)}


def failed_files(errors: list) -> set[str]:
    """The input files errors/ entries list as failed (not opened, not fetched, or nothing read)."""
    return {e["file"] for e in errors if isinstance(e, dict) and e.get("failed") and "file" in e}


def _input_summary(layout: RunLayout, counts: dict, errors: list[dict]) -> dict:
    """The run's input files: how many, how many failed (listed in errors/ as failed), reads retried (by kind),
    and the share of failed files the run tolerates (input.max_failed_fraction)."""
    try:
        with open(layout.marker) as f:
            marker = json.load(f)
        files = len(marker.get("inputs") or [])
        limit = (marker.get("config") or {}).get("max_failed_fraction")
    except (OSError, ValueError, AttributeError):
        files, limit = None, None
    retries = {k[len("retries/"):]: v for k, v in sorted(counts.items()) if k.startswith("retries/")}
    return {"files": files, "failed_files": len(failed_files(errors)),
            "retries": counts.get("retries", 0), "retries_by_kind": retries, "max_failed_fraction": limit}


def _add_language_stat(languages: dict, label: str, total: int):
    lang, _, what = label.partition("/")
    c = languages.setdefault(lang, {"in": 0, "kept": 0, "kept_bytes": 0, "dropped": {}})
    if what in ("in", "kept", "kept_bytes"):
        c[what] += total
    elif what.startswith(STAT_DROPPED_PREFIX):
        reason = what[len(STAT_DROPPED_PREFIX):]
        c["dropped"][reason] = c["dropped"].get(reason, 0) + total


def language_funnel(stats: dict) -> dict:
    """The funnel per language, from the first stage that counts per language on: for each language (largest
    input first) its input and output and, per stage, in, kept, kept_bytes and dropped per reason. A stage's
    counts that no language accounts for go to NO_LANGUAGE, so that each stage's rows sum to its funnel row."""
    stages = stats["stages"]
    first = next((i for i, s in enumerate(stages) if s.get("languages")), None)
    if first is None:
        return {"from_stage": None, "stages": [], "languages": []}
    stages = stages[first:]
    names = sorted({lang for s in stages for lang in s.get("languages", {})})
    per_lang = {lang: [] for lang in names + [NO_LANGUAGE]}
    for s in stages:
        counted = s.get("languages", {})
        rest = {"in": s["in"], "kept": s["kept"], "kept_bytes": s.get("kept_bytes", 0), "dropped": dict(s["dropped"])}
        for lang in names:
            c = counted.get(lang, {"in": 0, "kept": 0, "kept_bytes": 0, "dropped": {}})
            per_lang[lang].append({"name": s["name"], "in": c["in"], "kept": c["kept"], "kept_bytes": c["kept_bytes"],
                                   "dropped": dict(c["dropped"])})
            for k in ("in", "kept", "kept_bytes"):
                rest[k] -= c[k]
            for reason, n in c["dropped"].items():
                rest["dropped"][reason] = rest["dropped"].get(reason, 0) - n
        rest["dropped"] = {r: n for r, n in rest["dropped"].items() if n}
        per_lang[NO_LANGUAGE].append({"name": s["name"], **rest})
    if not any(st["in"] or st["kept"] or st["kept_bytes"] or st["dropped"] for st in per_lang[NO_LANGUAGE]):
        per_lang.pop(NO_LANGUAGE)
    rows = [{"language": lang, "in": funnel[0]["in"], "kept": funnel[-1]["kept"], "kept_bytes": funnel[-1]["kept_bytes"],
             "stages": funnel} for lang, funnel in per_lang.items()]
    rows.sort(key=lambda r: (r["language"] == NO_LANGUAGE, -r["in"], r["language"]))
    return {"from_stage": stages[0]["name"], "stages": [s["name"] for s in stages], "languages": rows}


def format_language_funnel(by_language: dict) -> str:
    """One row per language (its input at the first stage counting languages, what the last stage kept), then
    each language's funnel: per stage in, kept, kept %, bytes kept, and its drops per reason with their share of
    the stage's input and of the language's."""
    rows = by_language["languages"]
    if not rows:
        return ("no per-language counts: no stage of this run counted documents per language (lang/<L>/... stats, "
                "from the language stage on)")
    total_kept = sum(r["kept"] for r in rows)
    lines = [f"per language, from the {by_language['from_stage']} stage on",
             f"{'language':<16} {'in':>12} {'kept':>12} {'kept %':>8} {'bytes kept':>11} {'% of kept':>10}"]
    for r in rows:
        lines.append(f"{r['language']:<16} {r['in']:>12,} {r['kept']:>12,} {_pct(r['kept'], r['in']):>7.1f}% "
                     f"{_size(r['kept_bytes']):>11} {_pct(r['kept'], total_kept):>9.1f}%")
    for r in rows:
        lines += ["", f"{r['language']}: {r['in']:,} in, {r['kept']:,} kept ({_pct(r['kept'], r['in']):.2f}%)",
                  f"  {'stage / drop reason':<32} {'in':>10} {'kept':>10} {'kept %':>8} {'bytes kept':>11}",
                  f"  {'':<32} {'dropped':>10} {'% stage':>10} {'% lang':>8}"]
        for s in r["stages"]:
            lines.append(f"  {s['name']:<32} {s['in']:>10,} {s['kept']:>10,} {_pct(s['kept'], s['in']):>7.1f}% "
                         f"{_size(s['kept_bytes']):>11}")
            for reason, n in s["dropped"].items():
                lines.append(f"    - {reason:<28} {n:>10,} {_pct(n, s['in']):>9.1f}% {_pct(n, r['in']):>7.2f}%")
    return "\n".join(lines)


def _size(n: float) -> str:
    if abs(n) < 1000:
        return f"{n:.0f} B"
    for unit in ("KB", "MB", "GB", "TB"):
        n /= 1000
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}"


def _pct(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def format_funnel(stats: dict, documents: int | None = None) -> str:
    """The funnel as a table: one row per stage (in, kept, kept %, bytes kept, time), then one row per drop
    reason with its count as a share of the stage's input and of the run's input."""
    stages = stats["stages"]
    if not stages:
        return "no stats yet: the run has not completed any task"
    run_in = stages[0]["in"]
    lines = [f"{'stage / drop reason':<34} {'in':>10} {'kept':>10} {'kept %':>8} {'bytes kept':>11} {'time s':>8}",
             f"{'':<34} {'dropped':>10} {'% stage':>10} {'% run':>8}"]
    for s in stages:
        lines.append(f"{s['name']:<34} {s['in']:>10,} {s['kept']:>10,} {_pct(s['kept'], s['in']):>7.1f}% "
                     f"{_size(s.get('kept_bytes', 0)):>11} {s['time_s']:>8.1f}")
        for reason, n in s["dropped"].items():
            lines.append(f"  - {reason:<30} {n:>10,} {_pct(n, s['in']):>9.1f}% {_pct(n, run_in):>7.2f}%")
        for label, n in (s.get("extra") or {}).items():
            if label.startswith("contaminated/"):
                lines.append(f"  (documents matching eval set {label[len('contaminated/'):]}: {n:,})")
            elif label.startswith("route/"):
                lines.append(f"  (text by {label[len('route/'):]}: {n:,} pages)")
            else:
                lines.append(f"  ({label}: {n:,} in kept documents)")
    last = stages[-1]["kept"]
    lines.append(f"kept {last:,} of {run_in:,} records ({_pct(last, run_in):.2f}%), "
                 f"{_size(stages[-1].get('kept_bytes', 0))} of text")
    if stats.get("tokens"):
        t = stats["tokens"]
        lines.append("tokens in shards: " + ", ".join(f"{k} {v['tokens']:,} ({v['rows']:,} documents)" for k, v in t.items()))
    io = stats.get("input") or {}
    if io.get("retries") or io.get("failed_files"):
        kinds = ", ".join(f"{k} {n:,}" for k, n in io.get("retries_by_kind", {}).items())
        of = f" of {io['files']:,}" if io.get("files") else ""
        lines.append(f"input files: {io.get('failed_files', 0):,}{of} failed (listed below as failed); "
                     f"{io.get('retries', 0):,} reads retried" + (f" ({kinds})" if kinds else ""))
    if documents is not None and documents != last:
        lines.append(f"WARNING: documents/ holds {documents} rows but the last stage kept {last}")
    for e in stats["errors"]:
        recovered = f"; resumed {e['resyncs']}x, {e['skipped_bytes']:,} bytes skipped" if e.get("resyncs") else ""
        failed = "; failed" if e.get("failed") else ""
        lines.append(f"input error: {printable(e['file'])}: {printable(e['error'])} "
                     f"({e.get('records_read', 0):,} records read{recovered}{failed})")
    return "\n".join(lines)


def compare_stats(a: dict, b: dict) -> list[dict]:
    """Rows (stage, reason or None) with counts in runs A and B, for `stats --compare` and the diff report."""
    rows = []
    sa, sb = {s["name"]: s for s in a["stages"]}, {s["name"]: s for s in b["stages"]}
    run_a = a["stages"][0]["in"] if a["stages"] else 0
    run_b = b["stages"][0]["in"] if b["stages"] else 0
    known = builtin().funnel()
    present = [s["name"] for s in a["stages"]] + [s["name"] for s in b["stages"] if s["name"] not in sa]
    for name in sorted(present, key=lambda n: (known.index(n) if n in known else len(known), present.index(n))):
        x, y = sa.get(name, {}), sb.get(name, {})
        rows.append({"stage": name, "reason": None, "in_a": x.get("in", 0), "in_b": y.get("in", 0),
                     "a": x.get("kept", 0), "b": y.get("kept", 0),
                     "pct_a": _pct(x.get("kept", 0), x.get("in", 0)), "pct_b": _pct(y.get("kept", 0), y.get("in", 0))})
        reasons = list(x.get("dropped", {})) + [r for r in y.get("dropped", {}) if r not in x.get("dropped", {})]
        for r in reasons:
            na, nb = x.get("dropped", {}).get(r, 0), y.get("dropped", {}).get(r, 0)
            rows.append({"stage": name, "reason": r, "a": na, "b": nb, "pct_a": _pct(na, run_a), "pct_b": _pct(nb, run_b)})
    return rows


def format_compare(a: dict, b: dict, name_a: str, name_b: str) -> str:
    lines = [f"A = {name_a}", f"B = {name_b}",
             f"{'stage / drop reason':<34} {'A':>10} {'B':>10} {'B - A':>10} {'A %':>8} {'B %':>8}",
             "(stage rows: documents kept and kept % of the stage's input; reason rows: dropped and % of the run's input)"]
    for r in compare_stats(a, b):
        label = r["stage"] if r["reason"] is None else f"  - {r['reason']}"
        lines.append(f"{label:<34} {r['a']:>10,} {r['b']:>10,} {r['b'] - r['a']:>+10,} {r['pct_a']:>7.2f}% {r['pct_b']:>7.2f}%")
    return "\n".join(lines)
