"""Config validation: one clear error naming each bad key path, before any work starts."""

import os
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, refinery
from pipeline.config import ConfigError, load_config, parse_config


def base():
    with open("configs/sample.yaml") as f:
        return yaml.safe_load(f)


@pytest.mark.parametrize(
    "mutate,expected",
    [
        (lambda c: c["stages"]["language"].update(threshhold=0.5), "stages.language.threshhold: unknown key"),
        (lambda c: c["stages"]["language"].update(threshold=1.5), "stages.language.threshold: must be between 0 and 1"),
        (lambda c: c["stages"]["gopher_quality"].update(min_doc_words="fifty"), "stages.gopher_quality.min_doc_words: expected int"),
        (lambda c: c["stages"]["minhash_dedup"].update(bands=10), "stages.minhash_dedup: bands x rows must equal num_perm"),
        (lambda c: c["executor"].update(tasks=0), "executor.tasks: must be a positive integer"),
        (lambda c: c.update(stagez={}), "stagez: unknown key"),
        (lambda c: c["stages"].update(bogus={}), "stages.bogus: unknown stage"),
        (lambda c: c["stages"].pop("read"), "stages.read: required"),
        (lambda c: c.pop("stages"), "stages: required"),
        (lambda c: c.update(stages={}), "stages.read: required"),
        (lambda c: c["stages"]["language"].update(threshold=-0.1), "stages.language.threshold: must be between 0 and 1"),
        (lambda c: c["stages"]["shards"].update(val_fraction=1.5), "stages.shards.val_fraction: must be between 0 and 1"),
        (lambda c: c["output"].update(inspect_rate=2), "output.inspect_rate: must be between 0 and 1"),
        (lambda c: c["executor"].update(workers="two"), "executor.workers: must be a positive integer"),
        (lambda c: c["stages"]["tokenizer"].update(vocab_size=10), "stages.tokenizer.vocab_size: must be at least 258"),
        (lambda c: c["stages"]["extract"].update(timeout=0), "stages.extract.timeout: must be positive"),
        (lambda c: c["stages"]["extract"].update(engine="jusText"), "stages.extract.engine: must be one of trafilatura, resiliparse"),
        (lambda c: c["stages"]["extract"].update(fallback_chars=500), "stages.extract: line_filter, fallback_chars, fallback_engine and fallback_min_language_score apply to engine: resiliparse only"),
        (lambda c: c["stages"]["extract"].update(fallback_engine="baseline"), "stages.extract: line_filter, fallback_chars, fallback_engine and fallback_min_language_score apply to engine: resiliparse only"),
        (lambda c: c["stages"]["extract"].update(engine="resiliparse", fallback_engine="readability"), "stages.extract.fallback_engine: must be one of trafilatura, baseline"),
        (lambda c: c["stages"]["read"].update(max_record_bytes=-1), "stages.read.max_record_bytes: must be positive"),
        (lambda c: c["stages"]["minhash_dedup"].update(num_perm=0, bands=0, rows=0), "stages.minhash_dedup.num_perm: must be positive"),
        (lambda c: c["stages"]["shards"].update(row_group_rows=0), "stages.shards.row_group_rows: must be positive"),
        (lambda c: c["stages"]["gopher_quality"].update(min_doc_words=1000, max_doc_words=50), "stages.gopher_quality: min_doc_words (1000) must not exceed max_doc_words (50)"),
        (lambda c: c["stages"]["gopher_repetition"].update(top_n_grams=[[2, 1.2]]), "stages.gopher_repetition.top_n_grams: entries must be [n >= 1, fraction"),
        (lambda c: c["stages"]["language"].update(languages="en"), "stages.language.languages: expected list"),
        (lambda c: c["stages"]["c4_quality"].update(filter_no_terminal_punct="yes"), "stages.c4_quality.filter_no_terminal_punct: expected bool"),
        (lambda c: c["stages"].update(pii=["emails"]), "stages.pii: must be a mapping of options"),
        (lambda c: c["executor"].update(type="kubernetes"), "executor.type: must be one of local, slurm, ray"),
        (lambda c: c["executor"].update(type="slurm"), "executor.slurm.partition: required"),
        (lambda c: c["executor"].update(type="slurm", slurm={"partition": "cpu", "time": 43200}), "executor.slurm.time: expected str"),
        (lambda c: c["executor"].update(type="ray", ray={"adress": "auto"}), "executor.ray.adress: unknown key"),
        (lambda c: c["executor"].update(slurm={"partition": "cpu"}), "executor.slurm: given, but executor.type is 'local'"),
    ],
)
def test_bad_values_name_their_key(mutate, expected):
    raw = base()
    mutate(raw)
    with pytest.raises(ConfigError) as e:
        parse_config(raw)
    assert expected in str(e.value)


def test_shipped_configs_are_valid_and_fineweb_defaults():
    for path in ("configs/sample.yaml", "configs/fineweb.yaml", "configs/slurm.yaml", "configs/ray.yaml"):
        cfg = load_config(path)
        assert list(cfg.stages)[0] == "read"
    # the cluster configs take every stage default: the same curation as fineweb.yaml, only run elsewhere
    assert load_config("configs/slurm.yaml").stages == load_config("configs/ray.yaml").stages == cfg.stages
    cfg = load_config("configs/fineweb.yaml")
    assert cfg.stages["language"] == {"languages": ["en"], "threshold": 0.65}
    assert cfg.stages["c4_quality"]["filter_no_terminal_punct"] is False
    assert (cfg.stages["minhash_dedup"]["bands"], cfg.stages["minhash_dedup"]["rows"]) == (14, 8)
    # fast.yaml curates as fineweb.yaml does and differs only in how text is extracted, and in adding URL and exact
    # dedup (FineWeb had neither)
    fast = load_config("configs/fast.yaml")
    added = ("extract", "url_dedup", "exact_dedup")
    assert {k: v for k, v in fast.stages.items() if k not in added} == {k: v for k, v in cfg.stages.items() if k not in added}
    assert "url_dedup" not in cfg.stages and "exact_dedup" not in cfg.stages and "exact_dedup" in fast.stages
    assert fast.stages["extract"]["engine"] == "resiliparse" and cfg.stages["extract"]["engine"] == "trafilatura"


def test_removed_stage_is_not_run():
    raw = base()
    raw["stages"].pop("pii")
    assert "pii" not in parse_config(raw).stages


def test_cli_reports_config_error_and_exits_2(tmp_path):
    raw = base()
    raw["stages"]["language"]["threshold"] = 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    proc = refinery("run", str(bad), "--output", str(tmp_path / "out"), check=False)
    assert proc.returncode == 2
    assert "stages.language.threshold" in proc.stderr
    assert not (tmp_path / "out").exists()


def _process_group(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[2])
    except (OSError, IndexError, ValueError):
        return None


def test_cli_reports_a_stage_error_the_same_when_the_run_would_fork_task_processes(tmp_path):
    """With two local input files and two workers the forkserver starts before the stages are read (pipeline/cli.py
    start_forkserver_early): a stage's error is still the error reported, nothing is written, no process of the run
    is left (the forkserver would otherwise go on preloading for seconds, holding the caller's pipes), and the
    stage-less first reading accepts the executor and input the full one does."""
    from conftest import article_html, write_warc

    for i in range(2):
        write_warc(str(tmp_path / f"in-{i}.warc.gz"), [{"url": f"https://example.com/{i}", "body": article_html(["x"])}])
    raw = base()
    raw["executor"] = {"workers": 2}
    raw["stages"]["language"]["threshold"] = 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    # in a process group of its own, to see what it leaves behind: the forkserver it started is stopped with it
    cmd = [sys.executable, "-m", "pipeline.cli", "run", str(bad), "--input", str(tmp_path / "in-*.warc.gz"),
           "--output", str(tmp_path / "out")]
    with open(tmp_path / "stderr", "w+") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        assert proc.wait(timeout=120) == 2
        left = [pid for pid in os.listdir("/proc") if pid.isdigit() and _process_group(pid) == proc.pid]
        err.seek(0)
        assert "stages.language.threshold" in err.read()
    assert not left, f"processes of the failed run still running: {[open(f'/proc/{p}/cmdline').read() for p in left]}"
    assert not (tmp_path / "out").exists()
    first_look = load_config(str(bad), stages=False)
    assert (first_look.executor, first_look.workers, first_look.stages) == ("local", 2, {})
    with pytest.raises(ConfigError, match="stages.language.threshold"):
        load_config(str(bad))
