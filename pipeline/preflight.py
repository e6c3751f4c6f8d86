"""Fail loudly before any work when a dependency is broken.

Without this, a trafilatura that cannot import (it needs lxml_html_clean) makes datatrove's extraction
sandbox report every page as a timeout, and the run "succeeds" with nothing kept. Each configured stage checks
what it needs (its `preflight`, stages/registry.py); stages that share a check (the quality filters' word
tokenizer) run it once.
"""


class PreflightError(RuntimeError):
    pass


def check_dependencies(cfg):
    registry = cfg.registry()
    problems, done = [], set()
    for cls in registry.ordered():
        if cls.name not in cfg.stages or cls.preflight_label is None or cls.preflight_label in done:
            continue
        done.add(cls.preflight_label)
        try:
            cls.preflight(cls.Params(**cfg.stages[cls.name]))
        except Exception as e:  # noqa: BLE001 - report every broken piece at once
            problems.append(f"{cls.preflight_label}: {type(e).__name__}: {e}")
    if problems:
        raise PreflightError("broken dependencies or inputs, nothing was run:\n  " + "\n  ".join(problems))
