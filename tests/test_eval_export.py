"""`refinery export` (a Hugging Face GPT-2 folder) and `refinery eval` (val loss, bits per byte, multiple-choice
task files), on CPU, offline."""

import json
import math
import os
import random
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from conftest import ROOT, refinery
from refinery.layout import RunLayout
from refinery.schema import DOCUMENT_SCHEMA
from trainer.checkpoint import load_for_inference
from trainer.config import ModelConfig
from trainer.evaluate import document_windows, text_loss
from trainer.model import GPT, padded_vocab

TINY = os.path.join(ROOT, "configs", "train", "tiny.yaml")
# the training text always continues "the sky is" with " blue"; the other colours occur elsewhere
SENTENCES = ["the sky is blue.", "green grass grows.", "white snow falls.", "a yellow sun shines.", "black night comes."]
COLOURS = [" blue", " green", " white", " yellow", " black"]
BLOCK_TRANSFORMERS = (
    "import sys\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in {'transformers', 'datatrove', 'pipeline', 'stages'}:\n"
    "            raise ImportError(f'{name} is blocked by the test')\n"
    "sys.meta_path.insert(0, Block())\n")


def make_run(folder, texts: list[str], vocab_size: int, val_fraction: float = 0.2) -> str:
    """A run folder (documents/, tokenizer/, shards/) from texts, made by refinery's own tokenizer and shard
    writers, as the tokenize phase of `refinery run` makes them."""
    from stages.token_shards import write_token_shards
    from stages.tokenizer import build_tokenizer

    run = RunLayout(str(folder))
    os.makedirs(run.documents, exist_ok=True)
    rows = {name: [None] * len(texts) for name in DOCUMENT_SCHEMA.names}
    rows["text"], rows["id"] = texts, [f"doc-{i:05d}" for i in range(len(texts))]
    pq.write_table(pa.table(rows, schema=DOCUMENT_SCHEMA), os.path.join(run.documents, "00000.parquet"))
    build_tokenizer(iter(texts), run.tokenizer, vocab_size, 10**8, 2, None)
    write_token_shards(run.documents, run.tokenizer, run.shards.root, val_fraction=val_fraction, row_group_rows=10)
    return run.root


def sky_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        texts.append(" ".join(rng.choice(SENTENCES) for _ in range(12)))
    return texts


@pytest.fixture(scope="module")
def sky(tmp_path_factory):
    """A run whose every sentence says what colour a thing is, and a tiny model trained on it."""
    base = tmp_path_factory.mktemp("sky")
    run = make_run(base / "run", sky_texts(200), vocab_size=300)
    out = str(base / "ckpt")
    refinery("train", TINY, "--data", run, "--out", out, "--max-steps", "60", "--quiet")
    return run, out


@pytest.fixture(scope="module")
def sample_model(sample_run, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("sample_model") / "ckpt")
    refinery("train", TINY, "--data", sample_run[0], "--out", out, "--max-steps", "30", "--quiet")
    return out


def write_tasks(path, items):
    with open(path, "w") as f:
        for item in items:
            f.write(json.dumps(item) + "\n")
    return str(path)


def eval_json(*args) -> dict:
    return json.loads(refinery("eval", *args, "--json").stdout)


# ---- export -----------------------------------------------------------------------------------------------------


def test_export_loads_in_transformers_with_the_same_logits_and_greedy_tokens(sample_run, sample_model, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf_dir = str(tmp_path / "hf")
    # exporting needs neither transformers nor the pipeline packages
    (tmp_path / "block").mkdir()
    (tmp_path / "block" / "sitecustomize.py").write_text(BLOCK_TRANSFORMERS)
    proc = subprocess.run([sys.executable, "-m", "trainer", "export", sample_model, "--out", hf_dir], cwd=ROOT,
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(tmp_path / "block")))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(os.listdir(hf_dir)) == ["config.json", "generation_config.json", "model.safetensors",
                                          "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
    model, tok, vocab = load_for_inference(sample_model)
    config = json.load(open(os.path.join(hf_dir, "config.json")))
    assert config["architectures"] == ["GPT2LMHeadModel"] and config["vocab_size"] == vocab["vocab_size"]
    assert model.wte.weight.shape[0] > vocab["vocab_size"]  # the padded rows were sliced off
    assert json.load(open(os.path.join(hf_dir, "generation_config.json")))["eos_token_id"] == vocab["eos_id"]

    hf = AutoModelForCausalLM.from_pretrained(hf_dir).eval()
    hf_tok = AutoTokenizer.from_pretrained(hf_dir)
    assert type(hf).__name__ == "GPT2LMHeadModel" and hf_tok.eos_token_id == vocab["eos_id"]
    text = "The city council said on Monday that the new library would open next year."
    assert hf_tok(text)["input_ids"] == tok.encode(text, add_special_tokens=False).ids
    # the same tokens, a whole block of them: the logits agree within 1e-4 (fp32)
    shards = os.path.join(sample_run[0], "shards")
    first = json.load(open(os.path.join(shards, "manifest.json")))["splits"]["val"]["shards"][0]
    val = pq.read_table(os.path.join(shards, "val", first), columns=["input_ids"])
    stream = [t for row in val.column(0).to_pylist() for t in row]
    x = torch.tensor([stream[:64], stream[64:128]])
    with torch.no_grad():
        ours = model(x)[:, :, : vocab["vocab_size"]]
        theirs = hf(x).logits
    assert ours.shape == theirs.shape
    diff = (ours - theirs).abs().max().item()
    assert diff < 1e-4, diff
    # greedy decoding: transformers' generate and `refinery sample --temperature 0` give the same text up to EOS
    for prompt in ("The city", "In the"):
        ids = tok.encode(prompt, add_special_tokens=False).ids
        with torch.no_grad():
            out = hf.generate(torch.tensor([ids]), max_new_tokens=40, do_sample=False)[0, len(ids):].tolist()
        if vocab["eos_id"] in out:
            out = out[: out.index(vocab["eos_id"])]
        ours = refinery("sample", sample_model, "--prompt", prompt, "--max-new-tokens", "40", "--temperature", "0")
        assert ours.stdout == prompt + tok.decode(out, skip_special_tokens=False) + "\n"


def test_export_refuses_a_folder_that_holds_something(sample_model, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep me")
    proc = refinery("export", sample_model, "--out", str(tmp_path / "full"), check=False)
    assert proc.returncode == 2 and "not empty" in proc.stderr
    assert os.listdir(tmp_path / "full") == ["mine.txt"] and not [n for n in os.listdir(tmp_path) if ".tmp-" in n]


# ---- eval -------------------------------------------------------------------------------------------------------


def test_bits_per_byte_on_a_hand_computed_case():
    # a model whose weights are all zero predicts every one of its V tokens with probability 1/V: each predicted
    # token costs ln V nats, whatever the text
    from tokenizers import Tokenizer, models, pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE({c: i for i, c in enumerate(alphabet)}, []))  # one token a byte, no merges
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.add_special_tokens(["<|endoftext|>"])
    V, eos = tok.get_vocab_size(), tok.token_to_id("<|endoftext|>")
    model = GPT(ModelConfig(n_layer=1, n_head=1, n_embd=8, block_size=16), V)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    texts = ["héllo", "a" * 40]  # 6 bytes (é is two) and 40 bytes; the second is longer than block_size
    assert [len(tok.encode(t).ids) for t in texts] == [6, 40]
    r = text_loss(model.eval(), tok, eos, texts)
    tokens = (6 + 1) + (40 + 1)  # every text token and the closing EOS are predicted, the opening EOS is not
    assert r["tokens"] == tokens and r["bytes"] == 46
    assert r["loss"] == pytest.approx(math.log(V), rel=1e-6)
    assert r["bpb"] == pytest.approx(tokens * math.log(V) / (46 * math.log(2)), rel=1e-6)
    assert r["bpb"] == pytest.approx(r["loss"] * r["tokens"] / (r["bytes"] * math.log(2)), rel=1e-9)


def test_long_documents_are_scored_once_per_token_in_sliding_windows():
    ids = list(range(1, 100))
    windows = document_windows(ids, 0, block_size=16)
    s = [0, *ids, 0]
    predicted = []
    for tokens, first in windows:
        assert len(tokens) <= 17 and first >= 1
        start = next(i for i in range(len(s)) if s[i : i + len(tokens)] == tokens)
        predicted += list(range(start + first, start + len(tokens)))
        if start:  # after the first window every prediction has at least block_size / 2 tokens of context
            assert first >= 8
    assert predicted == list(range(1, len(s)))


def test_eval_on_a_learnable_task_beats_chance(sky, tmp_path):
    run, ckpt = sky
    # the choices in five orders, so a model that always picks one position scores chance
    colour_file = write_tasks(tmp_path / "colours.jsonl", [
        {"id": f"sky-{k}", "context": "the sky is", "choices": COLOURS[k:] + COLOURS[:k], "gold": (5 - k) % 5}
        for k in range(5)])
    verb_file = write_tasks(tmp_path / "verbs.jsonl", [
        {"context": "the sky is blue. green", "choices": [" grass", " snow"], "gold": 0},
        {"context": "the sky is blue. white", "choices": [" grass", " snow"], "gold": 1}])
    # per-choice contexts with one shared continuation (WinoGrande's shape)
    wino = write_tasks(tmp_path / "which.jsonl", [
        {"contexts": ["green grass", "white snow"], "choices": [" grows."], "gold": 0},
        {"contexts": ["green grass", "white snow"], "choices": [" falls."], "gold": 1}])
    r = eval_json(ckpt, "--data", run, "--task-file", colour_file, "--task-file", verb_file, "--task-file", wino)
    assert set(r["tasks"]) == {"colours", "verbs", "which"}
    colours_r = r["tasks"]["colours"]
    assert colours_r["acc"] >= 0.8 and colours_r["acc_norm"] >= 0.8  # chance is 0.2
    assert colours_r["centered"] == pytest.approx((colours_r["acc"] - 0.2) / 0.8)
    assert r["tasks"]["verbs"]["acc"] == 1.0
    assert r["core"] == pytest.approx(sum(t["centered"] for t in r["tasks"].values()) / 3)
    assert r["core"] > 0.5
    val = r["runs"][run]
    assert val["loss"] < 1.0 and val["bpb"] == pytest.approx(val["loss"] * val["tokens"] / (val["bytes"] * math.log(2)))
    # text output
    text = refinery("eval", ckpt, "--task-file", colour_file).stdout
    assert "task colours: acc" in text and "core" in text


def test_eval_on_another_runs_val_split_with_another_tokenizer(sample_run, sample_model, sky):
    sky_run, sky_ckpt = sky
    r = eval_json(sample_model, "--data", sample_run[0], "--data", sky_run)
    own, other = r["runs"][sample_run[0]], r["runs"][sky_run]
    # the checkpoint's own run: its val documents are exactly the tokens of shards/val (EOS included)
    manifest = json.load(open(os.path.join(sample_run[0], "shards", "manifest.json")))
    assert own["tokens"] == manifest["splits"]["val"]["tokens"]
    # the other run: its val documents (its id-hash split), tokenized with the checkpoint's tokenizer
    sky_manifest = json.load(open(os.path.join(sky_run, "shards", "manifest.json")))
    assert other["documents"] == sky_manifest["splits"]["val"]["rows"]
    assert other["tokens"] != sky_manifest["splits"]["val"]["tokens"]  # another tokenizer cuts the text otherwise
    _, tok, _ = load_for_inference(sample_model)
    val_ids = set()
    for name in sky_manifest["splits"]["val"]["shards"]:
        val_ids.update(pq.read_table(os.path.join(sky_run, "shards", "val", name), columns=["doc_id"]).column(0).to_pylist())
    docs = pq.read_table(os.path.join(sky_run, "documents", "00000.parquet"), columns=["id", "text"]).to_pylist()
    texts = [d["text"] for d in docs if d["id"] in val_ids]
    assert other["tokens"] == sum(len(tok.encode(t).ids) + 1 for t in texts)
    assert other["bytes"] == sum(len(t.encode()) for t in texts)
    # bits per byte compares across tokenizers: the model trained on the sky text knows it far better
    sky_r = eval_json(sky_ckpt, "--data", sky_run)["runs"][sky_run]
    assert sky_r["bpb"] < 0.5 * other["bpb"]
    # --val-docs N: the first N val documents by id
    assert eval_json(sample_model, "--data", sky_run, "--val-docs", "3")["runs"][sky_run]["documents"] == 3


def test_bad_task_file_is_a_clear_error(sample_model, tmp_path):
    bad = write_tasks(tmp_path / "bad.jsonl", [{"context": "a", "choices": [" b", " c"], "gold": 2}])
    proc = refinery("eval", sample_model, "--task-file", bad, check=False)
    assert proc.returncode == 2 and "bad.jsonl:1: `gold`" in proc.stderr and "Traceback" not in proc.stderr


# ---- bench/convert_tasks.py ---------------------------------------------------------------------------------------


def test_convert_tasks_reads_the_public_field_names(sample_model, tmp_path):
    from conftest import run_bench
    from trainer.evaluate import load_task_file

    sources = {
        "hellaswag": [{"ind": 4, "activity_label": "Baking cookies", "ctx_a": "A woman puts dough on a tray.",
                       "ctx_b": "she", "endings": ["puts it in the oven.", "eats the tray.", "sings [title] loudly.",
                                                   "drives away."], "label": "0"},
                      {"ind": 5, "ctx": "A man", "endings": ["a", "b", "c", "d"], "label": ""}],  # test split: skipped
        "arc": [{"id": "Mercury_1", "question": "Which is a gas?", "answerKey": "B",
                 "choices": {"text": ["rock", "steam", "wood"], "label": ["A", "B", "C"]}},
                {"id": "Orig_2", "answerKey": "1",
                 "question": {"stem": "What melts ice?", "choices": [{"text": "heat", "label": "1"},
                                                                     {"text": "cold", "label": "2"}]}}],
        "piqa": [{"goal": "Open a jar", "sol1": "twist the lid", "sol2": "paint the lid", "label": 0}],
        "winogrande": [{"qID": "w1", "sentence": "The cup fell off the table because _ was wobbly.",
                        "option1": "the cup", "option2": "the table", "answer": "2"}],
    }
    for kind, rows in sources.items():
        src = tmp_path / f"{kind}.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in rows))
        out = str(tmp_path / f"{kind}-tasks.jsonl")
        printed = run_bench("convert_tasks.py", kind, str(src), "--out", out)
        assert f"to {out}" in printed
        items = load_task_file(out)  # the format `refinery eval` reads
        if kind == "hellaswag":
            assert "1 without an answer skipped" in printed and len(items) == 1
            assert items[0]["contexts"][0] == "Baking cookies: A woman puts dough on a tray. She"
            assert items[0]["choices"][0] == " puts it in the oven." and items[0]["choices"][2] == " sings. loudly."
        if kind == "arc":
            assert [it["gold"] for it in items] == [1, 0] and items[0]["contexts"][0] == "Question: Which is a gas?\nAnswer:"
            assert items[1]["choices"] == [" heat", " cold"]
        if kind == "winogrande":
            assert items[0]["contexts"] == ["The cup fell off the table because the cup",
                                            "The cup fell off the table because the table"]
            assert items[0]["choices"] == [" was wobbly.", " was wobbly."] and items[0]["gold"] == 1
    r = eval_json(sample_model, *[a for k in sources for a in ("--task-file", str(tmp_path / f"{k}-tasks.jsonl"))])
    assert set(r["tasks"]) == {f"{k}-tasks" for k in sources} and r["core"] is not None


# ---- bench/train_throughput.py --synthetic-vocab ------------------------------------------------------------------


def test_throughput_bench_runs_on_synthetic_shards_without_the_pipeline_packages(tmp_path):
    # the GPU machine has torch, pyarrow, safetensors, tokenizers, PyYAML and transformers, nothing of the pipeline
    (tmp_path / "block").mkdir()
    (tmp_path / "block" / "sitecustomize.py").write_text(BLOCK_TRANSFORMERS.replace(
        "{'transformers', ", "{'warcio', 'trafilatura', 'fasttext', 'datasketch', 'spacy', 'fastwarc', 'rich', "))
    data = str(tmp_path / "synthetic")
    proc = subprocess.run([sys.executable, "bench/train_throughput.py", TINY, "--synthetic-vocab", "50304",
                           "--data", data, "--steps", "2", "--warmup", "1", "--device", "cpu"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(tmp_path / "block")))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "vocab 50304" in proc.stdout and "tokens/s" in proc.stdout and "data wait" in proc.stdout
    manifest = json.load(open(os.path.join(data, "shards", "manifest.json")))
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(data, "tokenizer", "tokenizer.json"))
    assert manifest["vocab_size"] == tok.get_vocab_size() == 50304 == padded_vocab(50304)
    assert manifest["eos_id"] == tok.token_to_id("<|endoftext|>")
    rows = pq.read_table(os.path.join(data, "shards", "train", "train_00000.parquet")).to_pylist()
    assert all(r["input_ids"][-1] == manifest["eos_id"] and max(r["input_ids"]) < 50304 for r in rows)
