"""`refinery ablate` on the bundled sample: two curations (configs/sample.yaml, and the same without its quality
filters), the tiny model trained on each with two seeds, killed part way and resumed."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, refinery


@pytest.mark.slow
def test_ablate_on_the_sample_end_to_end_resumed_after_a_kill(tmp_path):
    out = str(tmp_path / "ablation")
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(item) + "\n" for item in [
        {"context": "The city council", "choices": [" said", " purple"], "gold": 0},
        {"context": "The river", "choices": [" flows", " qzx"], "gold": 0}]))
    args = ["ablate", "configs/sample.yaml", "configs/sample-no-quality.yaml", "--train", "configs/train/tiny.yaml",
            "--tokens", "40000", "--seeds", "2", "--task-file", str(tasks), "--device", "cpu", "--output", out]
    # killed (with every process it started) once the first training has written a checkpoint
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    first = os.path.join(out, "models", "sample", "seed0", "latest.json")
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline and not os.path.exists(first):
        time.sleep(0.05)
    assert proc.poll() is None, "the ablation ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not os.path.exists(os.path.join(out, "results.json"))

    done = refinery(*args)
    assert "resumed from step_0000020" in done.stdout
    table = done.stdout
    assert "sample-no-quality" in table and "bpb on sample val" in table and "tasks acc" in table and "core" in table
    results = json.load(open(os.path.join(out, "results.json")))
    assert results["steps"] == 40 and results["tokens"] == 40 * 1024 and results["seeds"] == 2
    configs = results["configs"]
    assert list(configs) == ["sample", "sample-no-quality"]
    # without the quality filters more documents survive
    assert configs["sample-no-quality"]["documents"] > configs["sample"]["documents"]
    for name, c in configs.items():
        assert set(c["val"]) == {"sample", "sample-no-quality"}  # every model on every curation's val split
        assert len(c["val"]["sample"]["bpb"]["values"]) == 2 and 0 < c["val"]["sample"]["bpb"]["mean"] < 8
        assert c["val"]["sample"]["bpb"]["values"][0] != c["val"]["sample"]["bpb"]["values"][1]  # two seeds differ
        for curve in c["curves"]:
            assert [s for s, _ in curve["train"]] == list(range(1, 41))  # the killed training: no step twice
    # one shared tokenizer: every curation's shards were made with it
    manifests = [json.load(open(os.path.join(out, "data", n, "shards", "manifest.json"))) for n in configs]
    assert len({m["tokenizer_sha256"] for m in manifests}) == 1
    page = open(os.path.join(out, "report.html")).read()
    assert page.count("<svg") == 2 and "sample-no-quality" in page and "<polyline" in page

    again = refinery(*args)  # everything done: nothing is trained or evaluated again
    assert "training on" not in again.stdout and "evaluating" not in again.stdout
    assert again.stdout.splitlines()[-4:-1] == table.splitlines()[-4:-1]
    other = refinery(*[a if a != "40000" else "80000" for a in args], check=False)
    assert other.returncode == 2 and "holds another ablation" in other.stderr and "train" in other.stderr
