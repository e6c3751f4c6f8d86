"""stats, verify and report read a run in flat memory (issue 21): their streaming passes give what reading every row
into memory gives. Checked on a synthetic finished run (bench/report_memory.py's, 3,000 documents) against plain
in-memory computations of the same figures: the examples picked, the histograms, the what-if curves (with and
without configured thresholds, the median found in memory and by the radix selection) and the cluster sizes."""

import glob
import json
import math
import os
import shutil
import sys

import pyarrow.parquet as pq
import pytest

from conftest import ROOT, refinery

sys.path.insert(0, os.path.join(ROOT, "bench"))


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    from report_memory import build

    run = str(tmp_path_factory.mktemp("flat") / "run")
    build(run, 3000, seed=7)
    return run


@pytest.fixture(scope="module")
def unconfigured_run(synthetic_run, tmp_path_factory):
    """The same run with some thresholds left out of run.json: their what-ifs are centred on the median."""
    run = shutil.copytree(synthetic_run, str(tmp_path_factory.mktemp("unconfigured") / "run"))
    with open(os.path.join(run, "run.json")) as f:
        marker = json.load(f)
    stages = marker["config"]["stages"]
    for stage, key in (("language", "threshold"), ("gopher_quality", "min_doc_words"),
                       ("fineweb_quality", "line_punct_thr")):
        stages[stage].pop(key)
    with open(os.path.join(run, "run.json"), "w") as f:
        json.dump(marker, f)
    return run


def rows(run, kind, stage):
    return [r for p in sorted(glob.glob(os.path.join(run, kind, stage, "*.parquet"))) for r in pq.read_table(p).to_pylist()]


def test_dropped_examples_are_the_smallest_id_hashes(synthetic_run):
    from pipeline.report import dropped_examples
    from stages.base import id_fraction

    for stage in ("read", "language", "gopher_quality", "minhash_dedup"):
        by_reason = {}
        for r in rows(synthetic_run, "removed", stage):
            by_reason.setdefault(r["reason"], []).append((id_fraction(r["id"], "examples"), r))
        got = dropped_examples(synthetic_run, stage)
        assert list(got) == list(by_reason)  # reasons in the order first met
        for reason, items in by_reason.items():
            want = [r for _, r in sorted(items, key=lambda x: x[0])[:5]]
            assert [e["id"] for e in got[reason]] == [r["id"] for r in want]
            assert [(e["value"], e["detail"], e["text"]) for e in got[reason]] == [(r["value"], r["detail"], r["text"][:300]) for r in want]
            assert all(e["language"] == r["language"] for e, r in zip(got[reason], want) if "language" in r)


def test_histograms_and_kept_examples_match_all_rows(synthetic_run):
    from pipeline.report import BINS, inspection
    from stages.base import id_fraction

    for stage in ("language", "gopher_quality", "fineweb_quality"):
        all_rows = rows(synthetic_run, "inspect", stage)
        got = inspection(synthetic_run, stage)
        assert got["sampled"] == len(all_rows)
        values = {}
        for r in all_rows:
            for name, v in r["metrics"]:
                if v is not None and math.isfinite(v):
                    values.setdefault(name, ([], []))[0 if r["outcome"] == "kept" else 1].append(v)
        assert sorted(got["histograms"]) == sorted(values)
        for name, (kept, dropped) in values.items():
            lo, hi = min(kept + dropped), max(kept + dropped)
            hi = hi if hi != lo else lo + 1
            width = (hi - lo) / BINS
            h = got["histograms"][name]
            assert (h["lo"], h["hi"]) == (lo, hi)
            for series, key in ((kept, "kept"), (dropped, "dropped")):
                counts = [0] * BINS
                for v in series:
                    counts[min(BINS - 1, int((v - lo) / width))] += 1
                assert h[key] == counts, (stage, name, key)
        kept = sorted((r for r in all_rows if r["outcome"] == "kept"), key=lambda r: id_fraction(r["id"], "examples"))
        assert [e["id"] for e in got["kept_examples"]] == [r["id"] for r in kept[:5]]


def in_memory_what_if(run, stage, key):
    """The what-if computed over every inspect row held in memory (as refinery computed it before it streamed)."""
    from pipeline.whatif import configured_stages, run_registry
    from stages.base import id_fraction

    cls = run_registry(run).get(stage)
    rule = next(t for t in cls.thresholds if t.key == key)
    params = configured_stages(run)[stage]
    value = params.get(key)
    others = [(t, params.get(t.key)) for t in cls.thresholds if t.key != key and params.get(t.key) is not None]
    sample = []
    for r in rows(run, "inspect", stage):
        r["metrics"] = {k: v for k, v in r["metrics"] if v is not None and math.isfinite(v)}
        sample.append(r)
    open_rows, always = [], []
    for r in sample:
        m = r["metrics"].get(rule.metric)
        if m is None and r["outcome"] == "kept":
            always.append(r)
        if m is None or r["outcome"] not in ("kept", rule.reason):
            continue
        if r["outcome"] != "kept" and not all(t.passes(r["metrics"][t.metric], v) for t, v in others if t.metric in r["metrics"]):
            continue
        open_rows.append((m, r))
    ms = [m for m, _ in open_rows]
    lo, hi = min(ms), max(ms)
    grid = sorted(({lo + (hi - lo) * i / 20 for i in range(21)} if hi > lo else {lo}) | ({float(value)} if value is not None else set()))
    total = sum(r["bytes"] or 0 for r in sample)
    points = []
    for v in grid:
        passing = always + [r for m, r in open_rows if rule.passes(m, v)]
        points.append((v, len(passing), sum(r["bytes"] or 0 for r in passing), len(passing) / len(sample)))
    reference = value if value is not None else sorted(ms)[len(ms) // 2]

    def order(item):
        return abs(item[0] - reference), id_fraction(item[1]["id"], "examples")

    above = [r["id"] for m, r in sorted((x for x in open_rows if x[0] >= reference), key=order)[:3]]
    below = [r["id"] for m, r in sorted((x for x in open_rows if x[0] < reference), key=order)[:3]]
    return {"documents": len(sample), "bytes": total, "points": points, "reference": reference, "above": above, "below": below}


@pytest.mark.parametrize("median_in_memory", [True, False], ids=["median-in-memory", "median-by-radix"])
def test_what_if_curves_match_all_rows(synthetic_run, unconfigured_run, median_in_memory, monkeypatch):
    import pipeline.whatif as whatif

    if not median_in_memory:
        monkeypatch.setattr(whatif, "MEDIAN_IN_MEMORY", 0)
    for run in (synthetic_run, unconfigured_run):
        for name in whatif.threshold_keys(run):
            stage, key = name.split(".", 1)
            got = whatif.what_if(run, stage, key)
            if not got["points"]:
                continue
            want = in_memory_what_if(run, stage, key)
            assert (got["documents"], got["bytes"], got["reference"]) == (want["documents"], want["bytes"], want["reference"]), name
            assert [(p["threshold"], p["documents"], p["bytes"], p["documents_share"]) for p in got["points"]] == want["points"], name
            assert [e["id"] for e in got["above"]] == want["above"] and [e["id"] for e in got["below"]] == want["below"], name


def test_radix_selection_finds_the_kth_value():
    import numpy as np

    from pipeline.whatif import _kth_smallest

    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal(size=3000) * 1e3, rng.integers(-5, 5, size=500).astype(float),
                             [0.0, 1e-300, -1e-300, 1e300, -1e300, 5e-324]])
    ordered = sorted(values.tolist())
    for k in list(range(0, len(values), 97)) + [len(values) - 1]:
        assert _kth_smallest(lambda: iter(np.array_split(values, 9)), k) == ordered[k]


def test_cluster_sizes_match_all_rows(synthetic_run):
    from pipeline.report import cluster_sizes

    sizes = {}
    for p in glob.glob(os.path.join(synthetic_run, "documents", "*.parquet")):
        for v in pq.read_table(p, columns=["minhash_cluster_size"]).column(0).to_pylist():
            if v:
                sizes[v] = sizes.get(v, 0) + 1
    assert cluster_sizes(synthetic_run) == dict(sorted(sizes.items())) and len(sizes) > 1


def test_verify_accepts_the_run_and_counts_each_duplicate_once(synthetic_run, tmp_path):
    assert "is consistent" in refinery("verify", synthetic_run).stdout
    run = shutil.copytree(synthetic_run, str(tmp_path / "run"))
    path = sorted(glob.glob(os.path.join(run, "documents", "*.parquet")))[0]
    import pyarrow as pa

    t = pq.read_table(path)
    pq.write_table(pa.concat_tables([t, t.slice(0, 3), t.slice(0, 1)]), path, row_group_size=1000)
    out = refinery("verify", run, check=False).stdout
    assert "documents/ holds 4 duplicated document ids" in out, out  # 3 ids repeated, one of them twice more
