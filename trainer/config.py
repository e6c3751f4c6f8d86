"""Training config: one small dataclass, loaded from YAML (configs/train/*.yaml). Defaults live here only."""

import dataclasses
import typing
from dataclasses import dataclass, field

import yaml


class TrainConfigError(ValueError):
    pass


@dataclass
class ModelConfig:
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    block_size: int = 1024  # T: tokens per training window
    dropout: float = 0.0
    bias: bool = False  # biases in Linear and LayerNorm layers


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    batch_size: int = 16  # windows per rank per micro-step (B)
    tokens_per_step: int = 524_288  # per optimizer step, over all ranks; reached by gradient accumulation
    max_steps: int = 1000
    schedule_steps: int | None = None  # length of the warmup + cosine schedule; None: max_steps
    lr: float = 6e-4
    min_lr: float = 6e-5
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # 0 turns clipping off
    seed: int = 1337  # model init and row-group shuffle
    eval_interval: int = 250  # steps between validation passes (and at the last step); 0: never
    eval_tokens: int = 1_048_576  # tokens of shards/val per validation pass (capped at one pass over the split)
    ckpt_interval: int = 500  # steps between checkpoints (and at the last step)
    keep_checkpoints: int = 2
    log_interval: int = 1
    compile: bool = False  # torch.compile the model (CUDA only)
    dtype: str = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU; or float32 / bfloat16
    # per device, for MFU; None: detected from the CUDA device's name (trainer/runtime.py), unreported on CPU
    peak_flops: float | None = None
    prefetch: int = 4  # batches the background loader keeps ready

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _build(cls, data: dict, path: str):
    if not isinstance(data, dict):
        raise TrainConfigError(f"{path or 'config'}: expected a mapping, got {type(data).__name__}")
    types = typing.get_type_hints(cls)  # the fields, in order, with their annotated types
    kwargs = {}
    for key, value in data.items():
        where = f"{path}.{key}" if path else key
        if key not in types:
            raise TrainConfigError(f"{where}: unknown key (known: {', '.join(types)})")
        if key == "model":
            kwargs[key] = _build(ModelConfig, value or {}, where)
            continue
        # the annotation gives the type: `float | None` takes a float, or null
        choices = typing.get_args(types[key]) or (types[key],)
        kind = next(t for t in choices if t is not type(None))
        if value is None and type(None) in choices:
            kwargs[key] = None
            continue
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, (int, float, str, bool)):
            raise TrainConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
        if kind is float and isinstance(value, (int, str)) and not isinstance(value, bool):
            try:  # PyYAML reads 6e-4 (no dot) as a string
                value = float(value)
            except ValueError:
                raise TrainConfigError(f"{where}: expected float, got {value!r}") from None
        if kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, kind):
            raise TrainConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
        kwargs[key] = value
    return cls(**kwargs)


def parse_train_config(data: dict) -> TrainConfig:
    cfg = _build(TrainConfig, data or {}, "")
    m = cfg.model
    if m.n_embd % m.n_head:
        raise TrainConfigError(f"model.n_embd ({m.n_embd}) must be divisible by model.n_head ({m.n_head})")
    for name in ("batch_size", "tokens_per_step", "max_steps"):
        if getattr(cfg, name) <= 0:
            raise TrainConfigError(f"{name}: must be positive")
    if cfg.peak_flops is not None and cfg.peak_flops <= 0:
        raise TrainConfigError("peak_flops: must be positive, or null to detect it from the device")
    if cfg.dtype not in ("auto", "float32", "bfloat16"):
        raise TrainConfigError(f"dtype: expected auto, float32 or bfloat16, got {cfg.dtype!r}")
    return cfg


def load_train_config(path: str) -> TrainConfig:
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise TrainConfigError(f"{path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise TrainConfigError(f"{path}: not valid YAML: {e}") from None
    try:
        return parse_train_config(data)
    except TrainConfigError as e:
        raise TrainConfigError(f"{path}: {e}") from None


def grad_accum_steps(cfg: TrainConfig, world_size: int) -> int:
    per_micro = cfg.batch_size * cfg.model.block_size * world_size
    if cfg.tokens_per_step % per_micro:
        raise TrainConfigError(
            f"tokens_per_step ({cfg.tokens_per_step}) must be a multiple of batch_size x block_size x ranks "
            f"({cfg.batch_size} x {cfg.model.block_size} x {world_size} = {per_micro})"
        )
    return cfg.tokens_per_step // per_micro
