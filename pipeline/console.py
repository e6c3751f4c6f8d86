"""What `refinery run` shows while its phases run.

On a terminal: one progress row per phase (tasks done/total, documents read and documents/s, elapsed, ETA),
redrawn in place. Otherwise (a pipe, a log file, CI) the console gets no running output: one line naming each
phase's time once they all finished, so a run's output stays the funnel plus a few lines. With --verbose,
datatrove's task logs reach the console as well, and each phase gets one line as it ends.

Progress comes from files, so it works alike for the local executor's worker processes and Ray's: a task is done
when datatrove wrote its completion marker (logs/<phase>/completions/<task>), and each task rewrites its counts at
most once a second into logs/<phase>/progress/<task> (stages/compat.py). On a terminal, polling reads the two
folder listings and the progress files of unfinished tasks twice a second; otherwise they are read once a phase ends.
"""

import contextlib
import datetime
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass

from stages.compat import PROGRESS_DIR, read_progress

POLL_S = 0.5


@dataclass
class PhaseState:
    name: str
    total: int
    done: int  # tasks complete, earlier calls included
    done_before: int  # tasks already complete when this call started
    documents: int  # documents read by this call's tasks
    warnings: int  # warnings and errors this call's tasks logged
    elapsed: float
    logs: str  # the phase's task logs
    failed: bool = False

    @property
    def rate(self) -> float:
        return self.documents / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        ran = self.done - self.done_before
        if ran <= 0 or self.done >= self.total:
            return None
        return self.elapsed / ran * (self.total - self.done)


class PhaseWatch:
    """The main process's view of a phase that runs now."""

    def __init__(self, name: str, logging_dir: str, tasks: int):
        self.name, self.total = name, tasks
        self.logs = os.path.join(logging_dir, "logs")
        self.completions = os.path.join(logging_dir, "completions")
        self.progress = os.path.join(logging_dir, PROGRESS_DIR)
        # counts left by an earlier call (finished, or killed mid-task) are not this call's documents
        shutil.rmtree(self.progress, ignore_errors=True)
        self.done_before = len(self._listing(self.completions))
        self.started = time.monotonic()
        self._counts: dict[str, tuple[int, int]] = {}
        self._final: set[str] = set()
        self._seen_complete: set[str] = set()

    @staticmethod
    def _listing(folder) -> set[str]:
        try:
            return set(os.listdir(folder))
        except FileNotFoundError:
            return set()

    def poll(self) -> PhaseState:
        complete = self._listing(self.completions)
        for name in self._listing(self.progress) - self._final:
            counts = read_progress(os.path.join(self.progress, name))
            if counts is not None:
                self._counts[name] = counts
            # a task rewrites its counts once more just after its completion marker: read them one poll later
            if name in self._seen_complete and counts is not None:
                self._final.add(name)
        self._seen_complete = complete
        return PhaseState(self.name, self.total, min(len(complete), self.total), self.done_before,
                          sum(c[0] for c in self._counts.values()), sum(c[1] for c in self._counts.values()),
                          time.monotonic() - self.started, self.logs)

    def final(self, failed: bool) -> PhaseState:
        self._final, self._seen_complete = set(), set()  # the tasks have stopped: read every file once more
        state = self.poll()
        state.failed = failed
        return state


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, s = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{s:02d}s"
    hours, m = divmod(minutes, 60)
    return f"{hours}h{m:02d}m"


def describe(state: PhaseState) -> str:
    """One phase in a few words, for the line after a run (or after each phase with --verbose)."""
    if state.done_before >= state.total:
        return f"{state.name} completed earlier"
    parts = []
    if state.documents:
        parts.append(f"{state.documents:,} documents, {state.rate:,.0f}/s")
    if state.done_before:
        parts.append(f"{state.done_before} of {state.total} tasks completed earlier")
    if state.warnings:
        parts.append(f"{state.warnings} warnings/errors logged")
    text = f"{state.name} {'failed after ' if state.failed else ''}{duration(state.elapsed)}"
    return text + (f" ({', '.join(parts)})" if parts else "")


class RunConsole:
    """The progress of one `refinery run`: `with console.phase(...)` around each phase, `close` at the end."""

    def __init__(self, verbose: bool = False, out=None):
        self.out = out or sys.stdout
        self.verbose = verbose
        self.live = not verbose and self.out.isatty() and os.environ.get("TERM") != "dumb"
        self.states: list[PhaseState] = []
        self._progress = None

    @property
    def quiet(self) -> bool:
        """Whether datatrove's logs stay off the console (in the task log files only)."""
        return not self.verbose

    def _rows(self):
        if self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description:<14}"), BarColumn(bar_width=12), MofNCompleteColumn(),
                TextColumn("tasks"), TextColumn("{task.fields[documents]}"), TimeElapsedColumn(),
                TextColumn("{task.fields[eta]}"), console=Console(file=self.out), refresh_per_second=4,
                # a warning printed meanwhile goes above the rows, unless stderr is not the terminal drawn on
                redirect_stderr=sys.stderr.isatty())
            self._progress.start()
        return self._progress

    def _show(self, row, state: PhaseState):
        if state.done_before >= state.total:
            documents, eta = "completed earlier", ""
        else:
            documents = f"{state.documents:>9,} docs {state.rate:>6,.0f}/s" if state.documents else ""
            eta = f"ETA {datetime.timedelta(seconds=round(state.eta))}" if state.eta is not None else ""  # as elapsed
            if state.warnings:
                eta += f" {state.warnings} warnings/errors logged"
        self._progress.update(row, completed=state.done, documents=documents, eta=eta)

    @contextlib.contextmanager
    def phase(self, name: str, logging_dir: str, tasks: int):
        watch = PhaseWatch(name, logging_dir, tasks)
        row, stop, poller = None, threading.Event(), None
        if self.live:
            row = self._rows().add_task(name, total=tasks, documents="", eta="")
            self._show(row, watch.poll())

            def poll():
                while not stop.wait(POLL_S):
                    self._show(row, watch.poll())

            poller = threading.Thread(target=poll, name=f"progress-{name}", daemon=True)
            poller.start()
        failed = True
        try:
            yield
            failed = False
        finally:
            if poller is not None:
                stop.set()
                poller.join()
            state = watch.final(failed)
            self.states.append(state)
            if row is not None:
                self._show(row, state)
                self._progress.stop_task(row)
            if self.verbose:
                print(f"refinery: phase {describe(state)}", file=self.out, flush=True)

    def close(self, ok: bool):
        """Ends the display; after a run that finished, the one line of phase times (when nothing was drawn) and
        one line pointing to the task logs that hold warnings."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if not ok or not self.states:
            return
        if not self.live and not self.verbose:
            if all(s.done_before >= s.total for s in self.states):
                print(f"phases: all {len(self.states)} completed earlier, nothing to run", file=self.out, flush=True)
            else:
                print("phases: " + "; ".join(describe(s) for s in self.states), file=self.out, flush=True)
        warned = [s for s in self.states if s.warnings]
        if warned:
            print(f"refinery: warning: tasks logged {sum(s.warnings for s in warned)} warnings or errors: see "
                  + ", ".join(f"{s.logs}/ ({s.warnings})" for s in warned), file=sys.stderr, flush=True)
