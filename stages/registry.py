"""The stage registry: every stage refinery can run, each declared once, in its own module.

A stage is a class (a RefineryStage, or a plain datatrove step for the steps after the funnel) that says:
  name        its fixed name: the key under `stages:`, the rows of `refinery stats`, the folders of removed/
  summary     what it does, in one line (`refinery stages`, the README table)
  order       its place in the pipeline (the funnel's row order; steps of one phase run in this order)
  Params      a dataclass of its config keys: defaults, types from the annotations, ranges from `key(...)`,
              cross-field checks in a `problems()` method (each a message, or a (key, message) pair)
  reasons     the reasons it may drop a document for (every stage may also drop with `error`)
  inspect_metrics  what its inspection sample records (inspect/<stage>/, the report's distributions)
  thresholds  the keys that threshold a metric of the inspection sample (Threshold): the what-if curves of
              `refinery stats DIR --what-if STAGE.KEY` and the report
  fields      per-document columns it fills in documents/ (always present, null where not set)
  version     bumped when a change of its code or defaults changes results: older run folders are refused
  build()     adds its steps to the phases (most stages: one step in `curate`; MinHash spans four phases)
  preflight() fails loudly before any work when a dependency it needs is broken

BUILTIN lists the stage classes: adding a stage is one module plus one line there. A config can load its own
stage classes with `plugins: ["package.module:Class"]`. pipeline/ (config, build, preflight, stats, verify,
report) iterates over the registry and names no stage.
"""

import dataclasses
import importlib
import types
import typing
from dataclasses import dataclass, field

# One line per stage class ("module:Class"), in no particular order: `order` places them.
BUILTIN = (
    "stages.read:WarcReadStage",
    "stages.url_filter:URLFilterStage",
    "stages.extract:ExtractStage",
    "stages.language:LanguageStage",
    "stages.gopher_repetition:GopherRepetitionStage",
    "stages.gopher_quality:GopherQualityStage",
    "stages.c4_quality:C4QualityStage",
    "stages.fineweb_quality:FineWebQualityStage",
    "stages.url_dedup:URLDedupStage",
    "stages.exact_dedup:ExactDedupStage",
    "stages.minhash_dedup:MinhashDedupStage",
    "stages.quality_classifier:QualityClassifierStage",
    "stages.decontaminate:DecontaminateStage",
    "stages.pii:PIIStage",
    "stages.tokenizer:TokenizerStep",
    "stages.token_shards:ShardsStep",
)

# Any stage may also drop a document with ERROR when its own code raised on that document: the run goes on,
# the exception is logged, and the document is counted instead of lost.
ERROR = "error"
# stat labels written by every stage (datatrove Stats), parsed back by `refinery stats`
STAT_IN = "in"
STAT_KEPT = "kept"
STAT_DROPPED_PREFIX = "dropped/"
STAT_KEPT_BYTES = "kept_bytes"
# the same counts per document language, from the language stage on: lang/<language>/<label>
STAT_LANGUAGE_PREFIX = "lang/"


def language_stat(language: str, label: str) -> str:
    """The stat label of `label` (in, kept, kept_bytes, dropped/<reason>) counted for one language."""
    return f"{STAT_LANGUAGE_PREFIX}{language}/{label}"


# what the pipeline passes to stage constructors besides their Params: no config key may use these names
WIRING = frozenset({"output", "files", "dump", "errors_dir", "config", "layout", "params", "tokenizer", "shards",
                    "model_path", "work_dir", "exclusion_writer", "language"})


class RegistryError(ValueError):
    pass


# -- declaring config keys -------------------------------------------------------------------------------------------
def key(default=dataclasses.MISSING, *, help: str, min=None, max=None, min_exclusive: bool = False,
        choices: tuple | None = None, factory=None):
    """A config key of a stage's Params: its default, what it means, and the range a value must fall in."""
    meta = {"help": help, "min": min, "max": max, "min_exclusive": min_exclusive, "choices": choices}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    if isinstance(default, (list, dict, set)):
        value = default
        return field(default_factory=lambda: type(value)(value), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Threshold:
    """A config key that thresholds one metric of the stage's inspection sample: a document passes the rule when
    `metric <keep> value` (keep: ">=", ">", "<=" or "<") and is otherwise dropped with `reason`. document_field: the
    documents/ column holding the same metric, read for the what-if of a stage that dropped nothing (annotate)."""

    key: str
    metric: str
    keep: str
    reason: str
    document_field: str | None = None

    def passes(self, value: float, threshold: float) -> bool:
        return {">=": value >= threshold, ">": value > threshold, "<=": value <= threshold,
                "<": value < threshold}[self.keep]


@dataclass(frozen=True)
class KeySpec:
    name: str
    type: typing.Any  # the annotation
    default: typing.Any
    help: str
    min: float | None
    max: float | None
    min_exclusive: bool
    choices: tuple | None

    @property
    def nullable(self) -> bool:
        return _is_optional(self.type)

    def type_name(self) -> str:
        return _type_name(self.type)

    def range_text(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        lo = "" if self.min is None else (f"> {self.min}" if self.min_exclusive else f">= {self.min}")
        hi = "" if self.max is None else f"<= {self.max}"
        return ", ".join(x for x in (lo, hi) if x)

    def problems(self, value, path: str) -> list[str]:
        """What is wrong with `value` for this key (empty when it is right)."""
        if value is None:
            return [] if self.nullable else [f"{path}: must not be null"]
        if not _matches(value, self.type):
            return [f"{path}: expected {self.type_name()}, got {type(value).__name__} ({value!r})"]
        if self.choices is not None and value not in self.choices:
            return [f"{path}: must be one of {', '.join(map(str, self.choices))}, got {value!r}"]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            below = self.min is not None and (value <= self.min if self.min_exclusive else value < self.min)
            above = self.max is not None and value > self.max
            if below or above:
                if self.min is not None and self.max is not None and not self.min_exclusive:
                    return [f"{path}: must be between {self.min} and {self.max}, got {value}"]
                if below and self.min_exclusive:
                    return [f"{path}: must be {'positive' if self.min == 0 else f'above {self.min}'}, got {value}"]
                if below:
                    return [f"{path}: must be at least {self.min}, got {value}"]
                return [f"{path}: must be at most {self.max}, got {value}"]
        return []


def _is_optional(tp) -> bool:
    return isinstance(tp, types.UnionType | typing._UnionGenericAlias) and type(None) in typing.get_args(tp)


def _type_name(tp) -> str:
    if _is_optional(tp):
        return " | ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None)) + " | null"
    if isinstance(tp, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    origin = typing.get_origin(tp)
    if origin is list:
        args = typing.get_args(tp)
        return f"list[{_type_name(args[0])}]" if args else "list"
    if origin is tuple:
        return "[" + ", ".join(_type_name(a) for a in typing.get_args(tp)) + "]"
    return {bool: "bool", int: "int", float: "float", str: "str", dict: "mapping"}.get(tp, getattr(tp, "__name__", str(tp)))


def _matches(value, tp) -> bool:
    if _is_optional(tp):
        return value is None or any(_matches(value, a) for a in typing.get_args(tp) if a is not type(None))
    if isinstance(tp, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(tp))
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        return isinstance(value, list) and (not args or all(_matches(v, args[0]) for v in value))
    if origin is tuple:  # a fixed-shape pair such as [n, fraction], written as a YAML list
        return isinstance(value, (list, tuple)) and len(value) == len(args) and all(map(_matches, value, args))
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is dict:
        return isinstance(value, dict)
    return isinstance(value, tp)


def key_specs(params_cls) -> list[KeySpec]:
    hints = typing.get_type_hints(params_cls)
    out = []
    for f in dataclasses.fields(params_cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        m = f.metadata
        out.append(KeySpec(f.name, hints[f.name], default, m.get("help", ""), m.get("min"), m.get("max"),
                           m.get("min_exclusive", False), m.get("choices")))
    return out


class Stage:
    """The declaration every stage class makes (RefineryStage inherits it; the output steps use it directly)."""

    name: str = None
    summary: str = None
    order: int = None
    Params: type = None
    reasons: tuple[str, ...] = ()
    inspect_metrics: tuple[str, ...] = ("chars",)
    fields: tuple = ()  # (column name, pyarrow type) of per-document values this stage fills in documents/
    thresholds: tuple = ()  # Threshold declarations: the keys the what-if view varies
    funnel: bool = True  # False: a step after the funnel (it drops nothing and has no row in the funnel)
    version: int = 1
    phase: str = "curate"
    requires: tuple[str, ...] = ()  # other stages that must be configured with this one
    required: str | None = None  # why every config must configure this stage (None: optional)
    preflight_label: str | None = None  # how a broken dependency of this stage is named; None: nothing to check
    value_is_cluster_size: bool = False  # True: a drop's value is the size of the duplicate cluster (the report)
    scrubs_text: bool = False  # True: removed/ and inspect/ rows pass through this stage's scrub() (the pii stage)
    needs_user_file: str | None = None  # a file only the user can supply (a model): configs/sample.yaml leaves it out
    mirrors: type | None = None  # the datatrove class whose defaults Params repeats (a test compares them)
    departures: dict = {}  # key -> why its default differs from the mirrored class's

    @classmethod
    def build(cls, params, ctx):
        """Adds this stage's steps to the run's phases (pipeline/build.py's BuildContext)."""
        ctx.add(cls.phase, cls.order, cls(**dataclasses.asdict(params), output=ctx.output))

    @classmethod
    def preflight(cls, params):
        """Raises when a dependency this stage needs is broken (called before any work)."""


# -- the registry ------------------------------------------------------------------------------------------------------
def _load(target: str):
    module, _, attr = target.partition(":")
    if not module or not attr:
        raise RegistryError(f"{target!r}: expected 'package.module:Class'")
    try:
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise RegistryError(f"{target!r}: cannot load it ({type(e).__name__}: {e})") from None
    return obj


def check_stage_class(cls) -> list[str]:
    """What a stage class must declare; the registry refuses one that breaks a rule."""
    problems = []
    for attr in ("name", "summary", "order", "Params"):
        if getattr(cls, attr, None) is None:
            problems.append(f"{cls.__name__}: no `{attr}`")
    if problems:
        return problems
    if not dataclasses.is_dataclass(cls.Params):
        problems.append(f"{cls.__name__}.Params: must be a dataclass")
        return problems
    clash = sorted(WIRING & {f.name for f in dataclasses.fields(cls.Params)})
    if clash:
        problems.append(f"{cls.__name__}.Params: keys {clash} collide with pipeline wiring")
    keys = {f.name for f in dataclasses.fields(cls.Params)}
    for t in getattr(cls, "thresholds", ()):
        if t.key not in keys or t.metric not in cls.inspect_metrics or t.keep not in (">=", ">", "<=", "<"):
            problems.append(f"{cls.__name__}.thresholds: {t.key!r} must be a key of its Params thresholding one of its "
                            f"inspect_metrics with >=, >, <= or <")
    for attr in ("build", "preflight"):
        if not callable(getattr(cls, attr, None)):
            problems.append(f"{cls.__name__}: no `{attr}` classmethod")
    return problems


class Registry:
    def __init__(self, classes):
        self.stages: dict[str, type] = {}
        for cls in classes:
            self.add(cls)

    def add(self, cls):
        problems = check_stage_class(cls)
        if problems:
            raise RegistryError("; ".join(problems))
        if cls.name in self.stages and self.stages[cls.name] is not cls:
            raise RegistryError(f"two stages are named {cls.name!r}: {self.stages[cls.name].__module__} and {cls.__module__}")
        self.stages[cls.name] = cls

    def with_plugins(self, targets: list[str]) -> "Registry":
        extra = [_load(t) for t in targets]
        return Registry(list(self.stages.values()) + extra)

    def ordered(self) -> list[type]:
        return sorted(self.stages.values(), key=lambda c: (c.order, c.name))

    def funnel(self) -> tuple[str, ...]:
        """Names of the stages that count documents in, kept and dropped, in pipeline order."""
        return tuple(c.name for c in self.ordered() if c.funnel)

    def get(self, name: str):
        return self.stages[name]

    def __contains__(self, name: str) -> bool:
        return name in self.stages

    def document_fields(self) -> tuple:
        return tuple(f for c in self.ordered() for f in getattr(c, "fields", ()))


_BUILTIN: Registry | None = None


def builtin() -> Registry:
    global _BUILTIN
    if _BUILTIN is None:
        _BUILTIN = Registry([_load(t) for t in BUILTIN])
    return _BUILTIN


def registry_for(plugins: list[str] | None = None) -> Registry:
    return builtin().with_plugins(plugins) if plugins else builtin()


def stage_order() -> tuple[str, ...]:
    """The funnel's order for the built-in stages (plugins of a run come from its run.json)."""
    return builtin().funnel()


def allowed_reasons(cls) -> tuple[str, ...]:
    return tuple(cls.reasons) + (ERROR,)


def describe(reg: Registry) -> list[dict]:
    """Every stage in pipeline order with what it does, its keys and its reasons (`refinery stages --json`)."""
    out = []
    for cls in reg.ordered():
        keys = [{"name": k.name, "type": k.type_name(), "default": k.default, "range": k.range_text(), "help": k.help}
                for k in key_specs(cls.Params)]
        out.append({"name": cls.name, "order": cls.order, "summary": cls.summary, "funnel": cls.funnel,
                    "keys": keys, "reasons": list(cls.reasons), "metrics": list(cls.inspect_metrics),
                    "fields": [name for name, _ in getattr(cls, "fields", ())], "version": cls.version})
    return out


def markdown_table(reg: Registry) -> str:
    """The README's stage table, made from the registry (a test keeps the README equal to it)."""
    def show(value) -> str:
        import json

        return json.dumps(value) if not isinstance(value, str) else value

    lines = ["| stage | what it does | config keys (`stages.<name>.*`, default) | drop reasons |", "|---|---|---|---|"]
    for s in describe(reg):
        keys = ", ".join(f"`{k['name']}` ({show(k['default'])})" for k in s["keys"]) or "none"
        reasons = ", ".join(f"`{r}`" for r in s["reasons"]) if s["funnel"] else "none (after the funnel)"
        lines.append(f"| `{s['name']}` | {s['summary']} | {keys} | {reasons or 'none (drops nothing)'} |")
    return "\n".join(lines)
