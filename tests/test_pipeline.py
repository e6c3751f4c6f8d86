"""The whole pipeline through the `refinery` command: the bundled sample, the accounting invariant, resume,
refusal of a different run in the same folder, and every kind of input (globs, listings, HTTP)."""

import glob
import gzip
import http.server
import os
import re
import threading

import pyarrow.parquet as pq

from conftest import article_html, refinery, stats_json, tiny_config, write_warc
from pipeline.sample_data import build_pages
from stages.documents import read_documents
from stages.registry import builtin


def removed_counts(run_dir):
    counts = {}
    for path in glob.glob(os.path.join(run_dir, "removed", "*", "*.parquet")):
        stage = os.path.basename(os.path.dirname(path))
        for reason in pq.read_table(path, columns=["reason"]).column("reason").to_pylist():
            counts.setdefault(stage, {}).setdefault(reason, 0)
            counts[stage][reason] += 1
    return counts


def check_accounting(run_dir):
    stats = stats_json(run_dir)
    stages = stats["stages"]
    removed = removed_counts(run_dir)
    for prev, stage in zip([None] + stages[:-1], stages):
        assert stage["in"] == stage["kept"] + sum(stage["dropped"].values()), stage
        if prev:
            assert stage["in"] == prev["kept"], (prev["name"], stage["name"])
        assert removed.get(stage["name"], {}) == stage["dropped"], stage["name"]
    assert stages[-1]["kept"] == len(read_documents(os.path.join(run_dir, "documents")))
    return stats


def test_sample_funnel_and_accounting(sample_run):
    run_dir, proc, _ = sample_run
    stats = check_accounting(run_dir)
    import yaml

    from conftest import ROOT

    with open(os.path.join(ROOT, "configs", "sample.yaml")) as f:
        configured = yaml.safe_load(f)["stages"]
    assert [s["name"] for s in stats["stages"]] == [n for n in builtin().funnel() if n in configured]
    by_name = {s["name"]: s for s in stats["stages"]}
    assert by_name["read"]["dropped"]["not_response"] > 200
    for reason in ("not_html", "http_status", "binary", "truncated", "undecodable"):
        assert by_name["read"]["dropped"].get(reason), reason
    assert by_name["url_filter"]["dropped"]
    assert by_name["language"]["dropped"]["wrong_language"] == 30
    assert by_name["pii"]["dropped"] == {}
    assert 150 < by_name["pii"]["kept"] < 260
    # the command printed the funnel summary
    assert "minhash_dedup" in proc.stdout and "kept" in proc.stdout


def test_sample_planted_cases_are_handled(sample_run):
    run_dir, _, _ = sample_run
    kinds = {p["url"]: p["kind"] for p in build_pages()}
    docs = read_documents(os.path.join(run_dir, "documents"))
    kept_kinds = [kinds.get(d["url"], "?") for d in docs]
    assert not [k for k in kept_kinds if k.startswith(("lang_", "low_", "binary"))] and "blocked" not in kept_kinds
    assert "latin1_labelled_utf8" in kept_kinds
    latin = next(d for d in docs if kinds.get(d["url"]) == "latin1_labelled_utf8")
    assert "Crème brûlée" in latin["text"]
    # each planted duplicate pair keeps one document
    dup_removed = pq.read_table(glob.glob(os.path.join(run_dir, "removed", "minhash_dedup", "*.parquet"))).to_pylist()
    assert all(kinds[r["url"]] in ("article", "exact_dup", "near_dup") for r in dup_removed)
    assert len(dup_removed) >= 27  # 15 exact copies + at least 12 of the 15 near copies (2% of words changed)
    kept_texts = [d["text"] for d in docs]
    assert len(kept_texts) == len(set(kept_texts))
    # PII: placeholders in, addresses out; metadata columns filled
    all_text = "\n".join(kept_texts)
    assert "<EMAIL>" in all_text and "<PHONE_NUMBER>" in all_text and "<IP_ADDRESS>" in all_text
    assert not re.search(r"[\w.]+@[\w-]+\.\w+", all_text)
    assert "version 2.4.1.7" in all_text or "ISBN 978-3-16-148410-0" in all_text
    row = docs[0]
    assert row["language"] == "en" and row["language_score"] > 0.65 and row["dump"] == "REFINERY-SAMPLE"
    assert row["url"].startswith("https://") and row["date"] and row["id"].startswith("<urn:uuid:")


def test_sample_run_never_touches_the_network(sample_run):
    _, _, log = sample_run
    with open(log) as f:
        assert f.read() == ""


def test_rerun_after_completion_does_no_work(sample_run):
    run_dir, _, _ = sample_run
    outputs = sorted(glob.glob(os.path.join(run_dir, "documents", "*.parquet")) + glob.glob(os.path.join(run_dir, "removed", "*", "*.parquet")))
    before = {p: os.stat(p).st_mtime_ns for p in outputs}
    stats_before = stats_json(run_dir)
    proc = refinery("run", "configs/sample.yaml", "--output", run_dir)
    # every phase the run has (curate, dedup, finalize, tokenizer, tokenize, shards, ...: one logs/ folder each)
    phases = len([d for d in os.listdir(os.path.join(run_dir, "logs")) if os.path.isdir(os.path.join(run_dir, "logs", d))])
    assert phases >= 6 and f"phases: all {phases} completed earlier, nothing to run" in proc.stdout
    assert {p: os.stat(p).st_mtime_ns for p in outputs} == before
    assert stats_json(run_dir) == stats_before


def _tiny_warcs(folder, n_files=2, per_file=6):
    """Distinct English articles (from the sample generator's templates), per_file to a WARC."""
    import random

    from pipeline.sample_data import TOPICS, _article

    os.makedirs(folder, exist_ok=True)
    rng = random.Random(11)
    paths = []
    for f in range(n_files):
        records = []
        for i in range(per_file):
            title, paragraphs = _article(rng, sorted(TOPICS)[(f * per_file + i) % len(TOPICS)])
            records.append({"url": f"https://harbour-news-{f}.org/report/{i}", "body": article_html(paragraphs, title)})
        paths.append(write_warc(os.path.join(folder, f"part-{f}.warc.gz"), records))
    return paths


def test_different_config_is_refused_then_overwritten(tmp_path):
    warcs = _tiny_warcs(str(tmp_path / "in"))
    out = str(tmp_path / "run")
    refinery("run", tiny_config(tmp_path), "--input", *warcs, "--output", out)
    changed = tiny_config(tmp_path, language={"threshold": 0.5})
    proc = refinery("run", changed, "--input", *warcs, "--output", out, check=False)
    assert proc.returncode == 2 and "different config or input" in proc.stderr
    proc = refinery("run", changed, "--input", warcs[0], "--output", out, "--overwrite")
    assert check_accounting(out)["stages"][0]["in"] == 6


def test_overwrite_keeps_the_generated_sample_it_runs_on(sample_run, tmp_path):
    # a run with no input curates the sample generated into DIR/sample/; --overwrite must not delete it
    import shutil

    out = shutil.copytree(sample_run[0], str(tmp_path / "run"))
    proc = refinery("run", tiny_config(tmp_path), "--output", out, "--overwrite")
    stats = check_accounting(out)
    assert stats["stages"][0]["in"] == stats_json(sample_run[0])["stages"][0]["in"] > 0, proc.stdout
    assert not stats["errors"]
    assert not os.path.exists(os.path.join(out, "shards"))  # the old run's outputs are gone


def test_glob_listing_and_http_inputs_give_the_same_documents(tmp_path):
    folder = tmp_path / "crawl" / "crawl-data" / "SEG"
    warcs = _tiny_warcs(str(folder))
    cfg = tiny_config(tmp_path)

    by_glob = str(tmp_path / "glob")
    refinery("run", cfg, "--input", str(folder / "*.warc.gz"), "--output", by_glob)

    listing = tmp_path / "warc.paths.gz"
    listing.write_bytes(gzip.compress(b"".join(f"crawl-data/SEG/{os.path.basename(p)}\n".encode() for p in warcs)))
    by_listing = str(tmp_path / "listing")
    refinery("run", cfg, "--input", str(listing), "--base-url", str(tmp_path / "crawl"), "--output", by_listing)

    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path / "crawl"), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        by_http = str(tmp_path / "http")
        urls = [f"http://127.0.0.1:{port}/crawl-data/SEG/{os.path.basename(p)}" for p in warcs]
        refinery("run", cfg, "--input", *urls, "--output", by_http)
    finally:
        server.shutdown()

    def ids(run):
        check_accounting(run)
        return sorted(d["id"] for d in read_documents(os.path.join(run, "documents")))

    assert ids(by_glob) == ids(by_listing) == ids(by_http)
    assert len(ids(by_glob)) == 12


def test_missing_input_is_a_clear_error(tmp_path):
    proc = refinery("run", tiny_config(tmp_path), "--input", str(tmp_path / "nope.warc.gz"), "--output", str(tmp_path / "o"), check=False)
    assert proc.returncode == 2 and "input not found" in proc.stderr
