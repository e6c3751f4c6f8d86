"""The hooks into datatrove's internals (stages/compat.py), each against the datatrove installed: when an upgrade
changes what a hook relies on, these fail naming the hook."""

import glob
import inspect
import json
import os

import datatrove.executor.base
import datatrove.executor.ray
import pytest
from datatrove.io import get_datafolder
from datatrove.pipeline.readers import JsonlReader
from datatrove.utils.logging import close_task_logger, logger, setup_default_logger

from stages.compat import (
    LocalExecutor,
    RayExecutor,
    TaskProgress,
    datatrove_console,
    quiet_task_logger,
    read_progress,
)
from stages.documents import DocumentWriter, read_documents


@pytest.fixture(autouse=True)
def datatrove_default_logger():
    yield
    setup_default_logger()  # the hooks under test reconfigure the process-wide loguru logger


def test_hook_run_for_rank_signature_and_globals_are_what_the_hooks_wrap():
    # TaskConsole._run_for_rank overrides datatrove's per-task entry point, and quiet_task_logger swaps the
    # add_task_logger that entry point looks up as a global of its module
    for module, cls in ((datatrove.executor.base, datatrove.executor.base.PipelineExecutor),
                        (datatrove.executor.ray, datatrove.executor.ray.RayPipelineExecutor)):
        method = cls.__dict__.get("_run_for_rank")
        assert method is not None, f"stages.compat.TaskConsole: {cls.__name__}._run_for_rank is gone from datatrove"
        assert list(inspect.signature(method).parameters) == ["self", "rank", "local_rank", "node_rank"], \
            f"stages.compat.TaskConsole: the signature of {cls.__name__}._run_for_rank changed"
        for name in ("add_task_logger", "close_task_logger"):
            assert name in method.__code__.co_names and callable(getattr(module, name, None)), \
                f"stages.compat.quiet_task_logger: {cls.__name__}._run_for_rank no longer calls {module.__name__}.{name}"


@pytest.mark.parametrize("executor_cls,module", [(LocalExecutor, datatrove.executor.base),
                                                 (RayExecutor, datatrove.executor.ray)])
def test_hook_quiet_task_logger_keeps_a_task_log_off_the_console(executor_cls, module, tmp_path, capfd):
    folder = get_datafolder(str(tmp_path))
    progress = TaskProgress(folder, 7)
    with quiet_task_logger(executor_cls, progress):
        logfile = module.add_task_logger(folder, 7)
        logger.info("probe-info")
        logger.warning("probe-warning")
        logger.error("probe-error")
        close_task_logger(logfile)
    console = capfd.readouterr()
    for probe in ("probe-info", "probe-warning", "probe-error", "Launching pipeline"):
        assert probe not in console.err + console.out, \
            f"stages.compat.quiet_task_logger: datatrove's add_task_logger no longer sends its console sink to " \
            f"sys.stderr; a task's {probe!r} reached the console"
    with open(tmp_path / "logs" / "task_00007.log") as f:
        log = f.read()
    assert "probe-info" in log and "probe-warning" in log and "probe-error" in log, \
        "stages.compat.quiet_task_logger: the task log file lost lines"
    assert progress.warnings == 2, "stages.compat.quiet_task_logger: the warning counter missed the task's warnings"
    assert module.add_task_logger.__module__ == "datatrove.utils.logging"  # put back after the task

    # without the hook, the same lines do reach the console: the check above can fail
    logfile = module.add_task_logger(folder, 8)
    logger.info("probe-unhooked")
    close_task_logger(logfile)
    assert "probe-unhooked" in capfd.readouterr().err


def _jsonl_inputs(folder, sizes):
    os.makedirs(folder)
    for i, n in enumerate(sizes):
        with open(os.path.join(folder, f"part-{i}.jsonl"), "w") as f:
            f.writelines(json.dumps({"text": f"document {j} of file {i}", "id": f"{i}-{j}"}) + "\n" for j in range(n))
    return folder


@pytest.mark.parametrize("workers", [1, 2])  # 1: in this process; 2: datatrove's forkserver pool of processes
def test_hook_task_console_counts_documents_and_keeps_tasks_quiet(workers, tmp_path, capfd):
    inputs = _jsonl_inputs(str(tmp_path / "in"), [30, 20])
    logs = str(tmp_path / "logs")
    executor = LocalExecutor(pipeline=[JsonlReader(inputs), DocumentWriter(str(tmp_path / "out"))], tasks=2,
                             workers=workers, logging_dir=logs, quiet_tasks=True)
    executor.run()
    assert executor.get_incomplete_ranks() == []
    assert len(read_documents(str(tmp_path / "out"))) == 50
    # every task's count, from the worker process that ran it
    assert {os.path.basename(p): read_progress(p) for p in glob.glob(os.path.join(logs, "progress", "*"))} == \
        {"00000": (30, 0), "00001": (20, 0)}, "stages.compat.TaskConsole: documents were not counted per task"
    # the counter is no stage: datatrove's stats (and the funnel) list the two steps only
    with open(os.path.join(logs, "stats", "00000.json")) as f:
        assert [s["name"] for s in json.load(f)] == ["📖 - READER: 🐿 Jsonl", "refinery-io: write_documents"]
    console = capfd.readouterr()
    assert "PIPELINE" not in console.err and "Processing done" not in console.err, \
        "stages.compat.TaskConsole: a quiet task's log reached the console"
    with open(os.path.join(logs, "logs", "task_00001.log")) as f:
        assert "Processing done" in f.read()
    # after tasks ran in this process, datatrove's console logger is the quiet one again
    logger.info("probe-after-info")
    logger.warning("probe-after-warning")
    assert "probe-after-info" not in capfd.readouterr().err, \
        "stages.compat.TaskConsole: close_task_logger's default console logger was left in place"


def test_hook_datatrove_console_shows_each_warning_once_then_gives_datatrove_its_logger_back(capfd):
    with datatrove_console(quiet=True):
        logger.info("probe-info")
        logger.warning("probe-warning")
        logger.warning("probe-warning")
    logger.info("probe-default")
    err = capfd.readouterr().err
    assert "probe-info" not in err, "stages.compat.datatrove_console: datatrove's info messages reach the console"
    assert err.count("probe-warning") == 1 and "refinery: warning (datatrove): probe-warning" in err
    assert "probe-default" in err, "stages.compat.datatrove_console: datatrove's default logger was not put back"
