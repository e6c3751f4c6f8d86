"""The forkserver that a local run's task processes fork from (datatrove's LocalPipelineExecutor starts its workers
with the "forkserver" method): one per run, started with pipeline.worker_preload imported, so every task process of
every phase starts with the libraries imported and warmed instead of importing them again."""

import os

WORKER_PRELOAD = "pipeline.worker_preload"


def forks_task_processes(executor: str, workers: int, files: int) -> bool:
    """Whether a run forks task processes: local, several workers, and several input files (one file is one curate
    task, which datatrove runs in the run's own process, as it does every phase of one task)."""
    return executor == "local" and workers > 1 and files > 1


def forkserver_context():
    """multiprocess's forkserver context, its preload set (no effect once the forkserver runs)."""
    import multiprocess

    ctx = multiprocess.get_context("forkserver")
    ctx.set_forkserver_preload([WORKER_PRELOAD])
    return ctx


def start_forkserver():
    """Starts the forkserver now, without waiting for it: its preload (2-3 s of imports) then runs while this
    process imports and builds what it needs itself, instead of after (a run's wall time, not its CPU time)."""
    from multiprocess import forkserver

    forkserver_context()
    forkserver.ensure_running()


def stop_forkserver():
    """Stops this process's forkserver now, preload or not (a run that ends before its first task, e.g. on an invalid
    config, would otherwise leave it importing for seconds, holding the pipes of whoever reads this process's
    output)."""
    import signal

    from multiprocess import forkserver, resource_tracker

    server = forkserver._forkserver
    if server._forkserver_pid is not None:
        try:
            os.kill(server._forkserver_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server._stop()  # closes its pipes, reaps it and forgets it
        resource_tracker._resource_tracker._stop()  # started with it; tracks nothing yet, exits when told
