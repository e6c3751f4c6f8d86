"""The forkserver that a local run's task processes fork from (datatrove's LocalPipelineExecutor starts its workers
with the "forkserver" method): one per run, started with pipeline.worker_preload imported, so every task process of
every phase starts with the libraries imported and warmed instead of importing them again."""

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
