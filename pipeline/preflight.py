"""Fail loudly before any work when a dependency is broken.

Without this, a trafilatura that cannot import (it needs lxml_html_clean) makes datatrove's extraction
sandbox report every page as a timeout, and the run "succeeds" with nothing kept. Each configured stage checks
what it needs (its `preflight`, stages/registry.py), each with its own keys; stages that share a check (the quality
filters' word tokenizer) name its failure once.
"""

import sys


class PreflightError(RuntimeError):
    pass


def check_dependencies(cfg, in_task_process: bool = False):
    """Raises PreflightError naming every configured stage whose check fails. in_task_process: the checks run in a
    process forked from the local executor's forkserver (stages/compat.py run_in_task_process), where the libraries
    are imported and warmed once for all the run's tasks anyway: the run's own process then never imports spaCy,
    datasketch, ... for the checks alone (~2 s of CPU). What that process raises is raised here."""
    if in_task_process:
        from stages.compat import run_in_task_process

        try:
            return run_in_task_process(check_dependencies, cfg)
        except PreflightError:
            raise
        except Exception as e:  # noqa: BLE001 - no such process could run them (its forkserver died, ...): here, then
            print(f"refinery: the dependency checks run in this process ({type(e).__name__}: {e})", file=sys.stderr)
    registry = cfg.registry()
    problems = []
    for cls in registry.ordered():
        if cls.name not in cfg.stages or cls.preflight_label is None:
            continue
        try:  # every configured stage with its own keys (what they share, e.g. the word tokenizer, is cached)
            cls.preflight(cls.Params(**cfg.stages[cls.name]))
        except Exception as e:  # noqa: BLE001 - report every broken piece at once
            problem = f"{cls.preflight_label}: {type(e).__name__}: {e}"
            if problem not in problems:  # stages sharing a check name its failure once
                problems.append(problem)
    if problems:
        raise PreflightError("broken dependencies or inputs, nothing was run:\n  " + "\n  ".join(problems))
