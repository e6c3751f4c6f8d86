"""Which datatrove executor runs each phase: local processes, a Slurm cluster, or a Ray cluster.

All three run the same step lists (pipeline/build.py). Locally and on Ray the phases run one after another and
refinery checks every task completed before starting the next. On Slurm, `refinery run` submits every phase as
a job array chained to the previous one by an `afterok` dependency (curation -> dedup buckets -> dedup clusters
-> finalize -> tokenizer -> cleanup) and returns; `refinery stats DIR` shows progress, and rerunning the command
resubmits only the tasks not completed.

A phase's tasks are its units of work and of resume (curate and finalize: one per input file, pipeline/build.py);
`executor.tasks` (`jobs` here) is how many Slurm array jobs run them, each running its share of the tasks one after
another (datatrove's tasks_per_job). Locally `workers` processes run the tasks; on Ray every task is a Ray task and
`workers` of them run at once (datatrove's Ray tasks_per_job would run a job's tasks at the same time, in one
task's CPUs).
"""

import math
import os

EXECUTOR_TYPES = ("local", "slurm", "ray")

# executor.slurm.* (passed to datatrove's SlurmPipelineExecutor); one place for the defaults
SLURM_DEFAULTS = {
    "partition": None,  # required for slurm
    "time": "24:00:00",  # per task
    "cpus_per_task": 1,
    "mem_per_cpu_gb": 2,
    "qos": "normal",
    "job_name": "refinery",  # each phase's jobs are named <job_name>-<phase>
    "logs_dir": None,  # Slurm's stdout/stderr files; default DIR/logs/<phase>/slurm_logs
    "env_command": None,  # run first in every job, e.g. "source /path/to/venv/bin/activate"
    "sbatch_args": {},  # any other #SBATCH directives, e.g. {account: my-account}
    "max_array_size": 1001,  # the cluster's MaxArraySize
    "gpus_per_task": 0,  # GPUs per task (#SBATCH --gpus); e.g. for the quality_score phase only, under `phases`
    "gres": None,  # #SBATCH --gres, e.g. "gpu:1" (clusters that schedule GPUs as generic resources)
    "phases": {},  # phase -> any of the keys above, for that phase only, e.g. {quality_score: {partition: gpu, gres: "gpu:1"}}
}
# executor.ray.* (datatrove's RayPipelineExecutor; ray.init(address=...) is called first)
RAY_DEFAULTS = {
    "address": None,  # None: start or join a local Ray; "auto" or "ray://host:10001" for a cluster
    "cpus_per_task": 1,
    "mem_per_cpu_gb": 2,
    "num_gpus": 0,  # GPUs per task (Ray's num_gpus); e.g. for the quality_score phase only, under `phases`
    "phases": {},  # phase -> any of the keys above, for that phase only, e.g. {quality_score: {num_gpus: 1}}
}
OPTION_DEFAULTS = {"slurm": SLURM_DEFAULTS, "ray": RAY_DEFAULTS}


PHASE_OPTIONS = "phases"


def phase_options(options: dict, phase: str) -> dict:
    """The executor options of one phase: the executor's, with that phase's entry of `phases` over them."""
    merged = {k: v for k, v in options.items() if k != PHASE_OPTIONS}
    merged.update((options.get(PHASE_OPTIONS) or {}).get(phase) or {})
    return merged


def make_executor(kind: str, options: dict, steps: list, tasks: int, workers: int, logging_dir: str, phase: str,
                  depends=None, quiet_tasks: bool = False, randomize_start_s: int = 0, jobs: int | None = None):
    """quiet_tasks: tasks log to their log files only (local and Ray; a Slurm task's console is its Slurm log).
    options: executor.<kind>.* (its `phases` entry for this phase applied here). randomize_start_s: each task first
    sleeps a random 0..N seconds (datatrove's randomize_start_duration), so thousands of tasks do not open their
    first files on the same storage in the same second. jobs: at most this many Slurm array jobs for the phase's
    `tasks` (executor.tasks; None: one job per task)."""
    options = phase_options(options, phase) if options else options
    if kind == "local":
        # datatrove's executors, with tasks that count their progress for the display (stages/compat.py)
        from stages.compat import LocalExecutor

        return LocalExecutor(pipeline=steps, tasks=tasks, workers=max(1, min(workers, tasks)),
                             logging_dir=logging_dir, skip_completed=True, quiet_tasks=quiet_tasks,
                             randomize_start_duration=randomize_start_s)
    if kind == "ray":
        from stages.compat import RayExecutor

        return RayExecutor(pipeline=steps, tasks=tasks, workers=max(1, min(workers, tasks)),
                           logging_dir=logging_dir, skip_completed=True, quiet_tasks=quiet_tasks,
                           cpus_per_task=options["cpus_per_task"], mem_per_cpu_gb=options["mem_per_cpu_gb"],
                           gpus_per_task=options["num_gpus"], randomize_start_duration=randomize_start_s)
    if kind == "slurm":
        from stages.compat import SlurmExecutor

        sbatch_args = dict(options["sbatch_args"] or {})
        if options["gres"]:
            sbatch_args["gres"] = options["gres"]
        return SlurmExecutor(
            pipeline=steps,
            tasks=tasks,
            tasks_per_job=math.ceil(tasks / max(1, min(jobs or tasks, tasks))),
            workers=workers,  # at most this many array tasks at once
            time=options["time"],
            partition=options["partition"],
            cpus_per_task=options["cpus_per_task"],
            mem_per_cpu_gb=options["mem_per_cpu_gb"],
            qos=options["qos"],
            job_name=f"{options['job_name']}-{phase}",
            env_command=options["env_command"],
            gpus_per_task=options["gpus_per_task"],
            sbatch_args=sbatch_args,
            max_array_size=options["max_array_size"],
            depends=depends,
            logging_dir=logging_dir,
            slurm_logs_folder=os.path.join(options["logs_dir"], phase) if options["logs_dir"] else None,
            skip_completed=True,
            randomize_start_duration=randomize_start_s,
        )
    raise ValueError(f"unknown executor type {kind!r}")


def start_ray(options: dict):
    import ray

    if not ray.is_initialized():
        ray.init(address=options["address"], include_dashboard=False, log_to_driver=False)
