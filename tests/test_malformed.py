"""The generated malformed-input corpus (tests/malformed.py): each file gives its documented outcome, a whole
run over all of it completes with every record accounted for, and the README's table lists every case."""

import collections
import os

import pytest
import yaml

from conftest import ROOT, refinery, stats_json
from malformed import build_corpus, extraction_pages, write_extraction_file
from stages.read import WarcReadStage


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("malformed"))
    return folder, build_corpus(folder)


def outcomes(path):
    errors = []
    results = list(WarcReadStage([]).read_file(path, errors))
    return {d.metadata["url"]: (d, v.reason if v else "kept") for d, v in results}, errors


def test_every_case_gives_its_documented_outcome(corpus):
    _, cases = corpus
    for case in cases:
        got, errors = outcomes(case.files[0])
        expected = {url: o for url, o in case.outcome.items() if o != "lost"}
        assert {url: o for url, (_, o) in got.items() if url in case.outcome} == expected, case.name
        # nothing read that the case does not know about, apart from the ARC's filedesc record
        assert set(got) - set(case.outcome) <= {u for u in got if u.startswith("filedesc://")}, case.name
        assert bool(errors) == case.listed, (case.name, errors)
        if "lost" in case.outcome.values():
            assert errors[0]["resyncs"] >= 1 or errors[0]["records_read"] == len(expected), case.name


def test_charsets_are_decoded_right_whatever_the_label(corpus):
    folder, _ = corpus
    got, _ = outcomes(os.path.join(folder, "bad_payloads.warc.gz"))
    for slug in ("latin1-labelled-utf8", "utf8-labelled-latin1", "unknown-charset"):
        assert "Crème brûlée" in got[f"http://records.example.org/{slug}"][0].text, slug
    for slug in ("cp1252-labelled-utf8", "cp1252-no-charset"):
        assert "“Smart quotes” cost €5" in got[f"http://records.example.org/{slug}"][0].text, slug
    assert "<p>" in got["http://records.example.org/gzip-ok"][0].text  # decompressed, not raw gzip


def test_ids_of_records_without_one_are_unique_and_stable(corpus):
    folder, _ = corpus
    path = os.path.join(folder, "missing_id_and_date.warc.gz")
    first, _ = outcomes(path)
    again, _ = outcomes(path)
    ids = [d.id for d, _ in first.values()]
    assert len(set(ids)) == 3 and ids == [d.id for d, _ in again.values()]


def test_a_run_over_the_whole_corpus_completes_and_accounts_for_everything(corpus, tmp_path):
    folder, cases = corpus
    slow, slow_outcome = write_extraction_file(str(tmp_path))
    listing = tmp_path / "warc.paths"
    listing.write_text("\n".join([p for c in cases for p in c.files] + [slow]) + "\n")
    with open(os.path.join(ROOT, "configs", "sample.yaml")) as f:
        cfg = yaml.safe_load(f)
    cfg["stages"] = {"read": {}, "url_filter": {}, "extract": {"timeout": 1.0}, "language": {}}
    cfg_path = tmp_path / "corpus.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    out = str(tmp_path / "run")
    # the user's own listing of absolute paths: entries out of the (default) base are read only when allowed
    proc = refinery("run", str(cfg_path), "--input", str(listing), "--output", out, "--allow-foreign-entries",
                    check=False)
    # the files nothing could be read from are failed: far more than input.max_failed_fraction (0.01) of this
    # corpus, so the run ends with exit status 1 and one line, after writing everything (checked below)
    failed = {c.name for c in cases if c.listed and all(o == "lost" for o in c.outcome.values())}
    assert proc.returncode == 1, proc.stderr[-3000:]
    n_files = len([p for c in cases for p in c.files]) + 1
    assert f"refinery: error: {len(failed)} of {n_files} input files failed" in proc.stderr

    stats = stats_json(out)
    listed = {os.path.basename(e["file"]) for e in stats["errors"]}
    assert listed == {c.name for c in cases if c.listed}
    assert {os.path.basename(e["file"]) for e in stats["errors"] if e["failed"]} == failed
    by_stage = {s["name"]: s for s in stats["stages"]}
    read = by_stage["read"]
    expected = collections.Counter(o for c in cases for o in c.outcome.values() if o != "lost")
    expected.update({"kept": len(slow_outcome), "not_response": 1})  # the slow pages; the ARC's filedesc
    assert read["kept"] == expected.pop("kept")
    assert read["dropped"] == dict(expected)
    extract = by_stage["extract"]
    assert extract["dropped"].get("timeout", 0) >= 2 and extract["dropped"].get("empty", 0) >= 2
    # the page after the pathological ones was still extracted: the timeout held and the sandbox recovered
    removed_urls = set()
    for name in os.listdir(os.path.join(out, "removed", "extract")):
        import pyarrow.parquet as pq

        removed_urls |= set(pq.read_table(os.path.join(out, "removed", "extract", name), columns=["url"]).column("url").to_pylist())
    assert "http://slow.example.org/after-the-slow-ones" not in removed_urls
    assert {u for u, o in slow_outcome.items() if o != "kept"} <= removed_urls
    refinery("verify", out)  # exit 0: every stage's in == kept + dropped, removed/ matches


@pytest.mark.parametrize("settings", [{"engine": "resiliparse"},
                                      {"engine": "resiliparse", "line_filter": True, "fallback_chars": 500},
                                      {"engine": "resiliparse", "line_filter": True, "fallback_chars": 500,
                                       "fallback_engine": "baseline", "trafilatura_fast": True}],
                         ids=["resiliparse", "resiliparse-filter-fallback", "resiliparse-filter-baseline"])
def test_resiliparse_engine_stays_bounded_on_the_slow_pages(tmp_path, settings):
    """resiliparse's main-content pass is quadratic in nesting depth: the sandbox's timeout must hold for it too,
    and the page after the pathological ones must still be extracted by a fresh child process."""
    import time

    import pyarrow.parquet as pq
    from datatrove.data import Document

    from stages.base import StageOutput
    from stages.extract import ExtractStage

    pages = extraction_pages()
    docs = [Document(text=html, id=slug, metadata={"url": slug}) for slug, html, _ in pages]
    stage = ExtractStage(output=StageOutput(removed_dir=str(tmp_path)), timeout=1.0, **settings)
    started = time.monotonic()
    kept = list(stage.run(iter(docs)))
    elapsed = time.monotonic() - started
    # each page costs at most the timeout plus a child's restart; a hang would take minutes
    assert elapsed < len(pages) * 3.0, elapsed
    removed = {r["url"]: r["reason"] for r in pq.read_table(tmp_path / "extract" / "00000.parquet").to_pylist()}
    assert removed["deeply-nested"] == removed["unclosed-nesting"] == "timeout"
    assert set(removed.values()) <= {"timeout", "empty"}
    assert [d.id for d in kept][-1] == "after-the-slow-ones" and "Residents said" in kept[-1].text
    assert len(kept) + len(removed) == len(pages)


def test_readme_lists_every_case(corpus):
    _, cases = corpus
    readme = open(os.path.join(ROOT, "README.md")).read()
    missing = [c.name for c in cases if f"`{c.name}`" not in readme]
    assert not missing, f"README's bad-input table lacks {missing}"
