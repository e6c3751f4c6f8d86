"""Executing a run: fingerprinting the output folder, running each phase with datatrove's
LocalPipelineExecutor (tasks already completed are skipped, so a rerun resumes), and reporting the funnel."""

import json
import os
import shutil
import time
from dataclasses import asdict

from pipeline.build import RunLayout, build_phases
from pipeline.config import RunConfig
from pipeline.preflight import check_dependencies
from stages.parquet_io import write_json_atomic


class RunError(RuntimeError):
    pass


def prepare_run_dir(cfg: RunConfig, files: list[str], layout: RunLayout, overwrite: bool):
    fingerprint = cfg.fingerprint(files)
    marker = layout.path("run.json")
    if os.path.exists(marker):
        with open(marker) as f:
            previous = json.load(f).get("fingerprint")
        if previous != fingerprint:
            if not overwrite:
                raise RunError(
                    f"{layout.root} holds a run with a different config or input; "
                    f"choose another --output or pass --overwrite to delete it and start over"
                )
            clear_outputs(layout)
    elif os.path.isdir(layout.root) and outputs(layout) and not overwrite:
        raise RunError(f"{layout.root} is not empty and holds no refinery run; choose another --output or pass --overwrite")
    os.makedirs(layout.root, exist_ok=True)
    write_json_atomic(marker, {"fingerprint": fingerprint, "config": asdict(cfg), "inputs": files})


def outputs(layout: RunLayout) -> list[str]:
    """Everything in the run folder but the generated sample (which may be this run's input)."""
    keep = os.path.basename(layout.sample)
    return [os.path.join(layout.root, n) for n in os.listdir(layout.root) if n != keep]


def clear_outputs(layout: RunLayout):
    for path in outputs(layout):
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


def run_pipeline(cfg: RunConfig, files: list[str], output: str, overwrite: bool = False, log=print) -> dict:
    from pipeline.executors import make_executor, start_ray

    check_dependencies(cfg.stages)
    layout = RunLayout(output)
    prepare_run_dir(cfg, files, layout, overwrite)
    phases = build_phases(cfg, files, layout)
    if cfg.executor == "ray":
        start_ray(cfg.executor_options)
    timings, jobs, previous = {}, {}, None
    for phase in phases:
        start = time.monotonic()
        executor = make_executor(cfg.executor, cfg.executor_options, phase.steps, phase.tasks, cfg.workers,
                                 layout.logs(phase.name), phase.name, depends=previous)
        executor.run()
        if cfg.executor == "slurm":
            # submitted, to start when the phase before it succeeded: nothing to wait for here
            jobs[phase.name] = executor.job_id
            previous = executor
            continue
        incomplete = executor.get_incomplete_ranks()
        if incomplete:
            raise RunError(
                f"phase {phase.name}: tasks {incomplete} did not complete; see {layout.logs(phase.name)}/logs/ "
                f"and rerun the same command to resume"
            )
        timings[phase.name] = round(time.monotonic() - start, 2)
    return {"output": output, "phases": timings, "jobs": jobs}
