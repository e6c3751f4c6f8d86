"""The training loop: GPT pretraining on refinery's token shards. Reads top to bottom.

One process: `refinery train CONFIG --data RUN_DIR`. Several GPUs or nodes: the same command under
torchrun (DDP; NCCL on CUDA, gloo on CPU).
"""

import contextlib
import json
import math
import os
import sys
import time

import torch
import torch.distributed as dist

from refinery.atomic import atomic_path
from refinery.layout import RunLayout, file_sha256
from trainer.checkpoint import (CheckpointError, check_compatible, list_checkpoints, load_state, load_weights,
                                read_checkpoint_config, resolve_checkpoint, save_checkpoint)
from trainer.config import TrainConfig, grad_accum_steps
from trainer.data import DataError, ShardStream, WindowLoader
from trainer.model import GPT

LOG = "log.jsonl"


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Linear warmup to cfg.lr, then cosine decay to cfg.min_lr at schedule_steps (then flat)."""
    total = cfg.schedule_steps or cfg.max_steps
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if step >= total:
        return cfg.min_lr
    progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def uses_bf16(cfg: TrainConfig, device_type: str) -> bool:
    return cfg.dtype == "bfloat16" or (cfg.dtype == "auto" and device_type == "cuda")


def setup_distributed(device: str | None) -> tuple[int, int, torch.device]:
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("refinery train: --device cuda, but torch sees no CUDA device")
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return rank, world, dev


def mean_over_ranks(value: torch.Tensor, world: int) -> float:
    if world > 1:
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value /= world
    return float(value)


def restart_log(path: str, step: int):
    """A resumed run keeps the rows up to its checkpoint's step and appends after them."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        rows = [line for line in f if line.strip() and json.loads(line).get("step", 0) <= step]
    with atomic_path(path, "training log") as tmp, open(tmp, "w") as f:
        f.writelines(rows)


class Progress:
    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.tty = total, enabled, sys.stderr.isatty()

    def update(self, step: int, row: dict):
        # a terminal gets one line rewritten in place; a log file a line every 5% of the run (and at validation)
        if not self.enabled or not (self.tty or step % max(1, self.total // 20) == 0 or step == self.total
                                    or "val_loss" in row):
            return
        width = 24
        filled = width * step // self.total
        bar = "#" * filled + "-" * (width - filled)
        text = (f"step {step}/{self.total} [{bar}] loss {row['loss']:.4f} lr {row['lr']:.2e} "
                f"{row['tokens_per_s']:,.0f} tok/s mfu {100 * row['mfu']:.1f}% data wait {100 * row['data_wait']:.0f}%")
        if "val_loss" in row:
            text += f" val {row['val_loss']:.4f}"
        print(("\r" if self.tty else "") + text, end="" if self.tty and step < self.total else "\n",
              file=sys.stderr, flush=True)


@torch.no_grad()
def evaluate(model, stream: ShardStream, cfg: TrainConfig, rank: int, world: int, device, autocast) -> float:
    model.eval()
    per_micro = cfg.batch_size * cfg.model.block_size * world
    batches = max(1, min(cfg.eval_tokens, stream.epoch_tokens) // per_micro)
    loader = WindowLoader(stream, cfg.batch_size, cfg.model.block_size, rank, world, device=str(device))
    total = torch.zeros((), device=device)
    for n in range(batches):
        windows = loader.windows_at(n).to(device)
        x, y = windows[:, :-1], windows[:, 1:]
        with autocast:
            total += model(x, y).float()
    model.train()
    return mean_over_ranks(total / batches, world)


def train(cfg: TrainConfig, data_dir: str, out_dir: str, max_steps: int | None = None, device: str | None = None,
          resume: bool = False, quiet: bool = False) -> dict:
    if max_steps is not None:
        cfg.max_steps = max_steps
    rank, world, dev = setup_distributed(device)
    master = rank == 0
    accum = grad_accum_steps(cfg, world)
    run = RunLayout(data_dir)
    shards_dir, tokenizer_path = run.shards.root, run.tokenizer
    train_stream = ShardStream(shards_dir, "train", cfg.seed)
    manifest = train_stream.manifest
    vocab = {k: manifest[k] for k in ("vocab_size", "eos_id", "tokenizer_sha256")}
    if not os.path.exists(tokenizer_path):
        raise DataError(f"{tokenizer_path}: missing (the shards' tokenizer is copied into every checkpoint)")
    if file_sha256(tokenizer_path) != vocab["tokenizer_sha256"]:
        raise DataError(f"{tokenizer_path}: not the tokenizer the shards were made with (its sha256 differs from "
                        f"shards/manifest.json's tokenizer_sha256; truncated, or replaced after the run)")
    val_stream = None
    if cfg.eval_interval and manifest["splits"].get("val", {}).get("tokens"):
        val_stream = ShardStream(shards_dir, "val", cfg.seed)

    # model, optimizer, and (with --resume) the state they had at the newest checkpoint
    torch.manual_seed(cfg.seed)
    model = GPT(cfg.model, vocab["vocab_size"]).to(dev)
    optimizer = model.optimizer(cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2), dev.type)
    step, windows_consumed = 0, 0
    if resume:
        ckpt = resolve_checkpoint(out_dir)
        saved_cfg, saved_vocab = read_checkpoint_config(ckpt)
        check_compatible(ckpt, saved_cfg, saved_vocab, cfg, vocab)
        load_weights(model, ckpt)
        state = load_state(ckpt, dev)
        try:
            optimizer.load_state_dict(state["optimizer"])
            step, windows_consumed = int(state["step"]), int(state["loader"]["windows_consumed"])
            torch.set_rng_state(state["rng"]["cpu"].cpu())
            if dev.type == "cuda" and state["rng"].get("cuda") is not None:
                torch.cuda.set_rng_state(state["rng"]["cuda"].cpu())
        except (KeyError, ValueError, TypeError, RuntimeError) as e:
            raise CheckpointError(f"{ckpt}: checkpoint state does not fit this run: {e}") from None
        if state["loader"].get("block_size") != cfg.model.block_size or state["loader"].get("seed") != cfg.seed:
            raise CheckpointError(f"{ckpt}: loader state was for block_size/seed {state['loader']}, config has "
                                  f"{cfg.model.block_size}/{cfg.seed}")
    elif list_checkpoints(out_dir):
        raise CheckpointError(f"{out_dir} already holds checkpoints; pass --resume to continue them or choose "
                              "another --out")
    loader = WindowLoader(train_stream, cfg.batch_size, cfg.model.block_size, rank, world, windows_consumed,
                          str(dev), cfg.prefetch)

    raw_model = model
    if cfg.compile and dev.type == "cuda":
        model = torch.compile(model)
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    use_bf16 = uses_bf16(cfg, dev.type)
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    log_path = os.path.join(out_dir, "log.jsonl")
    if master:
        os.makedirs(out_dir, exist_ok=True)
        if resume:
            restart_log(log_path, step)
        else:
            open(log_path, "w").close()
    log = open(log_path, "a") if master else None
    flops_per_token = raw_model.flops_per_token()
    progress = Progress(cfg.max_steps, master and not quiet)
    if master and not quiet:
        print(f"refinery train: {raw_model.num_params() / 1e6:.2f}M parameters, vocab {vocab['vocab_size']}, "
              f"{world} rank(s) on {dev.type}, {accum} micro-step(s) of {cfg.batch_size}x{cfg.model.block_size} "
              f"per step, {'bf16' if use_bf16 else 'fp32'}; train split {train_stream.epoch_tokens:,} tokens; "
              f"from step {step} to {cfg.max_steps}", file=sys.stderr, flush=True)

    def checkpoint():
        if master:
            state = {"step": step, "optimizer": optimizer.state_dict(), "loader": loader.state(),
                     "rng": {"cpu": torch.get_rng_state(),
                             "cuda": torch.cuda.get_rng_state() if dev.type == "cuda" else None}}
            save_checkpoint(out_dir, raw_model, state, {"train": cfg.to_dict(), "vocab": vocab}, tokenizer_path,
                            cfg.keep_checkpoints)
        if world > 1:
            dist.barrier()

    last = {}
    try:
        while step < cfg.max_steps:
            t0, wait0 = time.perf_counter(), loader.wait_s
            lr = lr_at(cfg, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss_sum = torch.zeros((), device=dev)
            for micro in range(accum):
                x, y = next(loader)
                sync = contextlib.nullcontext() if world == 1 or micro == accum - 1 else model.no_sync()
                with sync:
                    with autocast:
                        loss = model(x, y)
                    (loss / accum).backward()
                loss_sum += loss.detach().float()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            loss_value = mean_over_ranks(loss_sum / accum, world)  # also waits for the step to finish
            dt = time.perf_counter() - t0
            tokens_per_s = cfg.tokens_per_step / dt
            row = {"step": step, "loss": loss_value, "lr": lr, "tokens_per_s": tokens_per_s,
                   "mfu": flops_per_token * tokens_per_s / (cfg.peak_flops * world),
                   "data_wait": (loader.wait_s - wait0) / dt}
            if master and (step % cfg.log_interval == 0 or step == cfg.max_steps):
                log.write(json.dumps(row) + "\n")
            if val_stream is not None and (step % cfg.eval_interval == 0 or step == cfg.max_steps):
                row["val_loss"] = evaluate(model, val_stream, cfg, rank, world, dev, autocast)
                if master:
                    log.write(json.dumps({"step": step, "val_loss": row["val_loss"]}) + "\n")
            if master and (step % cfg.log_interval == 0 or step == cfg.max_steps or "val_loss" in row):
                log.flush()
                progress.update(step, row)
            if step % cfg.ckpt_interval == 0 or step == cfg.max_steps:
                checkpoint()
            last = row
    finally:
        loader.close()
        if log:
            log.close()
    return {"step": step, **last, "out_dir": out_dir}
