"""Checkpoints: CKPT_DIR/step_NNNNNNN/ holds model.safetensors (weights), state.pt (optimizer, loader
position, step, RNG states; loaded with weights_only=True, so nothing arbitrary is unpickled),
config.json (the training config plus the vocabulary facts) and a copy of tokenizer.json, so a
checkpoint folder alone is enough to sample from. Each is written to a hidden temporary folder and
renamed into place; CKPT_DIR/latest.json, replaced atomically afterwards, names the newest."""

import json
import os
import shutil

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model

from refinery.atomic import disk_full_error, is_disk_full, write_json_atomic
from trainer.config import TrainConfig, TrainConfigError, parse_train_config
from trainer.model import GPT

LATEST = "latest.json"
WEIGHTS = "model.safetensors"
STATE = "state.pt"
CONFIG = "config.json"
TOKENIZER = "tokenizer.json"


class CheckpointError(RuntimeError):
    pass


def step_dir(out_dir: str, step: int) -> str:
    return os.path.join(out_dir, f"step_{step:07d}")


def save_checkpoint(out_dir: str, model: GPT, state: dict, config: dict, tokenizer_path: str, keep: int) -> str:
    final = step_dir(out_dir, state["step"])
    tmp = os.path.join(out_dir, f".{os.path.basename(final)}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        os.makedirs(tmp)
        save_model(model, os.path.join(tmp, WEIGHTS))
        torch.save(state, os.path.join(tmp, STATE))
        with open(os.path.join(tmp, CONFIG), "w") as f:
            json.dump(config, f, indent=1)
        shutil.copyfile(tokenizer_path, os.path.join(tmp, TOKENIZER))
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)  # never a half-written checkpoint left behind
        if is_disk_full(e):
            raise disk_full_error(final, "checkpoint") from e
        raise
    if os.path.exists(final):  # a rerun of the same step from an earlier checkpoint
        shutil.rmtree(final)
    os.replace(tmp, final)
    write_json_atomic(os.path.join(out_dir, LATEST), {"step": state["step"], "dir": os.path.basename(final)})
    steps = sorted(d for d in os.listdir(out_dir) if d.startswith("step_") and d != os.path.basename(final))
    for old in steps[: max(0, len(steps) - (keep - 1))]:
        if int(old[5:]) < state["step"]:
            shutil.rmtree(os.path.join(out_dir, old), ignore_errors=True)
    return final


def sweep_partial_checkpoints(out_dir: str):
    """Checkpoint folders a killed trainer was still writing (`.step_NNNNNNN.tmp-PID`); call with the folder locked."""
    if os.path.isdir(out_dir):
        for name in os.listdir(out_dir):
            if name.startswith(".step_") and ".tmp-" in name:
                shutil.rmtree(os.path.join(out_dir, name), ignore_errors=True)


def list_checkpoints(out_dir: str) -> list[str]:
    if not os.path.isdir(out_dir):
        return []
    return sorted(d for d in os.listdir(out_dir) if d.startswith("step_"))


def resolve_checkpoint(path: str) -> str:
    """A checkpoint folder itself, or a training output folder (its latest.json names the newest)."""
    if os.path.exists(os.path.join(path, WEIGHTS)):
        return path
    latest = os.path.join(path, LATEST)
    if not os.path.exists(latest):
        raise CheckpointError(f"{path}: not a checkpoint (no {WEIGHTS}) and no {LATEST} naming one")
    try:
        with open(latest) as f:
            name = json.load(f)["dir"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{latest}: unreadable: {e}") from None
    ckpt = os.path.join(path, name)
    if not os.path.isdir(ckpt):
        raise CheckpointError(f"{latest} names {name}, which does not exist")
    return ckpt


def read_checkpoint_config(ckpt: str) -> tuple[TrainConfig, dict]:
    path = os.path.join(ckpt, CONFIG)
    try:
        with open(path) as f:
            data = json.load(f)
        return parse_train_config(data["train"]), data["vocab"]
    except FileNotFoundError:
        raise CheckpointError(f"{ckpt}: incomplete checkpoint, no {CONFIG}") from None
    except (OSError, ValueError, KeyError, TypeError, TrainConfigError) as e:
        raise CheckpointError(f"{path}: corrupt checkpoint config: {e}") from None


def load_weights(model: GPT, ckpt: str):
    path = os.path.join(ckpt, WEIGHTS)
    try:
        missing, unexpected = load_model(model, path, strict=False)
    except FileNotFoundError:
        raise CheckpointError(f"{ckpt}: incomplete checkpoint, no {WEIGHTS}") from None
    except (SafetensorError, OSError, RuntimeError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt or mismatched weights: {e}") from None
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not fit the model (missing {sorted(missing)[:5]}, "
                              f"unexpected {sorted(unexpected)[:5]})")


def load_state(ckpt: str, device) -> dict:
    path = os.path.join(ckpt, STATE)
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{ckpt}: incomplete checkpoint, no {STATE}") from None
    except Exception as e:  # torch raises many kinds for a damaged or foreign file
        raise CheckpointError(f"{path}: corrupt checkpoint state: {type(e).__name__}: {e}") from None


def check_compatible(ckpt: str, saved: TrainConfig, vocab: dict, cfg: TrainConfig, data_vocab: dict):
    if saved.model != cfg.model:
        raise CheckpointError(f"{ckpt}: trained with model {saved.model}, the config asks for {cfg.model}")
    if vocab != data_vocab:
        raise CheckpointError(f"{ckpt}: trained on tokenizer {vocab}, the shards use {data_vocab}")


def load_for_inference(path: str, device="cpu") -> tuple[GPT, "object", dict]:
    from tokenizers import Tokenizer

    ckpt = resolve_checkpoint(path)
    cfg, vocab = read_checkpoint_config(ckpt)
    model = GPT(cfg.model, vocab["vocab_size"])
    load_weights(model, ckpt)
    try:
        tok = Tokenizer.from_file(os.path.join(ckpt, TOKENIZER))
    except Exception as e:
        raise CheckpointError(f"{ckpt}: unreadable {TOKENIZER}: {e}") from None
    return model.to(device).eval(), tok, vocab

