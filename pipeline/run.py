"""Executing a run: claiming the output folder (only an empty folder or one of refinery's own runs, locked for
the life of the command), fingerprinting it, running each phase with datatrove's executors (tasks already
completed are skipped, so a rerun resumes), and turning a failed phase into one line."""

import dataclasses
import json
import os
import shutil
import subprocess
import time
from contextlib import nullcontext
from dataclasses import asdict

from pipeline.build import CURATE, build_phases
from refinery.layout import COMPATIBLE_LAYOUTS, LAYOUT_VERSION, TASK_PER_FILE_IF_ENOUGH_TASKS, RunLayout
from pipeline.config import RunConfig, fingerprint
from refinery.lock import LOCK_NAME, FolderLock
from pipeline.forkserver import forks_task_processes
from pipeline.preflight import check_dependencies
from refinery.atomic import TEMP_NAME, DiskFull, is_disk_full, write_json_atomic


class RunError(RuntimeError):
    pass


# -- the output folder ---------------------------------------------------------------------------------------------
def read_marker(layout: RunLayout) -> dict | None:
    """The folder's run.json when refinery wrote it, else None."""
    try:
        with open(layout.marker) as f:
            marker = json.load(f)
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and {"fingerprint", "inputs"} <= marker.keys() else None


def _is_generated_sample(layout: RunLayout) -> bool:
    from pipeline.sample_data import SAMPLE_NAME

    return os.path.isdir(layout.sample) and not os.path.islink(layout.sample) and all(
        n == SAMPLE_NAME or TEMP_NAME.match(n) for n in os.listdir(layout.sample))


def check_output_folder(layout: RunLayout):
    """Refuses, with or without --overwrite, a folder that holds anything refinery did not write there."""
    root = layout.root
    if not os.path.lexists(root):
        return
    if not os.path.isdir(root):
        raise RunError(f"--output {root} exists and is not a folder")
    if read_marker(layout) is not None:
        return
    if os.path.exists(layout.marker):
        raise RunError(f"{root}/run.json is not a refinery run marker; refinery will not write into {root}: "
                       f"choose another --output")
    ours = {LOCK_NAME} | ({layout.SAMPLE} if _is_generated_sample(layout) else set())
    foreign = sorted(n for n in os.listdir(root) if n not in ours and not TEMP_NAME.match(n))
    if foreign:
        shown = ", ".join(foreign[:8]) + (f" and {len(foreign) - 8} more" if len(foreign) > 8 else "")
        raise RunError(f"{root} is not empty and holds no refinery run (it has {shown}); refinery writes only into an "
                       f"empty folder or one of its own run folders, and --overwrite never deletes what it did not "
                       f"write: choose another --output")


def claim_output_folder(layout: RunLayout) -> FolderLock:
    """Checks the folder is refinery's to write, then locks it against a second `refinery run`."""
    check_output_folder(layout)
    return FolderLock(layout.root, "refinery run").acquire()


def release_output_folder(layout: RunLayout, lock: FolderLock, created: bool):
    """Unlocks; a folder this command made and that never became a run (refused before it started) is removed,
    as long as it holds only what this command wrote there (the lock, the generated sample)."""
    if created and read_marker(layout) is None and os.path.isdir(layout.root):
        ours = {LOCK_NAME} | ({layout.SAMPLE} if _is_generated_sample(layout) else set())
        if set(os.listdir(layout.root)) <= ours:
            shutil.rmtree(layout.root, ignore_errors=True)
    lock.release()


def _local_path(value: str) -> str | None:
    if value.startswith("file://"):
        return value[len("file://"):]
    return None if "://" in value else value


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_inputs_outside_output(layout: RunLayout, values: list[str], files: list[str]):
    """The output may not equal, lie inside or contain any local input path (an input folder counts whole): a rerun
    would read its own outputs, and --overwrite would delete its inputs. The sample refinery generates under the
    run folder is refinery's own output and may be read."""
    out = os.path.realpath(layout.root)
    sample = os.path.realpath(layout.sample)
    regions = []  # (shown, path, is_folder)
    for value in values:
        local = _local_path(value)
        if local is None:
            continue
        if os.path.isdir(local):
            regions.append((value, local, True))
        elif "**" in local:  # a recursive glob reads everything under its fixed prefix
            prefix = local.split("**", 1)[0]
            regions.append((value, os.path.dirname(prefix) or ".", True))
        elif os.path.exists(local):
            regions.append((value, local, False))  # a file or a listing
    for f in files:
        local = _local_path(f)
        if local is not None:
            regions.append((f, local, False))
    for shown, path, is_folder in regions:
        for real in {os.path.realpath(path), os.path.abspath(path)}:
            if _inside(real, sample):
                continue
            if _inside(real, out) or (is_folder and _inside(out, real)):
                raise RunError(f"--output {layout.root} overlaps the input {shown}: a run never writes where it reads "
                               f"(its next run would read its own outputs, and --overwrite could delete the input); "
                               f"choose an --output outside every input path")


def recorded_identity(marker: dict, registry) -> dict:
    """What the run in a folder is. Folders written before run.json recorded it (layout 1) held the whole merged
    config: what its user set is what differs from today's defaults."""
    if "identity" in marker:
        return marker["identity"]
    config = marker.get("config") or {}
    known = {f.name for f in dataclasses.fields(RunConfig)}
    old = RunConfig(**{k: v for k, v in config.items() if k in known})
    return {"layout": 1, "settings": {**old.settings(registry), "tasks": old.tasks}, "versions": {},
            "inputs": marker.get("inputs", [])}


def _flatten(settings: dict) -> dict:
    flat = {k: v for k, v in settings.items() if k != "stages"}
    for stage, values in settings.get("stages", {}).items():
        flat[f"stages.{stage}"] = "configured"
        flat.update({f"stages.{stage}.{k}": v for k, v in values.items()})
    return flat


def _old_tasks(old: dict) -> int:
    """The number of curate tasks a run of layout 1 or 2 ran: min(executor.tasks, files), at least 1."""
    return max(1, min(old.get("settings", {}).get("tasks", RunConfig.tasks), len(old.get("inputs") or [])))


def identity_differences(old: dict, new: dict) -> list[str]:
    """Why a folder's run is not this run, in words (empty when this run continues it)."""
    layout = old.get("layout")
    if layout not in COMPATIBLE_LAYOUTS and not (
            layout in TASK_PER_FILE_IF_ENOUGH_TASKS and _old_tasks(old) == max(1, len(old.get("inputs") or []))):
        why = (f" (its {_old_tasks(old)} tasks each read a share of its {len(old.get('inputs') or [])} input files; "
               f"this refinery runs one task per input file)" if layout in TASK_PER_FILE_IF_ENOUGH_TASKS else "")
        return [f"it was written with run layout {layout}, which this refinery (layout {LAYOUT_VERSION}) "
                f"cannot continue{why}"]
    # executor.tasks was part of a run's identity before the task became the input file (layout 3)
    old = {**old, "settings": {k: v for k, v in old.get("settings", {}).items() if k != "tasks"}}
    out = []
    for stage in sorted(set(old.get("versions", {})) | set(new["versions"])):
        a, b = old.get("versions", {}).get(stage, 1), new["versions"].get(stage, 1)
        if a != b:
            out.append(f"stage {stage} changed its results in this refinery (version {a} -> {b})")
    for k in sorted(set(old.get("files", {})) | set(new.get("files", {}))):
        a, b = old.get("files", {}).get(k), new.get("files", {}).get(k)
        if a and b and a != b:
            out.append(f"{k}: the file is not the one the run was made with (sha256 {a[:12]}... -> {b[:12]}...)")
    a, b = _flatten(old.get("settings", {})), _flatten(new["settings"])
    for k in sorted(set(a) | set(b)):
        if a.get(k, "default") != b.get(k, "default"):
            if a.get(k) == "configured" or b.get(k) == "configured":
                out.append(f"{k}: {'removed' if k in a else 'added'}")
            else:
                out.append(f"{k}: {a.get(k, 'default')!r} -> {b.get(k, 'default')!r}")
    if old.get("inputs") != new["inputs"]:
        out.append(f"inputs: {len(old.get('inputs') or [])} files -> {len(new['inputs'])} files"
                   + ("" if len(old.get("inputs") or []) != len(new["inputs"]) else ", not the same ones"))
    return out


def prepare_run_dir(cfg: RunConfig, files: list[str], layout: RunLayout, overwrite: bool):
    registry = cfg.registry()
    identity = cfg.identity(files, registry)
    marker = read_marker(layout)
    if marker is not None:
        differences = identity_differences(recorded_identity(marker, registry), identity)
        if differences:
            if not overwrite:
                shown = "; ".join(differences[:6]) + ("; ..." if len(differences) > 6 else "")
                raise RunError(f"{layout.root} holds a run with a different config or input ({shown}); "
                               f"choose another --output or pass --overwrite to delete it and start over")
            clear_outputs(layout)
    sweep_temp_files(layout)
    write_json_atomic(layout.marker, {"fingerprint": fingerprint(identity), "identity": identity, "config": asdict(cfg),
                                      "inputs": files})


def clear_outputs(layout: RunLayout):
    """Removes the entries a run writes (RunLayout.OUTPUTS) and nothing else: not the generated sample (it may be
    this run's input), the lock, or anything a user put beside them."""
    for name in layout.OUTPUTS:
        path = layout.path(name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)


def sweep_temp_files(layout: RunLayout):
    """Temporary files of writers that were killed (`.NAME.tmp-PID`): the lock, and on Slurm the check that none of
    the run's jobs is alive, mean no process of this run is writing any more."""
    tops = [layout.root] + [layout.path(n) for n in layout.OUTPUTS + (layout.SAMPLE,)]
    for top in tops:
        if not os.path.isdir(top) or os.path.islink(top):
            continue
        walk = [(top, [], os.listdir(top))] if top == layout.root else os.walk(top)
        for folder, dirs, names in walk:
            for name in list(names) + list(dirs):
                if TEMP_NAME.match(name):
                    path = os.path.join(folder, name)
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path, ignore_errors=True)
                    elif os.path.lexists(path):
                        os.remove(path)


# -- Slurm jobs of the run -----------------------------------------------------------------------------------------
def live_slurm_jobs(layout: RunLayout) -> list[str] | None:
    """The run's submitted job ids that squeue still lists (queued or running); None when they cannot be checked."""
    if not os.path.exists(layout.slurm_jobs):
        return []
    with open(layout.slurm_jobs) as f:
        recorded = {str(j) for j in json.load(f).get("jobs", {}).values() if str(j) not in ("-1", "None")}
    if not recorded:
        return []
    try:
        proc = subprocess.run(["squeue", "--noheader", "--format=%A", f"--user={os.environ.get('USER', '')}"]
                              if os.environ.get("USER") else ["squeue", "--noheader", "--format=%A"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    listed = {line.strip() for line in proc.stdout.splitlines()}
    return sorted(recorded & listed, key=lambda j: (len(j), j))


def check_no_live_jobs(layout: RunLayout, executor: str, log=print):
    live = live_slurm_jobs(layout)
    if live is None:
        message = (f"{layout.root} was submitted to Slurm ({layout.slurm_jobs}) and squeue cannot tell whether its "
                   f"jobs still run")
        if executor == "slurm":
            raise RunError(message + "; check with squeue and rerun when they have ended")
        log(f"refinery: warning: {message}")
    elif live:
        raise RunError(f"{layout.root} has Slurm jobs still queued or running ({', '.join(live)}): a second submission "
                       f"would run the same tasks twice; wait for them (squeue) or cancel them (scancel) and rerun")


def record_slurm_job(layout: RunLayout, phase: str, job_id):
    jobs = {}
    if os.path.exists(layout.slurm_jobs):
        with open(layout.slurm_jobs) as f:
            jobs = json.load(f).get("jobs", {})
    jobs[phase] = job_id
    write_json_atomic(layout.slurm_jobs, {"jobs": jobs})


# -- running ---------------------------------------------------------------------------------------------------------
def phase_failure(phase: str, layout: RunLayout, e: BaseException) -> RunError:
    """One line for a task that raised: a full disk names the file; anything else points to the task logs (the
    exception's text is not repeated: it can quote a page)."""
    if isinstance(e, DiskFull):
        return RunError(str(e))
    if is_disk_full(e):
        what = f" {e.filename}" if getattr(e, "filename", None) else " its task logs and stats"
        return RunError(f"disk full: phase {phase} could not write{what} in {layout.root}; free space and rerun the "
                        f"same command to resume")
    return RunError(f"phase {phase}: a task failed ({type(e).__name__}); its traceback is in "
                    f"{layout.logs(phase)}/logs/; rerun the same command to resume")


def run_pipeline(cfg: RunConfig, files: list[str], output: str, overwrite: bool = False, log=print,
                 input_errors: list[dict] = (), console=None) -> dict:
    """Runs (or resumes) a run in `output`, which the caller has claimed (claim_output_folder). input_errors: inputs
    refused before the run (listing entries out of the base), listed in errors/listing.json. console: a
    pipeline.console.RunConsole showing each local or Ray phase's progress (None: datatrove's own console logs)."""
    from pipeline.executors import make_executor, start_ray
    from stages.compat import datatrove_console

    # with task processes the checks run in one forked like them (else this process runs the tasks and imports
    # everything anyway)
    check_dependencies(cfg, in_task_process=forks_task_processes(cfg.executor, cfg.workers, len(files)))
    layout = RunLayout(output)
    check_no_live_jobs(layout, cfg.executor, log)
    try:  # before anything is written: a stage may refuse what it was given (an `against:` run that cannot be used)
        phases = build_phases(cfg, files, layout)
    except ValueError as e:
        raise RunError(str(e)) from None
    unknown = sorted(set((cfg.executor_options or {}).get("phases") or {}) - {p.name for p in phases})
    if unknown:
        raise RunError(f"executor.{cfg.executor}.phases: {', '.join(unknown)}: no such phase in this run (its phases: "
                       f"{', '.join(p.name for p in phases)})")
    prepare_run_dir(cfg, files, layout, overwrite)
    if input_errors:
        write_json_atomic(layout.listing_errors, list(input_errors))
    elif os.path.exists(layout.listing_errors):
        os.remove(layout.listing_errors)
    if cfg.executor == "ray":
        start_ray(cfg.executor_options)
    # Slurm tasks run elsewhere, and its submission lines stay as datatrove prints them
    watched = console is not None and cfg.executor != "slurm"
    quiet = watched and console.quiet
    timings, jobs, previous = {}, {}, None
    with datatrove_console(quiet):
        for phase in phases:
            start = time.monotonic()
            # only the tasks that open the input files are spread out in time
            executor = make_executor(cfg.executor, cfg.executor_options, phase.steps, phase.tasks, cfg.workers,
                                     layout.logs(phase.name), phase.name, depends=previous, quiet_tasks=quiet,
                                     randomize_start_s=cfg.randomize_start_s if phase.name == CURATE else 0,
                                     jobs=cfg.tasks)
            shown = console.phase(phase.name, layout.logs(phase.name), phase.tasks) if watched else nullcontext()
            try:
                with shown:
                    executor.run()
            except Exception as e:  # noqa: BLE001 - a task's failure ends the run with one line, not a traceback
                if cfg.executor == "local":
                    sweep_temp_files(layout)  # the pool is gone: no writer of this run is left
                raise phase_failure(phase.name, layout, e) from e
            if cfg.executor == "slurm":
                # submitted, to start when the phase before it succeeded: nothing to wait for here
                jobs[phase.name] = executor.job_id
                record_slurm_job(layout, phase.name, executor.job_id)
                previous = executor
                continue
            incomplete = executor.get_incomplete_ranks()
            if incomplete:
                raise RunError(
                    f"phase {phase.name}: tasks {incomplete} did not complete; see {layout.logs(phase.name)}/logs/ "
                    f"and rerun the same command to resume"
                )
            timings[phase.name] = round(time.monotonic() - start, 2)
    failed = None if cfg.executor == "slurm" else failed_inputs_message(cfg, layout, files)
    return {"output": output, "phases": timings, "jobs": jobs, "failed_inputs": failed}


def failed_input_files(layout: RunLayout) -> set[str]:
    """The input files the read stage listed in errors/ as failed (pipeline.stats.failed_files); an unreadable
    errors/ file is skipped."""
    from pipeline.stats import failed_files

    failed = set()
    for path in layout.error_files():
        try:
            with open(path) as f:
                failed |= failed_files(json.load(f))
        except (OSError, ValueError):
            continue
    return failed


def failed_inputs_message(cfg: RunConfig, layout: RunLayout, files: list[str]) -> str | None:
    """One line when more than input.max_failed_fraction of the input files failed (checked once every phase has
    written what it could), else None."""
    if not files:
        return None
    failed = len(failed_input_files(layout) & set(files))
    if failed / len(files) <= cfg.max_failed_fraction:
        return None
    return (f"{failed} of {len(files)} input files failed ({100 * failed / len(files):.1f}%, more than "
            f"input.max_failed_fraction {cfg.max_failed_fraction:g}); they are listed in {layout.errors}/ "
            f"(`refinery stats {layout.root}` shows them); everything else was written")
