"""The one place refinery reaches into datatrove's internals. Each hook names the datatrove internal it relies on,
and tests/test_compat.py fails naming the hook when an upgrade of datatrove changes that internal.

Hooks:
  TaskConsole._run_for_rank   wraps datatrove's per-task entry point (`PipelineExecutor._run_for_rank`, also
                              defined by RayPipelineExecutor) to count the documents each task reads and the
                              warnings it logs, into logs/<phase>/progress/<task>, for `refinery run`'s display.
  quiet_task_logger           datatrove's `add_task_logger`, looked up by `_run_for_rank` as a global of the module
                              defining it, adds a console sink (sys.stderr, INFO) for every task: with it quiet, a
                              task logs only to logs/<phase>/logs/task_NNNNN.log.
  datatrove_console           the loguru logger datatrove logs to (its global `logger`), which `close_task_logger`
                              resets with `setup_default_logger` (sys.stderr, DEBUG) after every task: in a quiet
                              run the process keeps only warnings, each distinct message once.
"""

import contextlib
import sys
import time

from datatrove.executor.local import LocalPipelineExecutor
from datatrove.executor.ray import RayPipelineExecutor
from datatrove.utils.logging import logger, setup_default_logger

PROGRESS_DIR = "progress"  # beside datatrove's completions/ and stats/ in each phase's logging folder
PROGRESS_EVERY_S = 1.0


# -- counting what a task does -----------------------------------------------------------------------------------
class TaskProgress:
    """A task's counts (documents read, warnings logged), rewritten at most once a second to
    progress/<task> as "DOCUMENTS WARNINGS": the process showing the progress only reads small files, and a task
    costs one clock read per document."""

    def __init__(self, logging_dir, rank: int):
        self.folder = logging_dir  # a datatrove DataFolder
        self.name = f"{PROGRESS_DIR}/{rank:05d}"  # the name of the task's completion marker, to match the two
        self.documents = 0
        self.warnings = 0
        self._next_write = 0.0
        self._failed = False

    def count_warning(self, _message):
        self.warnings += 1

    def write(self):
        if self._failed:
            return
        self._next_write = time.monotonic() + PROGRESS_EVERY_S
        try:
            with self.folder.open(self.name, "w") as f:
                f.write(f"{self.documents} {self.warnings}")
        except OSError:
            # the display is a courtesy: a full or read-only disk must fail the task where it writes data, not here
            self._failed = True


class DocumentCounter:
    """A pipeline element, put after the phase's first step (the reader): counts the documents passing. It has no
    `stats`, so datatrove's per-task stats (and refinery's funnel) never see it."""

    def __init__(self, progress: TaskProgress):
        self.progress = progress

    def __call__(self, data, rank: int = 0, world_size: int = 1):
        progress = self.progress
        for document in data:
            progress.documents += 1
            if time.monotonic() >= progress._next_write:
                progress.write()
            yield document
        progress.write()

    def __repr__(self):
        return "(progress counter for refinery's display: not a stage)"


def read_progress(path: str) -> tuple[int, int] | None:
    """(documents, warnings) from a progress file; None while it is being rewritten (or is not there)."""
    try:
        with open(path) as f:
            documents, warnings = f.read().split()
        return int(documents), int(warnings)
    except (OSError, ValueError):
        return None


# -- datatrove's console output ----------------------------------------------------------------------------------
class _Discard:
    """Where a quiet task's console sink writes: nowhere (the task log file has every line)."""

    def write(self, message):
        return len(message)

    def flush(self):
        pass

    def isatty(self):
        return False


def _module_running_tasks(executor_cls) -> dict:
    """The globals of the datatrove module whose `_run_for_rank` the executor class inherits: the namespace in
    which that method looks up `add_task_logger`."""
    for cls in executor_cls.__mro__:
        if cls.__module__.startswith("datatrove.") and "_run_for_rank" in cls.__dict__:
            return sys.modules[cls.__module__].__dict__
    raise RuntimeError(f"stages.compat: no datatrove class defining _run_for_rank in {executor_cls.__mro__}")


@contextlib.contextmanager
def quiet_task_logger(executor_cls, progress: TaskProgress | None = None, quiet: bool = True):
    """While a task of `executor_cls` runs: datatrove's add_task_logger, with its console sink writing nowhere
    (quiet) and a sink counting the task's warnings and errors into `progress`."""
    namespace = _module_running_tasks(executor_cls)
    original = namespace["add_task_logger"]

    def add_task_logger(*args, **kwargs):
        if quiet:
            # datatrove adds its console sink as `sys.stderr` at this call: give it a stream that drops lines
            console, sys.stderr = sys.stderr, _Discard()
            try:
                logfile = original(*args, **kwargs)
            finally:
                sys.stderr = console
        else:
            logfile = original(*args, **kwargs)
        if progress is not None:
            logger.add(progress.count_warning, level="WARNING", format="{message}")  # removed with the task's sinks
        return logfile

    namespace["add_task_logger"] = add_task_logger
    try:
        yield
    finally:
        namespace["add_task_logger"] = original


class _OncePerMessage:
    """A console sink that writes each distinct message once, to the sys.stderr of the moment (a progress display
    may have put a proxy there that prints above it)."""

    def __init__(self):
        self.seen = set()

    def write(self, message):
        if message not in self.seen:
            self.seen.add(message)
            sys.stderr.write(message)
            sys.stderr.flush()


_ONCE = _OncePerMessage()  # one per process: a message repeated by every phase (Ray's executor) shows once


def quiet_process_logs():
    """This process's datatrove log: warnings and errors only, each distinct one once."""
    logger.remove()
    logger.add(_ONCE.write, level="WARNING",
               format=lambda record: f"refinery: {record['level'].name.lower()} (datatrove): {{message}}\n")


@contextlib.contextmanager
def datatrove_console(quiet: bool):
    """For the life of a run: datatrove's own messages (skipped tasks, merged stats) off the console when quiet;
    datatrove's default console logger again after."""
    if not quiet:
        yield
        return
    _ONCE.seen.clear()
    quiet_process_logs()
    try:
        yield
    finally:
        setup_default_logger()


class TaskConsole:
    """Mixed into datatrove's executors: every task counts its documents and warnings (TaskProgress), and with
    quiet_tasks logs only to its log file."""

    def __init__(self, *args, quiet_tasks: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.quiet_tasks = quiet_tasks

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        if self.is_rank_completed(rank):
            return super()._run_for_rank(rank, local_rank, node_rank)
        progress = TaskProgress(self.logging_dir, rank)
        steps = self.pipeline
        if len(steps) > 1:  # a phase of one step (dedup, tokenizer, cleanup) reads no documents to count
            self.pipeline = [steps[0], DocumentCounter(progress), *steps[1:]]
        try:
            with quiet_task_logger(type(self), progress, quiet=self.quiet_tasks):
                return super()._run_for_rank(rank, local_rank, node_rank)
        finally:
            self.pipeline = steps
            progress.write()
            if self.quiet_tasks:
                quiet_process_logs()  # close_task_logger put datatrove's DEBUG console logger back


class LocalExecutor(TaskConsole, LocalPipelineExecutor):
    pass


class RayExecutor(TaskConsole, RayPipelineExecutor):
    pass
