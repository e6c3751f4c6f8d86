"""`refinery stats DIR --by-language [--json]` and the report's Languages view (issue 19), on a run folder whose
per-task stats carry the per-language keys the stages count from the language stage on: lang/<L>/in, kept,
kept_bytes and dropped/<reason>, written here by hand for two tasks."""

import json
import re
import shutil
import subprocess

import pytest

from conftest import refinery, stats_json


def entry(stage, stats):
    return {"name": f"refinery: {stage}", "time_stats": {"total": 0.5}, "stats": stats}


def lang(code, n_in, kept, kept_bytes, **dropped):
    out = {f"lang/{code}/in": n_in, f"lang/{code}/kept": kept, f"lang/{code}/kept_bytes": {"total": kept_bytes}}
    out.update({f"lang/{code}/dropped/{r}": n for r, n in dropped.items()})
    return out


TASKS = [
    {"curate": [
        entry("read", {"in": 100, "kept": 80, "kept_bytes": {"total": 8000}, "dropped/not_response": 20}),
        # the language stage counts its drops under the label it found
        entry("language", {"in": 80, "kept": 60, "kept_bytes": {"total": 6000}, "dropped/wrong_language": 15,
                           "dropped/low_score": 5, **lang("en", 50, 45, 4500, low_score=5),
                           **lang("de", 20, 15, 1500, wrong_language=5), **lang("zh", 10, 0, 0, wrong_language=10)}),
        entry("gopher_quality", {"in": 60, "kept": 50, "kept_bytes": {"total": 5000}, "dropped/gopher_short_doc": 10,
                                 **lang("en", 45, 38, 3800, gopher_short_doc=7), **lang("de", 15, 12, 1200, gopher_short_doc=3)}),
    ], "finalize": [
        # a stage that counted no language for some of its documents: they show as "(no language)"
        entry("minhash_dedup", {"in": 50, "kept": 44, "kept_bytes": {"total": 4400}, "dropped/duplicate": 6,
                                **lang("en", 38, 34, 3400, duplicate=4)}),
    ]},
    {"curate": [
        entry("read", {"in": 10, "kept": 10, "kept_bytes": {"total": 1000}}),
        entry("language", {"in": 10, "kept": 9, "kept_bytes": {"total": 900}, "dropped/wrong_language": 1,
                           **lang("en", 6, 6, 600), **lang("fr", 4, 3, 300, wrong_language=1)}),
        entry("gopher_quality", {"in": 9, "kept": 9, "kept_bytes": {"total": 900}, **lang("en", 6, 6, 600),
                                 **lang("fr", 3, 3, 300)}),
    ], "finalize": [
        entry("minhash_dedup", {"in": 9, "kept": 9, "kept_bytes": {"total": 900}, **lang("en", 6, 6, 600),
                                **lang("fr", 3, 3, 300)}),
    ]},
]


@pytest.fixture
def lang_run(tmp_path):
    run = tmp_path / "run"
    for task, phases in enumerate(TASKS):
        for phase, entries in phases.items():
            folder = run / "logs" / phase / "stats"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{task:05d}.json").write_text(json.dumps(entries))
    stages = {"read": {}, "language": {"languages": None, "threshold": 0.65}, "gopher_quality": {}, "minhash_dedup": {}}
    (run / "run.json").write_text(json.dumps({"fingerprint": "x", "config": {"stages": stages}, "inputs": []}))
    return str(run)


def by_language(run):
    return json.loads(refinery("stats", run, "--by-language", "--json").stdout)


def test_by_language_sums_to_the_funnel(lang_run):
    funnel = {s["name"]: s for s in stats_json(lang_run)["stages"]}
    data = by_language(lang_run)
    assert data["from_stage"] == "language"
    assert data["stages"] == ["language", "gopher_quality", "minhash_dedup"]
    rows = {r["language"]: r for r in data["languages"]}
    # largest input first; what no language accounts for last
    assert [r["language"] for r in data["languages"]] == ["en", "de", "zh", "fr", "(no language)"]
    # both tasks summed
    assert rows["en"]["in"] == 56 and rows["en"]["kept"] == 40 and rows["en"]["kept_bytes"] == 4000
    assert rows["fr"]["stages"][0] == {"name": "language", "in": 4, "kept": 3, "kept_bytes": 300,
                                       "dropped": {"wrong_language": 1}}
    # minhash_dedup of task 0 counted only English: German's 12 documents show as (no language)
    assert rows["(no language)"]["stages"][2] == {"name": "minhash_dedup", "in": 12, "kept": 10, "kept_bytes": 1000,
                                                  "dropped": {"duplicate": 2}}
    assert rows["(no language)"]["stages"][0]["in"] == 0
    for i, name in enumerate(data["stages"]):
        s = funnel[name]
        for key in ("in", "kept", "kept_bytes"):
            assert sum(r["stages"][i][key] for r in data["languages"]) == s[key], (name, key)
        for reason, n in s["dropped"].items():
            assert sum(r["stages"][i]["dropped"].get(reason, 0) for r in data["languages"]) == n, (name, reason)
        # within a language, a stage's input is what it kept plus what it dropped
        for r in data["languages"]:
            st = r["stages"][i]
            assert st["in"] == st["kept"] + sum(st["dropped"].values()), (r["language"], name)


def test_by_language_table(lang_run):
    out = refinery("stats", lang_run, "--by-language").stdout
    assert out.startswith("per language, from the language stage on"), out
    row = re.search(r"^en\s+([\d,]+)\s+([\d,]+)\s+([\d.]+)%\s+([\d.]+ \w+)\s+([\d.]+)%$", out, re.M)
    assert row and row.groups() == ("56", "40", "71.4", "4.0 KB", "75.5"), out  # 40 of the 53 kept documents
    de = out.split("\nde: ", 1)[1].split("\n\n")[0]
    assert de.startswith("20 in, 0 kept (0.00%)"), de  # its minhash_dedup documents went uncounted (no language)
    assert re.search(r"^  language\s+20\s+15\s+75\.0%", de, re.M), de
    assert re.search(r"^    - wrong_language\s+5\s+25\.0%\s+25\.00%$", de, re.M), de


def test_without_language_counts_says_so(sample_run):
    out = refinery("stats", sample_run[0], "--by-language").stdout
    if "no per-language counts" not in out:  # the stages count per language: then they sum to the funnel
        data = by_language(sample_run[0])
        funnel = {s["name"]: s for s in stats_json(sample_run[0])["stages"]}
        for i, name in enumerate(data["stages"]):
            assert sum(r["stages"][i]["in"] for r in data["languages"]) == funnel[name]["in"]
            assert not any(r["language"] == "(no language)" for r in data["languages"]), data


def test_report_has_the_language_view(lang_run, tmp_path):
    from test_report import report_payload

    out = str(tmp_path / "report.html")
    refinery("report", lang_run, "-o", out)
    data = report_payload(out)
    assert data["languages"] == by_language(lang_run)
    chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if chromium is None:
        pytest.skip("no Chromium installed (CI installs Debian's chromium)")
    proc = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-extensions", "--virtual-time-budget=5000", "--dump-dom", "file://" + out],
                          capture_output=True, text=True, timeout=120)
    body = re.search(r"<body([^>]*)>", proc.stdout)[1]
    assert "data-errors" not in body, body
    assert 'id="languages"' in proc.stdout and 'aria-label="languages"' in proc.stdout
    for code in ("en", "de", "zh", "fr", "(no language)"):
        assert f'id="lang-{code}"' in proc.stdout


def test_verify_checks_the_language_accounting(lang_run):
    out = refinery("verify", lang_run, check=False).stdout
    # task 0's minhash_dedup counted English only: its per-language counts fall short of its own, and German's
    # 12 documents kept by gopher_quality never reach it
    assert "stage minhash_dedup: its per-language in counts sum to 47, its in is 59" in out, out
    assert "stage minhash_dedup, language de: in 0 != kept 12 of the stage before (gopher_quality)" in out, out
    # the other stages' language accounting is whole
    assert "stage language:" not in out and "stage gopher_quality:" not in out and "language en" not in out, out
