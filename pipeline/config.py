"""Run configuration: YAML loading and validation (every error names its key path, all at once, before any work).

A stage's keys, their types, ranges and defaults (FineWeb's) are declared once, by the stage (its Params, see
stages/registry.py); this module only checks a config against them. What a run is, for resuming it, is what the
user set (`settings()`: the values that differ from the defaults) plus its resolved inputs and the run layout
version, so an upgrade that adds a key with a default leaves existing run folders resumable.
"""

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields

import yaml

from refinery.layout import LAYOUT_VERSION
from stages.remote_io import RetryPolicy


class ConfigError(ValueError):
    pass


DEFAULT_BASE_URL = "https://data.commoncrawl.org/"


@dataclass
class RunConfig:
    inputs: list[str] = field(default_factory=list)  # files, globs, fsspec URLs, warc.paths(.gz) listings
    base_url: str = DEFAULT_BASE_URL  # what relative entries of a listing resolve against
    dump: str | None = None  # dump name for metadata; None: from warcinfo isPartOf or the file name
    # input.retries, input.timeout_s, input.backoff_s: reading over the network (stages/remote_io.py holds the
    # defaults); input.max_failed_fraction: the share of input files that may fail before the run ends non-zero
    input_retries: int = RetryPolicy.retries
    input_timeout_s: float = RetryPolicy.timeout_s
    input_backoff_s: float = RetryPolicy.backoff_s
    max_failed_fraction: float = 0.01
    tasks: int = 2
    workers: int = 2
    executor: str = "local"  # local | slurm | ray (pipeline/executors.py)
    executor_options: dict = field(default_factory=dict)  # executor.slurm.* or executor.ray.*, defaults filled in
    randomize_start_s: int = 0  # executor.randomize_start_s: each curate task waits up to this long before it starts
    removed_text_chars: int | None = 10000
    inspect_rate: float = 0.05  # share of documents (by id hash) whose metrics and text head go to inspect/
    inspect_text_chars: int = 500
    keep_work: bool = False  # keep work/filtered/ (whole unscrubbed texts) after the run, not only the signatures
    raw_text: bool = False  # removed/ and inspect/ keep text as it was, PII included, not scrubbed by stages.pii
    stages: dict[str, dict] = field(default_factory=dict)  # stage name -> params, in pipeline order

    plugins: list[str] = field(default_factory=list)  # "package.module:Class" stage classes beyond the built-in ones

    # Where a run executes, how fast (tasks, workers: a task is an input file whatever their number), and what it
    # keeps beside its outputs may change between a run and its resume;
    # the inputs are identified by the resolved files, and the stages key by key below.
    # `plugins` says where a stage's code lives; the stages configured and their settings are what counts.
    # How patiently the input is read (and how many failures are tolerated) does not change what is made of it.
    NOT_IDENTITY = ("tasks", "workers", "executor", "executor_options", "keep_work", "raw_text", "inputs", "base_url",
                    "stages", "plugins", "input_retries", "input_timeout_s", "input_backoff_s", "max_failed_fraction",
                    "randomize_start_s")

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(retries=self.input_retries, timeout_s=self.input_timeout_s, backoff_s=self.input_backoff_s)

    def registry(self):
        from stages.registry import registry_for

        return registry_for(self.plugins)

    def settings(self, registry=None) -> dict:
        """What the user set: each top-level value that is not its default, and for every configured stage the keys
        whose values differ from the stage's defaults (a stage configured with all defaults is {})."""
        registry = registry or self.registry()
        defaults = RunConfig()
        out = {f.name: getattr(self, f.name) for f in fields(self)
               if f.name not in self.NOT_IDENTITY and getattr(self, f.name) != getattr(defaults, f.name)}
        stages = {}
        for name, values in self.stages.items():
            base = asdict(registry.get(name).Params()) if name in registry else {}
            stages[name] = {k: v for k, v in values.items() if k not in base or v != base[k]}
        out["stages"] = stages
        return out

    def identity(self, resolved_inputs: list[str], registry=None) -> dict:
        """What must match for a rerun to continue in the same output folder (recorded in run.json)."""
        registry = registry or self.registry()
        versions = {n: registry.get(n).version for n in self.stages if n in registry and registry.get(n).version != 1}
        identity = {"layout": LAYOUT_VERSION, "settings": self.settings(registry), "versions": versions,
                    "inputs": list(resolved_inputs)}
        files = self.user_files(registry)
        if files:
            identity["files"] = files
        return identity

    def user_files(self, registry) -> dict:
        """The sha256 of each file or folder a stage reads that only the user supplies (a classifier's model, its key
        named by the stage's `needs_user_file`; a folder: its files' relative names and contents): the same path
        holding another model is another run."""
        out = {}
        for name, values in self.stages.items():
            key = getattr(registry.get(name), "needs_user_file", None) if name in registry else None
            path = values.get(key) if key else None
            if path and (os.path.isfile(path) or os.path.isdir(path)):
                out[f"stages.{name}.{key}"] = path_sha256(path)
        return out


def path_sha256(path: str) -> str:
    """A file's sha256; for a folder, of every file under it (sorted relative paths, each name then its bytes)."""
    digest = hashlib.sha256()
    if os.path.isfile(path):
        files = [(None, path)]
    else:
        files = sorted((os.path.relpath(os.path.join(d, n), path), os.path.join(d, n))
                       for d, _, names in os.walk(path) for n in names)
    for rel, full in files:
        if rel is not None:
            digest.update(rel.encode() + b"\0")
        with open(full, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def fingerprint(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


TOP_KEYS = {"input", "executor", "output", "stages", "plugins"}
SECTION_KEYS = {
    "input": {"paths", "base_url", "dump", "retries", "timeout_s", "backoff_s", "max_failed_fraction"},
    "executor": {"type", "tasks", "workers", "randomize_start_s", "slurm", "ray"},
    "output": {"removed_text_chars", "inspect_rate", "inspect_text_chars", "keep_work", "raw_text"},
}


def _type_ok(value, default) -> bool:
    """For executor options, whose defaults say their type."""
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, type(default))


def validate_stage(cls, params, errors: list[str]) -> dict:
    """A stage's config values checked against its declared keys; returns them merged over the defaults."""
    from stages.registry import key_specs

    path = f"stages.{cls.name}"
    if params is None:
        params = {}
    if not isinstance(params, dict):
        errors.append(f"{path}: must be a mapping of options (or empty), got {type(params).__name__}")
        return {}
    specs = {k.name: k for k in key_specs(cls.Params)}
    merged = asdict(cls.Params())
    ok = True
    for name, value in params.items():
        if name not in specs:
            errors.append(f"{path}.{name}: unknown key (allowed: {', '.join(sorted(specs))})")
            ok = False
            continue
        problems = specs[name].problems(value, f"{path}.{name}")
        errors.extend(problems)
        if problems:
            ok = False
        else:
            merged[name] = value
    if ok and hasattr(cls.Params, "problems"):
        for problem in cls.Params(**merged).problems():
            errors.append(f"{path}.{problem[0]}: {problem[1]}" if isinstance(problem, tuple) else f"{path}: {problem}")
    return merged


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _set_checked(cfg: RunConfig, errors: list[str], section: str, values: dict, key: str, attr: str, valid, must: str,
                 convert=lambda v: v):
    """Sets cfg.<attr> from values[key] when the key is given and `valid(value)`, else names the problem."""
    if key not in values:
        return
    v = values[key]
    if valid(v):
        setattr(cfg, attr, convert(v))
    else:
        errors.append(f"{section}.{key}: {must}, got {v!r}")


def _parse_input_io(inp: dict, cfg: RunConfig, errors: list[str]):
    """input.retries, input.timeout_s, input.backoff_s, input.max_failed_fraction."""
    _set_checked(cfg, errors, "input", inp, "retries", "input_retries", lambda v: _whole(v) and v >= 0,
                 "must be a non-negative integer")
    _set_checked(cfg, errors, "input", inp, "timeout_s", "input_timeout_s", lambda v: _number(v) and v > 0,
                 "must be a positive number of seconds", float)
    _set_checked(cfg, errors, "input", inp, "backoff_s", "input_backoff_s", lambda v: _number(v) and v >= 0,
                 "must be a number of seconds >= 0", float)
    _set_checked(cfg, errors, "input", inp, "max_failed_fraction", "max_failed_fraction",
                 lambda v: _number(v) and 0 <= v <= 1, "must be between 0 and 1", float)


def _parse_executor(ex: dict, cfg: RunConfig, errors: list[str]):
    from pipeline.executors import EXECUTOR_TYPES, OPTION_DEFAULTS

    kind = ex.get("type", "local")
    if kind not in EXECUTOR_TYPES:
        errors.append(f"executor.type: must be one of {', '.join(EXECUTOR_TYPES)}, got {kind!r}")
        return
    cfg.executor = kind
    for other in OPTION_DEFAULTS:
        if other != kind and ex.get(other):
            errors.append(f"executor.{other}: given, but executor.type is {kind!r}")
    if kind not in OPTION_DEFAULTS:
        return
    options = dict(OPTION_DEFAULTS[kind])
    given = ex.get(kind) or {}
    if not isinstance(given, dict):
        errors.append(f"executor.{kind}: must be a mapping")
        given = {}
    def check(values: dict, path: str, allowed: dict) -> dict:
        ok = {}
        for key, value in values.items():
            if key not in allowed:
                errors.append(f"{path}.{key}: unknown key (allowed: {', '.join(sorted(allowed))})")
            elif value is not None and not _type_ok(value, allowed[key]):
                errors.append(f"{path}.{key}: expected {type(allowed[key]).__name__}, got {type(value).__name__} "
                              f"({value!r})")
            else:
                ok[key] = value
        return ok

    options.update(check(given, f"executor.{kind}", options))
    # per-phase options: the same keys (but `phases`), for one phase; the phase names are checked against the run's
    # phases when it is built (pipeline/run.py)
    per_phase = {k: v for k, v in OPTION_DEFAULTS[kind].items() if k != "phases"}
    phases = {}
    for phase, values in (options.get("phases") or {}).items():
        if not isinstance(values, dict):
            errors.append(f"executor.{kind}.phases.{phase}: must be a mapping of executor.{kind} keys")
            continue
        phases[str(phase)] = check(values, f"executor.{kind}.phases.{phase}", per_phase)
    options["phases"] = phases
    if kind == "slurm" and not options["partition"]:
        errors.append("executor.slurm.partition: required with executor.type slurm")
    cfg.executor_options = options


def parse_config(raw, source: str = "config", stages: bool = True) -> RunConfig:
    """stages=False: everything but `stages` and `plugins` (which import every stage's module), for a first look at
    a run's input and executor (pipeline/cli.py starts the forkserver on it)."""
    errors: list[str] = []
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    for key in raw:
        if key not in TOP_KEYS:
            errors.append(f"{key}: unknown key (allowed: {', '.join(sorted(TOP_KEYS))})")
    sections = {}
    for section, allowed in SECTION_KEYS.items():
        value = raw.get(section) or {}
        if not isinstance(value, dict):
            errors.append(f"{section}: must be a mapping")
            value = {}
        for key in value:
            if key not in allowed:
                errors.append(f"{section}.{key}: unknown key (allowed: {', '.join(sorted(allowed))})")
        sections[section] = value
    cfg = RunConfig()
    inp, ex, out = sections["input"], sections["executor"], sections["output"]
    paths = inp.get("paths", [])
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        errors.append("input.paths: must be a list of paths or URLs")
    else:
        cfg.inputs = paths
    for key, attr in (("base_url", "base_url"), ("dump", "dump")):
        if key in inp and inp[key] is not None and not isinstance(inp[key], str):
            errors.append(f"input.{key}: expected a string, got {type(inp[key]).__name__}")
        elif key in inp:
            setattr(cfg, attr, inp[key])
    _parse_input_io(inp, cfg, errors)
    _parse_executor(ex, cfg, errors)
    _set_checked(cfg, errors, "executor", ex, "randomize_start_s", "randomize_start_s", lambda v: _whole(v) and v >= 0,
                 "must be a whole number of seconds >= 0")
    for key in ("tasks", "workers"):
        _set_checked(cfg, errors, "executor", ex, key, key, lambda v: _whole(v) and v >= 1, "must be a positive integer")
    _set_checked(cfg, errors, "output", out, "removed_text_chars", "removed_text_chars",
                 lambda v: v is None or (_whole(v) and v >= 0), "must be a non-negative integer or null")
    _set_checked(cfg, errors, "output", out, "inspect_rate", "inspect_rate", lambda v: _number(v) and 0 <= v <= 1,
                 "must be between 0 and 1", float)
    _set_checked(cfg, errors, "output", out, "inspect_text_chars", "inspect_text_chars",
                 lambda v: _whole(v) and v >= 0, "must be a non-negative integer")
    for key in ("keep_work", "raw_text"):
        if key in out:
            if not isinstance(out[key], bool):
                errors.append(f"output.{key}: must be true or false, got {out[key]!r}")
            else:
                setattr(cfg, key, out[key])

    if not stages:
        if errors:
            raise ConfigError(f"invalid {source}:\n  " + "\n  ".join(errors))
        return cfg
    stages = raw.get("stages")
    if stages is None:
        errors.append("stages: required (a mapping of stage name to options; see configs/fineweb.yaml)")
        stages = {}
    elif not isinstance(stages, dict):
        errors.append("stages: must be a mapping of stage name to options")
        stages = {}
    registry = _parse_plugins(raw.get("plugins"), cfg, errors)
    for cls in registry.ordered():
        if cls.required and cls.name not in stages:
            errors.append(f"stages.{cls.name}: required ({cls.required})")
    for name in stages:
        if name not in registry:
            errors.append(f"stages.{name}: unknown stage (allowed: {', '.join(c.name for c in registry.ordered())})")
    for cls in registry.ordered():
        if cls.name in stages:
            for needed in cls.requires:
                if needed not in stages:
                    errors.append(f"stages.{cls.name}: needs stages.{needed}")
            cfg.stages[cls.name] = validate_stage(cls, stages[cls.name], errors)
    if errors:
        raise ConfigError(f"invalid {source}:\n  " + "\n  ".join(errors))
    return cfg


def _parse_plugins(value, cfg: RunConfig, errors: list[str]):
    """`plugins: ["package.module:Class"]`: the user's own stage classes, registered beside the built-in ones."""
    from stages.registry import RegistryError, builtin, registry_for

    if value is None:
        return builtin()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append("plugins: must be a list of 'package.module:Class' strings")
        return builtin()
    try:
        registry = registry_for(value)
    except RegistryError as e:
        errors.append(f"plugins: {e}")
        return builtin()
    cfg.plugins = list(value)
    return registry


def load_config(path: str, stages: bool = True) -> RunConfig:
    try:
        with open(path) as f:
            raw = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    return parse_config(raw, source=path, stages=stages)
