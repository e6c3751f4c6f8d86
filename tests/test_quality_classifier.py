"""Model-based quality filtering (issue 16): a tiny fastText model trained here from crafted good and bad texts
(`refinery classifier train`), the `quality_classifier` stage in filter mode (threshold), annotate mode, `refinery
filter --where` on the annotated run giving filter mode's documents, keep_fraction giving the same documents with 1
and with 4 tasks, a classifier trained on a run's documents vs its removed documents; accounting and `refinery
verify` throughout. Everything offline: the models are made in the test."""

import hashlib
import json
import math
import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import article_html, refinery, stats_json, write_warc
from test_pipeline import check_accounting

from pipeline.where import Where, WhereError
from stages.quality_classifier import FastTextScorer, prepare_fasttext, select_cutoff

GOOD = ("the researchers measured the temperature of the river water every morning and compared the results with "
        "records kept by the museum since the early years of the station").split()
SPAM = ("buy cheap pills now with our best discount offer and click here to win a free casino bonus today "
        "limited deal for new customers only").split()
THRESHOLD = 0.5


def paragraph(rng, words, n=40):
    s = " ".join(rng.choice(words) for _ in range(n))
    return s[0].upper() + s[1:] + "."


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    """WARCs of good and spam articles (all pass gopher_quality) and short pages (dropped by it); a planted exact
    copy of one good article; a fastText model trained from other crafted texts by `refinery classifier train`
    (positives from a JSONL file, negatives from a plain text file)."""
    base = tmp_path_factory.mktemp("quality")
    rng = random.Random(5)
    warcs, copy = [], None
    for f in range(4):
        records = []
        for i in range(6):
            kind = "good" if i % 2 == 0 else "spam"
            body = article_html([paragraph(rng, GOOD if kind == "good" else SPAM) for _ in range(5)], f"{kind} {i}")
            records.append({"url": f"https://{kind}-{f}.org/p/{i}", "body": body})
        records += [{"url": f"https://short-{f}.org/{j}", "body": article_html([f"Too short {j}."], "short")}
                    for j in range(3)]
        if f == 0:
            copy = records[0]["body"]
        if f == 3:
            records.append({"url": "https://copy.org/p/0", "body": copy})
        warcs.append(write_warc(str(base / f"part-{f}.warc.gz"), records))
    pos, neg = base / "pos.jsonl", base / "neg.txt"
    pos.write_text("".join(json.dumps({"text": "\n".join(paragraph(rng, GOOD) for _ in range(3))}) + "\n"
                           for _ in range(100)))
    neg.write_text("".join(paragraph(rng, SPAM) + "\n" for _ in range(100)))
    model = str(base / "crafted.bin")
    proc = refinery("classifier", "train", "--positive", str(pos), "--negative", str(neg), "--out", model,
                    "--dim", "16", "--bucket", "20000", "--epoch", "10", "--seed", "3")
    return {"base": base, "warcs": warcs, "model": model, "train_out": proc.stdout, "pos": str(pos), "neg": str(neg)}


def config(base, name, stages, tasks=2, **output) -> str:
    path = os.path.join(str(base), f"{name}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump({"executor": {"tasks": tasks, "workers": 2}, "output": {"inspect_rate": 1.0, **output},
                        "stages": {"read": {}, "extract": {}, "gopher_quality": {}, **stages}}, f)
    return path


def run(crafted, name, stages, tasks=2) -> str:
    out = str(crafted["base"] / name)
    refinery("run", config(crafted["base"], name, stages, tasks), "--input", *crafted["warcs"], "--output", out)
    check_accounting(out)
    assert "consistent" in refinery("verify", out).stdout
    return out


def documents(run_dir) -> dict:
    t = pq.read_table(os.path.join(run_dir, "documents"))
    return dict(zip(t.column("id").to_pylist(), t.column("quality_score").to_pylist()))


def urls(run_dir) -> set:
    return set(pq.read_table(os.path.join(run_dir, "documents")).column("url").to_pylist())


def test_train_prints_figures_and_is_deterministic(crafted, tmp_path):
    out = crafted["train_out"]
    assert "precision 1.000 recall 1.000 F1 1.000" in out and "threshold" in out and "0.90" in out
    again = str(tmp_path / "again.bin")
    refinery("classifier", "train", "--positive", crafted["pos"], "--negative", crafted["neg"], "--out", again,
             "--dim", "16", "--bucket", "20000", "--epoch", "10", "--seed", "3")
    digest = [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in (crafted["model"], again)]
    assert digest[0] == digest[1], "the same seed must give the same model"
    scorer = FastTextScorer(crafted["model"], "__label__hq")  # both spellings of the label
    good, bad = scorer.score(["The researchers measured the river.\nThe museum kept records.", "buy cheap pills now"])
    assert good > 0.6 and bad < 0.4
    assert prepare_fasttext("  a\nb\r\nc  \n") == "a b c"  # DCLM's preparation


def test_filter_mode_annotate_mode_and_refinery_filter(crafted, tmp_path):
    model = crafted["model"]
    filtered = run(crafted, "filtered", {"quality_classifier": {"model": model, "label": "hq", "threshold": THRESHOLD},
                                         "pii": {}})
    stage = next(s for s in stats_json(filtered)["stages"] if s["name"] == "quality_classifier")
    assert stage["dropped"] == {"low_quality_score": 12} and stage["kept"] == 13  # the spam articles, the good ones
    assert urls(filtered) == {u for u in urls(filtered) if "good" in u or "copy" in u}
    scores = documents(filtered)
    assert all(isinstance(s, float) and s >= THRESHOLD for s in scores.values())
    removed = pq.read_table(os.path.join(filtered, "removed", "quality_classifier")).to_pylist()
    assert all(r["reason"] == "low_quality_score" and r["value"] < THRESHOLD and "spam" in r["url"] for r in removed)
    inspected = pq.read_table(os.path.join(filtered, "inspect", "quality_classifier")).to_pylist()
    assert len(inspected) == 25 and all(dict(r["metrics"])["quality_score"] is not None for r in inspected)

    annotated = run(crafted, "annotated", {"quality_classifier": {"model": model, "label": "__label__hq",
                                                                  "mode": "annotate"},
                                           "pii": {}, "tokenizer": {"vocab_size": 300}, "shards": {}})
    stage = next(s for s in stats_json(annotated)["stages"] if s["name"] == "quality_classifier")
    assert stage["dropped"] == {} and stage["kept"] == 25
    all_scores = documents(annotated)
    assert len(all_scores) == 25 and all(s is not None for s in all_scores.values())
    assert {i: all_scores[i] for i in scores} == scores  # the same scores in both modes

    # a threshold applied later gives filter mode's documents
    out = str(tmp_path / "where")
    proc = refinery("filter", annotated, "--where", f"quality_score >= {THRESHOLD}", "--output", out)
    assert "kept 13 of 25" in proc.stdout
    assert documents(out) == scores
    stats = check_accounting(out)
    assert [s["name"] for s in stats["stages"]][-2:] == ["pii", "filter"]
    assert stats["stages"][-1]["dropped"] == {"where": 12}
    assert "consistent" in refinery("verify", out).stdout
    manifest = json.loads(Path(out, "shards", "manifest.json").read_text())
    source = json.loads(Path(annotated, "shards", "manifest.json").read_text())
    assert manifest["tokenizer_sha256"] == source["tokenizer_sha256"]  # the source run's tokenizer
    assert sum(s["rows"] for s in manifest["splits"].values()) == 13

    # a compound condition, and the errors a user sees
    out2 = str(tmp_path / "where2")
    refinery("filter", annotated, "--where", "not (quality_score < 0.5) and (language_score >= 0 or quality_score > 2)",
             "--output", out2)
    assert documents(out2) == {}  # language_score is null here (no language stage): unknown is not true
    bad = refinery("filter", annotated, "--where", "qualty_score > 0.5", "--output", str(tmp_path / "x"), check=False)
    assert bad.returncode == 2 and "unknown field 'qualty_score'" in bad.stderr and "quality_score" in bad.stderr
    bad = refinery("filter", annotated, "--where", "quality_score > 0.5", "--output", out, check=False)
    assert bad.returncode == 2 and "not an empty folder" in bad.stderr
    bad = refinery("filter", out, "--where", "quality_score > 0.9", "--output", str(tmp_path / "y"), check=False)
    assert bad.returncode == 2 and "both conditions joined by `and`" in bad.stderr

    # a classifier trained on the run's documents (hq) vs what gopher_quality removed (lq) loads into the stage
    trained = str(tmp_path / "run-trained.bin")
    proc = refinery("classifier", "train", "--positive", annotated, "--negative",
                    os.path.join(annotated, "removed", "gopher_quality"), "--out", trained,
                    "--dim", "16", "--bucket", "100000", "--holdout", "0.25")
    assert "read 25 positive (hq) and 12 negative (lq) texts" in proc.stdout and "F1" in proc.stdout
    assert FastTextScorer(trained, "hq").score(["Too short 1."])[0] < 0.5


def test_keep_fraction_is_the_same_with_1_and_4_tasks(crafted):
    model = str(crafted["base"] / "kf-model.bin")
    shutil.copyfile(crafted["model"], model)
    stages = {"minhash_dedup": {}, "quality_classifier": {"model": model, "keep_fraction": 0.3}}
    one, four = run(crafted, "kf1", stages, tasks=1), run(crafted, "kf4", stages, tasks=4)
    assert documents(one) == documents(four)
    by_name = {s["name"]: s for s in stats_json(four)["stages"]}
    assert by_name["minhash_dedup"]["dropped"] == {"duplicate": 1}  # the planted copy: N counts distinct documents
    n = by_name["quality_classifier"]["in"]
    assert n == 24 and by_name["quality_classifier"]["kept"] == math.ceil(0.3 * n) == len(documents(four))
    kept = documents(four)
    dropped = pq.read_table(os.path.join(four, "removed", "quality_classifier")).column("value").to_pylist()
    assert min(kept.values()) >= max(dropped)
    # with exact and URL dedup before MinHash, N still counts the documents every dedup stage left
    keyed = run(crafted, "kf4k", {"url_dedup": {}, "exact_dedup": {}, **stages}, tasks=4)
    by_name = {s["name"]: s for s in stats_json(keyed)["stages"]}
    assert sum(by_name[n]["in"] - by_name[n]["kept"] for n in ("url_dedup", "exact_dedup", "minhash_dedup")) == 1
    assert by_name["quality_classifier"]["in"] == 24 and documents(keyed) == kept
    with open(os.path.join(keyed, "logs", "quality_cutoff", "stats.json")) as f:
        assert json.load(f)[0]["stats"]["documents"]["total"] == 24  # the N of ceil(f x N)
    # another model at the same path is another run: refused, not resumed with mixed scores
    refinery("classifier", "train", "--positive", crafted["pos"], "--negative", crafted["neg"], "--out", model,
             "--dim", "16", "--bucket", "20000", "--seed", "4")
    proc = refinery("run", config(crafted["base"], "kf4", stages, 4), "--input", *crafted["warcs"], "--output", four,
                    check=False)
    assert proc.returncode == 2 and "stages.quality_classifier.model: the file is not the one" in proc.stderr


def test_a_broken_model_or_config_fails_before_any_work(crafted, tmp_path):
    from pipeline.config import ConfigError, parse_config
    from pipeline.preflight import PreflightError, check_dependencies

    # through the command: nothing is run, the message names the file
    missing = str(tmp_path / "missing.bin")
    out = str(tmp_path / "bad")
    proc = refinery("run", config(tmp_path, "bad", {"quality_classifier": {"model": missing, "threshold": 0.5}}),
                    "--input", crafted["warcs"][0], "--output", out, check=False)
    assert proc.returncode == 2 and f"fastText model not found: {missing}" in proc.stderr
    assert not os.path.exists(os.path.join(out, "documents"))
    # the other cases, with the same checks the command makes (config validation, then preflight)
    base = {"read": {}, "extract": {}}
    cases = [
        ({"model": crafted["pos"], "threshold": 0.5}, "not a fastText model"),
        ({"model": crafted["model"], "label": "good", "threshold": 0.5}, "no label 'good' (its labels: "),
        ({"model": crafted["model"]}, "needs exactly one of threshold and keep_fraction"),
        ({"model": crafted["model"], "mode": "annotate", "threshold": 0.5}, "mode annotate drops nothing"),
        ({"threshold": 0.5}, "stages.quality_classifier.model: required"),
        ({"model": crafted["model"], "keep_fraction": 1.5}, "keep_fraction: must be"),
    ]
    for params, message in cases:
        with pytest.raises((ConfigError, PreflightError), match=re.escape(message)):
            check_dependencies(parse_config({"stages": {**base, "quality_classifier": params}}))


def test_cutoff_breaks_ties_by_id_and_keeps_ceil():
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    ids = ["e", "d", "b", "c", "a"]
    cut = select_cutoff(scores, lambda s: [i for i, x in zip(ids, scores) if x == s], 0.5)
    assert cut["keep"] == 3 and cut["score"] == 0.5 and cut["id"] == "c"  # e, then b and c of the tie
    assert select_cutoff(np.array([0.1] * 10), lambda s: [str(i) for i in range(10)], 0.3)["keep"] == 3
    assert select_cutoff(np.empty(0), lambda s: [], 0.5)["keep"] == 0


def test_where_accepts_only_comparisons_of_fields():
    fields = ["quality_score", "language_score"]
    for expr in ["__import__('os').system('true')", "quality_score", "quality_score.real > 1", "len(x) > 1",
                 "quality_score in (1, 2)", "1 < 2", "quality_score > 'a'", "quality_score >="]:
        with pytest.raises(WhereError):
            Where(expr, fields)
    with pytest.raises(WhereError, match="field 'url' is not numeric"):
        Where("url > 1", fields, ["url"])
    Where("0.2 <= quality_score < 0.9 and not language_score < -1 or (quality_score == 1)", fields)
