"""quality_classifier with `type: transformers` (issue 17): a tiny random BERT-style sequence classifier built here
with transformers' config classes and a WordPiece tokenizer trained with `tokenizers`, saved to a temp folder and
loaded offline (HF_HUB_OFFLINE, local_files_only). Scores the same with batch_size 1 and 8 and across a batch
boundary, truncation of a long document, labels of a multi-output model, filter and annotate modes, the scoring
phase of its own (`phase: quality_score`) locally and through the fake sbatch (its script asks for the GPU), the Ray
executor's GPUs for that phase only, and the preflight messages. Nothing here needs a GPU or the network."""

import json
import os
import random
import re
import shutil

import pyarrow.parquet as pq
import pytest
import yaml

from conftest import ROOT, article_html, refinery, stats_json, write_warc
from test_pipeline import check_accounting
from test_quality_classifier import GOOD, SPAM, documents, paragraph

os.environ["HF_HUB_OFFLINE"] = "1"  # the tests' own process; the refinery subprocesses inherit it
os.environ["TRANSFORMERS_OFFLINE"] = "1"

MAX_POSITIONS = 64


def build_model(folder: str, labels: list[str] | None = None, seed: int = 0) -> str:
    """A 2-layer BERT (hidden 32) with a WordPiece tokenizer trained on the test's words; one regression output
    (FineWeb-Edu's shape) or one output per label. Large initial weights so scores differ between texts."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator([" ".join(GOOD), " ".join(SPAM), "too short ."] * 5,
                            trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                                       special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=MAX_POSITIONS)
    torch.manual_seed(seed)
    extra = ({"num_labels": 1, "problem_type": "regression"} if labels is None else
             {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
              "label2id": {name: i for i, name in enumerate(labels)}})
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=MAX_POSITIONS, initializer_range=0.5, **extra)
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """WARCs of good and spam articles (all pass gopher_quality), a planted exact copy, the regression model and a
    3-label model."""
    base = tmp_path_factory.mktemp("tcls")
    rng = random.Random(7)
    warcs, copy = [], None
    for f in range(3):
        records = []
        for i in range(7):  # 21 articles and the copy: not a multiple of the batch
            kind = "good" if i % 2 == 0 else "spam"
            body = article_html([paragraph(rng, GOOD if kind == "good" else SPAM) for _ in range(4)], f"{kind} {i}")
            records.append({"url": f"https://{kind}-{f}.org/p/{i}", "body": body})
        if f == 0:
            copy = records[0]["body"]
        if f == 2:
            records.append({"url": "https://copy.org/p/0", "body": copy})
        warcs.append(write_warc(str(base / f"part-{f}.warc.gz"), records))
    return {"base": base, "warcs": warcs, "model": build_model(str(base / "regression")),
            "labels": build_model(str(base / "labels"), ["low", "mid", "high"], seed=1)}


def qc(tiny, **params) -> dict:
    return {"type": "transformers", "model": tiny["model"], "batch_size": 4, **params}


def write_config(base, name, stages, tasks=2, executor=None) -> str:
    path = os.path.join(str(base), f"{name}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump({"executor": {"tasks": tasks, "workers": 2, **(executor or {})},
                        "output": {"inspect_rate": 1.0},
                        "stages": {"read": {}, "extract": {}, "gopher_quality": {}, **stages}}, f)
    return path


def run(tiny, name, stages, tasks=2, executor=None, env=None, check=True) -> str:
    out = str(tiny["base"] / name)
    proc = refinery("run", write_config(tiny["base"], name, stages, tasks, executor), "--input", *tiny["warcs"],
                    "--output", out, env=env)
    if check:
        check_accounting(out)
        assert "consistent" in refinery("verify", out).stdout
    return out if env is None else (out, proc)


def test_scorer_batches_truncation_and_labels(tiny):
    from datatrove.data import Document

    from stages.quality_classifier import QualityScoreStep, TransformersScorer

    rng = random.Random(3)
    texts = [paragraph(rng, GOOD if i % 3 else SPAM, n=rng.randint(3, 30)) for i in range(11)] + [""]
    scores = {}
    for size in (1, 8):  # 12 documents: batches of 8 and 4
        docs = [Document(text=t, id=str(i), metadata={}) for i, t in enumerate(texts)]
        out = list(QualityScoreStep("transformers", tiny["model"], None, None, batch_size=size).run(iter(docs)))
        assert [d.id for d in out] == [str(i) for i in range(len(texts))]
        scores[size] = [d.metadata["quality_score"] for d in out]
    assert all(isinstance(s, float) for s in scores[1])
    assert scores[1] == pytest.approx(scores[8], abs=1e-5)
    assert max(scores[1]) - min(scores[1]) > 1e-3, "the tiny model must tell texts apart"

    scorer = TransformersScorer(tiny["model"], device="cpu")
    assert scorer.max_length == MAX_POSITIONS and scorer.device == "cpu"
    head = " ".join(GOOD[:30] * 4)  # far more than 64 tokens
    long_a, long_b = head + " " + " ".join(SPAM * 20), head + " " + " ".join(GOOD * 20)
    a, b, short = scorer.score([long_a, long_b, "the river"])
    assert a == pytest.approx(b, abs=1e-6)  # only the first 64 tokens are read
    cut = TransformersScorer(tiny["model"], max_length=8, device="cpu")
    assert cut.score([head])[0] == pytest.approx(cut.score([" ".join(GOOD[:30])])[0], abs=1e-6)

    labels = {name: TransformersScorer(tiny["labels"], name, device="cpu").score(texts[:4]) for name in
              ("low", "mid", "high")}
    for i in range(4):
        assert sum(labels[n][i] for n in labels) == pytest.approx(1.0, abs=1e-5)  # softmax probabilities
    with pytest.raises(ValueError, match=r"has 3 outputs and needs `label` \(its labels: low, mid, high\)"):
        TransformersScorer(tiny["labels"], None)
    with pytest.raises(ValueError, match="has no label 'hq'"):
        TransformersScorer(tiny["labels"], "hq")
    with pytest.raises(ValueError, match="one output .* leave label unset"):
        TransformersScorer(tiny["model"], "hq")
    with pytest.raises(ValueError, match="max_length 100 is more than the model reads \\(64 tokens\\)"):
        TransformersScorer(tiny["model"], max_length=100)
    with pytest.raises(FileNotFoundError, match="huggingface-cli download"):
        TransformersScorer(str(tiny["base"] / "nothing"))
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="torch sees no CUDA device"):
            TransformersScorer(tiny["model"], device="cuda")
        assert TransformersScorer(tiny["model"], device="auto").device == "cpu"  # the CPU fallback


@pytest.fixture(scope="module")
def modes(tiny):
    """An annotate run, then a filter run at the median of its scores (with pii: the report scrubs)."""
    annotated = run(tiny, "annotate", {"quality_classifier": qc(tiny, mode="annotate")})
    scores = documents(annotated)
    ordered = sorted(scores.values())
    k = max(range(8, 15), key=lambda i: ordered[i] - ordered[i - 1])  # near the median, between two distant scores
    threshold = round((ordered[k - 1] + ordered[k]) / 2, 6)  # batches of 5, not 4: floats may differ in the last bits
    filtered = run(tiny, "filter", {"quality_classifier": qc(tiny, threshold=threshold, batch_size=5), "pii": {}})
    return annotated, filtered, threshold


def test_filter_and_annotate_modes(modes):
    annotated, filtered, threshold = modes
    scores = documents(annotated)
    assert len(scores) == 22 and all(isinstance(s, float) for s in scores.values())
    kept = documents(filtered)
    assert set(kept) == {i for i, s in scores.items() if s >= threshold} and 0 < len(kept) < 22
    assert {i: pytest.approx(s, abs=1e-5) for i, s in kept.items()} == {i: scores[i] for i in kept}
    stage = next(s for s in stats_json(filtered)["stages"] if s["name"] == "quality_classifier")
    assert stage["dropped"] == {"low_quality_score": 22 - len(kept)}
    removed = pq.read_table(os.path.join(filtered, "removed", "quality_classifier")).to_pylist()
    assert all(r["value"] < threshold and r["detail"] == f"threshold {threshold}" for r in removed)
    run_json = json.load(open(os.path.join(filtered, "run.json")))
    assert "stages.quality_classifier.model" in run_json["identity"]["files"]  # the folder's sha256


def test_score_phase_locally_and_on_slurm_asks_for_the_gpu(tiny, tmp_path):
    from test_scale import fake_slurm

    stages = {"minhash_dedup": {}, "quality_classifier": qc(tiny, keep_fraction=0.5)}
    in_curate = run(tiny, "kf-curate", stages, tasks=3)
    own = {"minhash_dedup": {}, "quality_classifier": qc(tiny, keep_fraction=0.5, phase="quality_score")}
    local = run(tiny, "kf-phase", own, tasks=3)
    assert documents(local) == pytest.approx(documents(in_curate), abs=1e-5)
    assert len(documents(local)) == 11  # ceil(0.5 x 21 distinct documents)
    assert os.path.isdir(os.path.join(local, "logs", "quality_score"))
    stats = [json.load(open(os.path.join(local, "logs", "quality_score", "stats", f"{t:05d}.json"))) for t in range(3)]
    counted = {k: sum(e["stats"].get(k, 0) if not isinstance(e["stats"].get(k), dict) else e["stats"][k]["total"]
                      for s in stats for e in s if e["name"].endswith("quality_scores")) for k in ("scored",
                                                                                                  "skipped_duplicates")}
    assert counted == {"scored": 21, "skipped_duplicates": 1}  # the planted copy is never scored

    env = fake_slurm(tmp_path)
    executor = {"type": "slurm", "slurm": {
        "partition": "cpu", "time": "01:00:00", "job_name": "t", "env_command": f"cd {ROOT} && export PYTHONPATH={ROOT}",
        "phases": {"quality_score": {"partition": "gpu", "gres": "gpu:1", "gpus_per_task": 1, "cpus_per_task": 4}}}}
    out, proc = run(tiny, "kf-slurm", own, tasks=3, executor=executor, env=env, check=False)
    assert "submitted to Slurm" in proc.stdout
    jobs = [j for j in json.load(open(tmp_path / "spool" / "jobs.json")) if not j["merge_stats"]]
    assert [j["name"] for j in jobs] == ["t-curate", "t-dedup_buckets", "t-dedup_clusters", "t-quality_score",
                                         "t-quality_cutoff", "t-finalize", "t-cleanup"]
    assert all(j["state"] == "COMPLETED" for j in jobs), jobs
    for j in jobs:
        script = open(tmp_path / "spool" / f"job-{j['id']}.sh").read()
        gpu = j["name"] == "t-quality_score"
        assert ("#SBATCH --partition=gpu" in script) == gpu and ("#SBATCH --partition=cpu" in script) != gpu
        assert ("#SBATCH --gres=gpu:1" in script) == gpu and ("#SBATCH --gpus=1" in script) == gpu, j["name"]
        assert ("#SBATCH --cpus-per-task=4" in script) == gpu
    check_accounting(out)
    assert documents(out) == documents(local)  # the GPU phase, run here on the CPU (device auto)

    bad = dict(executor, slurm=dict(executor["slurm"], phases={"quality_scor": {"gres": "gpu:1"}}))
    proc = refinery("run", write_config(tiny["base"], "typo", own, 3, bad), "--input", *tiny["warcs"], "--output",
                    str(tmp_path / "typo"), env=env, check=False)
    assert proc.returncode == 2 and "executor.slurm.phases: quality_scor: no such phase in this run" in proc.stderr


def test_ray_gives_gpus_to_the_score_phase_only():
    pytest.importorskip("ray")
    from pipeline.config import parse_config
    from pipeline.executors import make_executor

    cfg = parse_config({"executor": {"type": "ray", "ray": {"phases": {"quality_score": {"num_gpus": 1}}}},
                       "stages": {"read": {}}})
    for phase, gpus in (("curate", 0), ("quality_score", 1)):
        ex = make_executor("ray", cfg.executor_options, [], 1, 1, "/tmp/unused-ray-logs", phase)
        assert ex.gpus_per_task == gpus and ex.cpus_per_task == 1
    from pipeline.config import ConfigError

    with pytest.raises(ConfigError, match="executor.ray.phases.quality_score.gres: unknown key"):
        parse_config({"executor": {"type": "ray", "ray": {"phases": {"quality_score": {"gres": "gpu:1"}}}},
                      "stages": {"read": {}}})


def test_preflight_names_what_is_missing(tiny, monkeypatch):
    import importlib.util

    from pipeline.config import ConfigError, parse_config
    from pipeline.preflight import PreflightError, check_dependencies

    def cfg(**params):
        return parse_config({"stages": {"read": {}, "quality_classifier": {"type": "transformers", **params}}})

    with pytest.raises(PreflightError, match="one output .* leave label unset"):
        check_dependencies(cfg(model=tiny["model"], label="hq", threshold=2.5))
    with pytest.raises(PreflightError, match="transformers model folder not found"):
        check_dependencies(cfg(model=str(tiny["base"] / "missing"), threshold=2.5))
    with pytest.raises(ConfigError, match="stages.quality_classifier.device: only for type transformers"):
        parse_config({"stages": {"read": {}, "quality_classifier": {"model": "m.bin", "threshold": 0.5,
                                                                     "device": "cuda"}}})
    check_dependencies(cfg(model=tiny["model"], threshold=2.5, device="cuda"))  # a GPU phase: checked on the CPU
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "transformers" else real(name, *a))
    with pytest.raises(PreflightError, match=r"type transformers needs transformers, not installed: pip install -e "
                                             r"'\.\[classifiers\]'"):
        check_dependencies(cfg(model=tiny["model"], threshold=2.5))


def table_rows(text: str) -> list[tuple]:
    """(threshold, documents, % docs, characters, % chars, configured) of a --what-if table."""
    rows = []
    for line in text.splitlines():
        m = re.match(r"^(>| ) +(-?[\d,.e+-]+) +([\d,]+) +([\d.]+)% +([\d,]+) +([\d.]+)%", line)
        if m:
            rows.append((float(m[2].replace(",", "")), int(m[3].replace(",", "")), float(m[4]),
                         int(m[5].replace(",", "")), float(m[6]), m[1] == ">"))
    return rows


def test_what_if_table_report_data_and_chromium(modes, tmp_path):
    from test_report import render, report_payload

    annotated, filtered, threshold = modes
    out = str(tmp_path / "report.html")
    refinery("report", filtered, "-o", out)
    data = report_payload(out)
    curves = {(s["name"], k): w for s in data["stages"] for k, w in s["what_if"].items()}
    assert ("quality_classifier", "threshold") in curves and ("gopher_quality", "min_doc_words") in curves
    funnel = {s["name"]: s for s in stats_json(filtered)["stages"]}
    for (stage, key), w in curves.items():
        table = refinery("stats", filtered, "--what-if", f"{stage}.{key}").stdout
        assert json.loads(refinery("stats", filtered, "--what-if", f"{stage}.{key}", "--json").stdout) == w
        rows = table_rows(table)
        assert len(rows) == len(w["points"]) > 0, table
        for row, p in zip(rows, w["points"]):
            assert row[0] == pytest.approx(p["threshold"], rel=1e-3, abs=1e-9)
            assert row[1:] == (p["documents"], round(100 * p["documents_share"], 1), p["bytes"],
                               round(100 * p["bytes_share"], 1), p["configured"])
        marked = [p for p in w["points"] if p["configured"]]
        assert len(marked) == 1 and marked[0]["threshold"] == w["configured"]
        # inspect_rate 1.0: at the configured threshold exactly the documents the stage kept survive
        assert marked[0]["documents"] == funnel[stage]["kept"] and w["documents"] == funnel[stage]["in"]
        if stage in ("quality_classifier", "gopher_quality"):  # stages that keep texts unchanged: the same bytes
            assert marked[0]["bytes"] == funnel[stage]["kept_bytes"] > 0
    q = curves["quality_classifier", "threshold"]
    assert q["configured"] == threshold and q["source"] == "inspect"
    assert all(e["value"] >= threshold for e in q["above"]) and all(e["value"] < threshold for e in q["below"])
    assert q["above"] and q["below"] and all(e["text"] for e in q["above"] + q["below"])
    shares = [p["documents_share"] for p in q["points"]]
    assert shares == sorted(shares, reverse=True) and shares[0] == 1.0

    # annotate: the stage dropped nothing, so every document of documents/ is read; no threshold, the median marked
    a = json.loads(refinery("stats", annotated, "--what-if", "quality_classifier.threshold", "--json").stdout)
    assert a["source"] == "documents" and a["documents"] == 22 and a["configured"] is None
    assert not any(p["configured"] for p in a["points"]) and len(a["above"]) == len(a["below"]) == 3
    bad = refinery("stats", filtered, "--what-if", "quality_classifier.label", check=False)
    assert bad.returncode == 2 and "not a threshold of this run" in bad.stderr

    if shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome"):
        dom = render(out)
        body = re.search(r"<body([^>]*)>", dom)[1]
        assert "data-errors" not in body, body
        expected = (2 + sum(len(s["histograms"]) for s in data["stages"]) + len(curves)
                    + (1 if data["clusters"] else 0))
        assert f'data-charts="{expected}"' in body, body
        for (stage, key), w in curves.items():
            block = dom.split(f'id="whatif-{stage}-{key}"', 1)[1].split('class="hist"', 1)[0]
            assert block.count('class="curve"') == 2  # documents and characters
            assert f'class="configured" data-threshold="{w["configured"]}"' in block or (
                f'data-threshold="{json.dumps(w["configured"])}"' in block), (stage, key)
