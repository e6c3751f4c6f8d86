"""Config validation: one clear error naming each bad key path, before any work starts."""

import pytest
import yaml

from conftest import refinery
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
    ],
)
def test_bad_values_name_their_key(mutate, expected):
    raw = base()
    mutate(raw)
    with pytest.raises(ConfigError) as e:
        parse_config(raw)
    assert expected in str(e.value)


def test_shipped_configs_are_valid_and_fineweb_defaults():
    for path in ("configs/sample.yaml", "configs/fineweb.yaml"):
        cfg = load_config(path)
        assert list(cfg.stages)[0] == "read"
    cfg = load_config("configs/fineweb.yaml")
    assert cfg.stages["language"] == {"languages": ["en"], "threshold": 0.65}
    assert cfg.stages["c4_quality"]["filter_no_terminal_punct"] is False
    assert (cfg.stages["minhash_dedup"]["bands"], cfg.stages["minhash_dedup"]["rows"]) == (14, 8)


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
