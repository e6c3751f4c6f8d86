"""The funnel of a run, merged from the per-task stats datatrove writes (logs/<phase>/stats/<task>.json).

datatrove's own logs/<phase>/stats.json covers only the tasks of the last call; the per-task files cover every
completed task once, however many times the run was resumed.
"""

import glob
import json
import os

from stages.reasons import STAGE_ORDER, STAT_DROPPED_PREFIX, STAT_IN, STAT_KEPT


def _stat_total(value) -> int:
    if isinstance(value, dict):
        return int(value.get("total", 0))
    return int(value)


def collect_stats(run_dir: str) -> dict:
    per_stage: dict[str, dict] = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "logs", "*", "stats", "*.json"))):
        with open(path) as f:
            entries = json.load(f)
        for entry in entries:
            name = entry.get("name", "").split(": ", 1)[-1]
            if name not in STAGE_ORDER:
                continue
            stage = per_stage.setdefault(name, {"name": name, "in": 0, "kept": 0, "dropped": {}, "time_s": 0.0, "extra": {}})
            time_stats = entry.get("time_stats", 0)
            stage["time_s"] += float(time_stats.get("total", 0.0) if isinstance(time_stats, dict) else time_stats)
            for label, value in entry.get("stats", {}).items():
                total = _stat_total(value)
                if label == STAT_IN:
                    stage["in"] += total
                elif label == STAT_KEPT:
                    stage["kept"] += total
                elif label.startswith(STAT_DROPPED_PREFIX):
                    reason = label[len(STAT_DROPPED_PREFIX) :]
                    stage["dropped"][reason] = stage["dropped"].get(reason, 0) + total
                elif label.startswith("replaced/"):
                    stage["extra"][label] = stage["extra"].get(label, 0) + total
    stages = []
    for name in STAGE_ORDER:
        if name in per_stage:
            s = per_stage[name]
            s["dropped"] = dict(sorted(s["dropped"].items(), key=lambda kv: (-kv[1], kv[0])))
            s["time_s"] = round(s["time_s"], 3)
            if not s["extra"]:
                s.pop("extra")
            stages.append(s)
    errors = []
    for path in sorted(glob.glob(os.path.join(run_dir, "errors", "*.json"))):
        with open(path) as f:
            errors.extend({"file": e["file"], "error": e["error"]} for e in json.load(f))
    return {"stages": stages, "errors": errors}


def format_funnel(stats: dict, documents: int | None = None) -> str:
    stages = stats["stages"]
    if not stages:
        return "no stats yet: the run has not completed any task"
    total_in = stages[0]["in"] or 1
    lines = [f"{'stage':<18} {'in':>9} {'kept':>9} {'kept%':>7} {'time s':>8}  dropped (reason: count)"]
    for s in stages:
        pct = 100.0 * s["kept"] / s["in"] if s["in"] else 100.0
        dropped = ", ".join(f"{r}: {n}" for r, n in s["dropped"].items()) or "-"
        if s.get("extra"):
            dropped += "  [" + ", ".join(f"{k}: {v}" for k, v in s["extra"].items()) + "]"
        lines.append(f"{s['name']:<18} {s['in']:>9} {s['kept']:>9} {pct:>6.1f}% {s['time_s']:>8.1f}  {dropped}")
    last = stages[-1]["kept"]
    lines.append(f"kept {last} of {stages[0]['in']} records ({100.0 * last / total_in:.2f}%)")
    if documents is not None and documents != last:
        lines.append(f"WARNING: documents/ holds {documents} rows but the last stage kept {last}")
    for e in stats["errors"]:
        lines.append(f"input error: {e['file']}: {e['error']}")
    return "\n".join(lines)
