"""Inspecting a run (issue 4): the stats table, the inspection sample, the HTML report (rendered in headless
Chromium when one is installed) and the comparison of two runs."""

import glob
import json
import os
import re
import shutil
import subprocess

import pyarrow.parquet as pq
import pytest
import yaml

from conftest import ROOT, refinery, stats_json


def removed_counts(run_dir: str, stage: str) -> dict:
    counts = {}
    for path in glob.glob(os.path.join(run_dir, "removed", stage, "*.parquet")):
        for reason in pq.read_table(path, columns=["reason"]).column("reason").to_pylist():
            counts[reason] = counts.get(reason, 0) + 1
    return counts


def report_payload(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        page = f.read()
    raw = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S).group(1)
    return json.loads(raw.replace("<\\/", "</"))


def test_stats_table_matches_json_and_removed_rows(sample_run):
    run_dir = sample_run[0]
    table = refinery("stats", run_dir).stdout
    stats = stats_json(run_dir)
    run_in = stats["stages"][0]["in"]
    for s in stats["stages"]:
        row = re.search(rf"^{s['name']}\s+([\d,]+)\s+([\d,]+)\s+([\d.]+)%", table, re.M)
        assert row, f"no row for {s['name']}:\n{table}"
        assert (int(row[1].replace(",", "")), int(row[2].replace(",", ""))) == (s["in"], s["kept"])
        assert s["in"] == s["kept"] + sum(s["dropped"].values())
        block = table.split(f"\n{s['name']} ", 1)[1].split("\n")[1:]
        printed = {}
        for line in block:
            m = re.match(r"  - (\S+)\s+([\d,]+)\s+([\d.]+)%\s+([\d.]+)%", line)
            if not m:
                break
            n = int(m[2].replace(",", ""))
            printed[m[1]] = n
            assert float(m[3]) == pytest.approx(100 * n / s["in"], abs=0.05)
            assert float(m[4]) == pytest.approx(100 * n / run_in, abs=0.005)
        assert printed == s["dropped"]
        # every dropped document is a row of removed/<stage>/, with its reason
        assert removed_counts(run_dir, s["name"]) == s["dropped"]
    tokens = stats["tokens"]
    assert f"train {tokens['train']['tokens']:,}" in table and tokens["train"]["tokens"] > 0


def test_inspection_sample_accounts_for_every_document(sample_run):
    # sample.yaml samples every document (inspect_rate 1.0): each stage's rows are exactly its funnel counts
    run_dir = sample_run[0]
    for s in stats_json(run_dir)["stages"]:
        rows = pq.read_table(glob.glob(os.path.join(run_dir, "inspect", s["name"], "*.parquet"))).to_pylist()
        outcomes = {}
        for r in rows:
            outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
        assert outcomes.pop("kept", 0) == s["kept"] and outcomes == s["dropped"], s["name"]
        assert len({r["id"] for r in rows}) == len(rows)
    lang = pq.read_table(glob.glob(os.path.join(run_dir, "inspect", "language", "*.parquet"))).to_pylist()
    scores = [dict(r["metrics"])["language_score"] for r in lang]
    assert all(0 <= v <= 1 for v in scores) and len(scores) == len(lang)


@pytest.fixture(scope="module")
def report(sample_run, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("report") / "report.html")
    refinery("report", sample_run[0], "-o", out)
    return out


def test_report_holds_every_stage_and_reason_and_no_network_reference(sample_run, report):
    data = report_payload(report)
    stats = stats_json(sample_run[0])
    assert [s["name"] for s in data["stages"]] == [s["name"] for s in stats["stages"]]
    for s, st in zip(data["stages"], stats["stages"]):
        assert s["dropped"] == st["dropped"]
        # an example for every reason, each with the value/detail that decided it, and kept examples
        assert set(s["examples"]) == set(st["dropped"])
        assert all(1 <= len(v) <= 5 for v in s["examples"].values())
        assert s["kept_examples"] and s["histograms"]
    by_name = {s["name"]: s for s in data["stages"]}
    assert "language_score" in by_name["language"]["histograms"]
    assert "line_punct_ratio" in by_name["fineweb_quality"]["histograms"]
    assert "gopher_short_doc" in by_name["gopher_quality"]["histograms"]
    assert sum(data["clusters"].values()) >= 1
    assert all(ex["value"] >= 2 for ex in by_name["minhash_dedup"]["examples"]["duplicate"])  # cluster sizes
    with open(report, encoding="utf-8") as f:
        page = f.read()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?https?:""", page)
    # deterministic: the same run gives the same report
    again = report + ".again.html"
    refinery("report", sample_run[0], "-o", again)
    with open(again, encoding="utf-8") as f:
        assert f.read() == page


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium installed (CI installs Debian's chromium)")


def render(path: str) -> str:
    """The DOM after the page's scripts ran, from headless Chromium."""
    proc = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--virtual-time-budget=5000", "--dump-dom", "file://" + os.path.abspath(path)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Uncaught" not in proc.stderr, proc.stderr[-3000:]
    return proc.stdout


def test_report_renders_in_chromium_with_its_charts(sample_run, report):
    dom = render(report)
    body = re.search(r"<body([^>]*)>", dom)[1]
    assert "data-errors" not in body, body
    data = report_payload(report)
    expected = (2 + sum(len(s["histograms"]) + len(s["what_if"]) for s in data["stages"])
                + (1 if data["clusters"] else 0) + (1 if data.get("languages") else 0))
    assert sum(len(s["what_if"]) for s in data["stages"]) >= 5  # language, gopher_quality, fineweb_quality
    assert f'data-charts="{expected}"' in body, body
    assert dom.count('class="bar"') > 100  # bars actually drawn as SVG rects
    for s in data["stages"]:
        assert f'id="ex-{s["name"]}"' in dom
        for reason in s["dropped"]:
            assert f"dropped: {reason} (" in dom


@pytest.fixture(scope="module")
def stricter_run(sample_run, tmp_path_factory):
    """The same sample through a stricter language threshold, for the comparison."""
    base = tmp_path_factory.mktemp("strict")
    with open(os.path.join(ROOT, "configs", "sample.yaml")) as f:
        cfg = yaml.safe_load(f)
    cfg["stages"]["language"]["threshold"] = 0.95
    for step in ("tokenizer", "shards"):
        cfg["stages"].pop(step)
    path = str(base / "strict.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    sample = glob.glob(os.path.join(sample_run[0], "sample", "*"))
    out = str(base / "run")
    refinery("run", path, "--input", *sample, "--output", out)
    return out


def test_compare_two_runs(sample_run, stricter_run, tmp_path):
    a, b = sample_run[0], stricter_run
    rows = json.loads(refinery("stats", a, "--compare", b, "--json").stdout)["rows"]
    by_key = {(r["stage"], r["reason"]): r for r in rows}
    sa, sb = stats_json(a), stats_json(b)
    for s in sa["stages"]:
        assert by_key[s["name"], None]["a"] == s["kept"]
        for reason, n in s["dropped"].items():
            assert by_key[s["name"], reason]["a"] == n
    low_b = next(s for s in sb["stages"] if s["name"] == "language")["dropped"].get("low_score", 0)
    assert by_key["language", "low_score"]["b"] == low_b > by_key["language", "low_score"]["a"]
    table = refinery("stats", a, "--compare", b).stdout
    assert re.search(r"^  - low_score\s+[\d,]+\s+[\d,]+\s+\+[\d,]+", table, re.M), table
    out = str(tmp_path / "diff.html")
    refinery("report", a, "--compare", b, "-o", out)
    data = report_payload(out)
    assert data["rows"] == rows
    if shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome"):
        dom = render(out)
        body = re.search(r"<body([^>]*)>", dom)[1]
        assert 'data-charts="2"' in body and "data-errors" not in body, body
        assert "low_score" in dom
