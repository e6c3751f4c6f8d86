"""Run configuration: defaults, YAML loading and validation (every error names its key path, before any work).

The defaults are FineWeb's. The allowed keys of a stage and their defaults are read from the signature of the
code that applies them (the datatrove filter a stage wraps, or refinery's own stage class), so they cannot
drift; only where FineWeb departs from datatrove's defaults is a value set here.
"""

import hashlib
import inspect
import json
from dataclasses import asdict, dataclass, field

import yaml

from stages.reasons import OUTPUT_STEPS, STAGE_ORDER


class ConfigError(ValueError):
    pass


# constructor arguments that are wiring (paths, outputs, the filters' writers), not settings
WIRING = ("self", "exclusion_writer", "language", "output", "files", "dump", "errors_dir", "model_path", "work_dir",
          "docs_folder", "tokenizer_path", "out_dir", "batch_size")


def _signature_defaults(fn) -> dict:
    params = inspect.signature(fn.__init__ if isinstance(fn, type) else fn).parameters
    out = {}
    for name, p in params.items():
        if name in WIRING or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        default = p.default
        if isinstance(default, tuple):  # YAML has lists, not tuples
            default = [list(x) if isinstance(x, tuple) else x for x in default]
        out[name] = default
    return out


def stage_defaults() -> dict[str, dict]:
    from datatrove.pipeline.filters.c4_filters import C4QualityFilter
    from datatrove.pipeline.filters.fineweb_quality_filter import FineWebQualityFilter
    from datatrove.pipeline.filters.gopher_quality_filter import GopherQualityFilter
    from datatrove.pipeline.filters.gopher_repetition_filter import GopherRepetitionFilter
    from datatrove.pipeline.filters.url_filter import URLFilter

    from stages.language import LanguageStage
    from stages.minhash_dedup import MinhashConfig
    from stages.pii import PIIStage
    from stages.read import WarcReadStage
    from stages.token_shards import write_token_shards

    url = _signature_defaults(URLFilter)
    for key in ("extra_domains", "extra_urls", "banned_words", "banned_subwords", "soft_banned_words"):
        url[key] = []
    fineweb = _signature_defaults(FineWebQualityFilter)
    fineweb["stop_chars"] = None  # None: datatrove's terminal punctuation set
    gopher_quality = _signature_defaults(GopherQualityFilter)
    gopher_quality["stop_words"] = None  # None: Gopher's eight English stop words
    return {
        "read": _signature_defaults(WarcReadStage),
        "url_filter": url,
        "extract": {"favour_precision": True, "timeout": 1.0, "deduplicate": True},
        "language": _signature_defaults(LanguageStage),
        "gopher_repetition": _signature_defaults(GopherRepetitionFilter),
        "gopher_quality": gopher_quality,
        # FineWeb: C4's rules without the terminal punctuation one (FineWebQualityFilter has its own)
        "c4_quality": {**_signature_defaults(C4QualityFilter), "filter_no_terminal_punct": False},
        "fineweb_quality": fineweb,
        "minhash_dedup": _signature_defaults(MinhashConfig),
        "tokenizer": {"vocab_size": 32768, "sample_chars": 200_000_000, "min_frequency": 2, "path": None},
        "shards": _signature_defaults(write_token_shards),
        "pii": _signature_defaults(PIIStage),
    }


DEFAULT_BASE_URL = "https://data.commoncrawl.org/"


@dataclass
class RunConfig:
    inputs: list[str] = field(default_factory=list)  # files, globs, fsspec URLs, warc.paths(.gz) listings
    base_url: str = DEFAULT_BASE_URL  # what relative entries of a listing resolve against
    dump: str | None = None  # dump name for metadata; None: from warcinfo isPartOf or the file name
    tasks: int = 2
    workers: int = 2
    executor: str = "local"  # local | slurm | ray (pipeline/executors.py)
    executor_options: dict = field(default_factory=dict)  # executor.slurm.* or executor.ray.*, defaults filled in
    removed_text_chars: int | None = 10000
    inspect_rate: float = 0.05  # share of documents (by id hash) whose metrics and text head go to inspect/
    inspect_text_chars: int = 500
    keep_work: bool = False  # keep work/filtered/ (whole unscrubbed texts) after the run, not only the signatures
    raw_text: bool = False  # removed/ and inspect/ keep text as it was, PII included, not scrubbed by stages.pii
    stages: dict[str, dict] = field(default_factory=dict)  # stage name -> params, in pipeline order

    def fingerprint(self, resolved_inputs: list[str]) -> str:
        """What must match for a rerun to continue in the same output folder (workers may change)."""
        data = asdict(self)
        for key in ("workers", "executor", "executor_options"):  # where it runs does not change what it makes
            data.pop(key)
        # nor do these change documents/; left out, run folders made before they existed still resume
        for key in ("keep_work", "raw_text"):
            data.pop(key)
        data["inputs"] = resolved_inputs
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


TOP_KEYS = {"input", "executor", "output", "stages"}
SECTION_KEYS = {
    "input": {"paths", "base_url", "dump"},
    "executor": {"type", "tasks", "workers", "slurm", "ray"},
    "output": {"removed_text_chars", "inspect_rate", "inspect_text_chars", "keep_work", "raw_text"},
}


def _type_ok(value, default) -> bool:
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, list):
        return isinstance(value, list)
    return isinstance(value, type(default))


_RATIO_HINTS = ("ratio", "frac", "thr", "threshold")


def _check_value(path: str, key: str, value, errors: list[str]):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if any(h in key for h in _RATIO_HINTS) and key not in ("soft_word_threshold",) and not 0 <= value <= 1:
            errors.append(f"{path}: must be between 0 and 1, got {value}")
        elif value < 0 and value != -1:
            errors.append(f"{path}: must not be negative, got {value}")


# options that must be > 0 (a zero or negative value would make the stage drop everything, loop, or divide by 0)
POSITIVE = {
    "read": ("max_record_bytes",),
    "extract": ("timeout",),
    "minhash_dedup": ("ngram", "num_perm", "bands", "rows"),
    "tokenizer": ("sample_chars",),
    "shards": ("shard_tokens", "row_group_rows"),
}
# (lower, upper) option pairs where lower must not exceed upper
ORDERED = {"gopher_quality": (("min_doc_words", "max_doc_words"), ("min_avg_word_length", "max_avg_word_length"))}
# options holding [n, fraction] pairs
NGRAM_PAIRS = {"gopher_repetition": ("top_n_grams", "dup_n_grams")}


def _check_stage_values(name: str, path: str, merged: dict, errors: list[str]):
    for key in POSITIVE.get(name, ()):
        value = merged.get(key)
        if isinstance(value, (int, float)) and value <= 0:
            errors.append(f"{path}.{key}: must be positive, got {value}")
    for low, high in ORDERED.get(name, ()):
        if None not in (merged[low], merged[high]) and merged[low] > merged[high]:
            errors.append(f"{path}: {low} ({merged[low]}) must not exceed {high} ({merged[high]})")
    for key in NGRAM_PAIRS.get(name, ()):
        for pair in merged[key] or []:
            ok = isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], int) and pair[0] >= 1
            if not (ok and isinstance(pair[1], (int, float)) and 0 <= pair[1] <= 1):
                errors.append(f"{path}.{key}: entries must be [n >= 1, fraction between 0 and 1], got {pair!r}")
                break


def _validate_stage(name: str, params, defaults: dict, errors: list[str]) -> dict:
    path = f"stages.{name}"
    if params is None:
        params = {}
    if not isinstance(params, dict):
        errors.append(f"{path}: must be a mapping of options (or empty), got {type(params).__name__}")
        return {}
    merged = dict(defaults)
    for key, value in params.items():
        if key not in defaults:
            errors.append(f"{path}.{key}: unknown key (allowed: {', '.join(sorted(defaults))})")
            continue
        if value is not None and not _type_ok(value, defaults[key]):
            errors.append(f"{path}.{key}: expected {type(defaults[key]).__name__}, got {type(value).__name__} ({value!r})")
            continue
        _check_value(f"{path}.{key}", key, value, errors)
        merged[key] = value
    _check_stage_values(name, path, merged, errors)
    if name == "minhash_dedup" and merged["bands"] * merged["rows"] != merged["num_perm"]:
        errors.append(
            f"{path}: bands x rows must equal num_perm, got {merged['bands']} x {merged['rows']} != {merged['num_perm']}"
        )
    if name == "tokenizer" and merged["vocab_size"] < 258:
        errors.append(f"{path}.vocab_size: must be at least 258 (256 bytes + EOS + one merge), got {merged['vocab_size']}")
    if name == "language":
        langs = merged["languages"]
        if langs is not None and not all(isinstance(x, str) for x in langs):
            errors.append(f"{path}.languages: must be a list of language codes or null")
    return merged


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
    for key, value in given.items():
        if key not in options:
            errors.append(f"executor.{kind}.{key}: unknown key (allowed: {', '.join(sorted(options))})")
        elif value is not None and not _type_ok(value, options[key]):
            errors.append(f"executor.{kind}.{key}: expected {type(options[key]).__name__}, got {type(value).__name__} ({value!r})")
        else:
            options[key] = value
    if kind == "slurm" and not options["partition"]:
        errors.append("executor.slurm.partition: required with executor.type slurm")
    cfg.executor_options = options


def parse_config(raw, source: str = "config") -> RunConfig:
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
    _parse_executor(ex, cfg, errors)
    for key in ("tasks", "workers"):
        if key in ex:
            v = ex[key]
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                errors.append(f"executor.{key}: must be a positive integer, got {v!r}")
            else:
                setattr(cfg, key, v)
    if "removed_text_chars" in out:
        v = out["removed_text_chars"]
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            errors.append(f"output.removed_text_chars: must be a non-negative integer or null, got {v!r}")
        else:
            cfg.removed_text_chars = v
    if "inspect_rate" in out:
        v = out["inspect_rate"]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 1:
            errors.append(f"output.inspect_rate: must be between 0 and 1, got {v!r}")
        else:
            cfg.inspect_rate = float(v)
    if "inspect_text_chars" in out:
        v = out["inspect_text_chars"]
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            errors.append(f"output.inspect_text_chars: must be a non-negative integer, got {v!r}")
        else:
            cfg.inspect_text_chars = v
    for key in ("keep_work", "raw_text"):
        if key in out:
            if not isinstance(out[key], bool):
                errors.append(f"output.{key}: must be true or false, got {out[key]!r}")
            else:
                setattr(cfg, key, out[key])

    stages = raw.get("stages")
    if stages is None:
        errors.append("stages: required (a mapping of stage name to options; see configs/fineweb.yaml)")
        stages = {}
    elif not isinstance(stages, dict):
        errors.append("stages: must be a mapping of stage name to options")
        stages = {}
    elif "read" not in stages:
        errors.append("stages.read: required (every run starts by reading WARC files)")
    defaults = stage_defaults()
    for name in stages:
        if name not in defaults:
            errors.append(f"stages.{name}: unknown stage (allowed: {', '.join(STAGE_ORDER + OUTPUT_STEPS)})")
    if "shards" in stages and "tokenizer" not in stages:
        errors.append("stages.shards: needs stages.tokenizer (the shards are written with it)")
    for name in STAGE_ORDER + OUTPUT_STEPS:
        if name in stages:
            cfg.stages[name] = _validate_stage(name, stages[name], defaults[name], errors)
    if errors:
        raise ConfigError(f"invalid {source}:\n  " + "\n  ".join(errors))
    return cfg


def load_config(path: str) -> RunConfig:
    try:
        with open(path) as f:
            raw = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    return parse_config(raw, source=path)
