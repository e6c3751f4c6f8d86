"""Training throughput of a config: tokens/s, MFU, and how much of each step waited on data.

    python bench/train_throughput.py configs/train/tiny.yaml --data runs/sample [--steps 30] [--device cpu]
    python bench/train_throughput.py configs/train/gpt2-124m.yaml --data RUN_DIR --steps 40 --device cuda

Two measurements in the same process, same model and batch shapes:
  1. the real trainer (trainer.train.train) streaming the run's Parquet shards;
  2. a reference: the same optimizer steps on one random batch already on the device (no data loading).
It prints both and the ratio trainer/reference: near 1.0 means the loader keeps up with the model.
The first --warmup steps of each (torch.compile, allocator, caches) are left out of the figures.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from trainer.config import grad_accum_steps, load_train_config  # noqa: E402
from trainer.data import read_manifest  # noqa: E402
from trainer.model import GPT  # noqa: E402
from trainer.runtime import LOG, peak_flops, uses_bf16  # noqa: E402
from trainer.train import train  # noqa: E402


def reference_tokens_per_s(cfg, vocab_size: int, device: torch.device, steps: int, warmup: int) -> float:
    """Optimizer steps of the same shapes on a fixed random batch: the model's speed without any data loading."""
    torch.manual_seed(cfg.seed)
    model = GPT(cfg.model, vocab_size).to(device)
    opt = model.optimizer(cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2), device.type)
    if cfg.compile and device.type == "cuda":
        model = torch.compile(model)
    use_bf16 = uses_bf16(cfg, device.type)
    accum = grad_accum_steps(cfg, 1)
    x = torch.randint(0, vocab_size, (cfg.batch_size, cfg.model.block_size + 1), device=device)
    times = []
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        for _ in range(accum):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                loss = model(x[:, :-1], x[:, 1:])
            (loss / accum).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip or float("inf"))
        opt.step()
        opt.zero_grad(set_to_none=True)
        float(loss.detach())  # wait for the device, as the trainer does when it logs
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    return cfg.tokens_per_step / statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config")
    p.add_argument("--data", required=True, help="run folder holding shards/ and tokenizer/")
    p.add_argument("--steps", type=int, default=30, help="measured steps")
    p.add_argument("--warmup", type=int, default=5, help="steps left out of the figures")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-size", type=int, help="override the config's batch_size (tokens_per_step follows)")
    p.add_argument("--accum", type=int, default=1, help="gradient-accumulation steps per measured step")
    args = p.parse_args()

    cfg = load_train_config(args.config)
    if args.batch_size:
        cfg.batch_size = args.batch_size
    # a measured step is `accum` micro-batches; the config's full tokens_per_step would make steps minutes long
    cfg.tokens_per_step = cfg.batch_size * cfg.model.block_size * args.accum
    cfg.eval_interval, cfg.ckpt_interval, cfg.keep_checkpoints = 0, 10**9, 1
    cfg.warmup_steps = min(cfg.warmup_steps, 10)
    total = args.warmup + args.steps
    vocab = read_manifest(os.path.join(args.data, "shards"))["vocab_size"]
    device = torch.device(args.device)

    with tempfile.TemporaryDirectory() as out:
        train(cfg, args.data, out, max_steps=total, device=args.device, quiet=True)
        with open(os.path.join(out, LOG)) as f:
            rows = [json.loads(line) for line in f if '"loss"' in line][args.warmup :]
    trainer_tps = statistics.median(r["tokens_per_s"] for r in rows)
    wait = statistics.mean(r["data_wait"] for r in rows)
    ref_tps = reference_tokens_per_s(cfg, vocab, device, args.steps, args.warmup)
    n = GPT(cfg.model, vocab).num_params()
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"config {args.config}: {n / 1e6:.1f}M non-embedding+tied params, vocab {vocab}, "
          f"B={cfg.batch_size} T={cfg.model.block_size} x{args.accum} per step, on {name}")
    peak, peak_note = peak_flops(cfg, device)
    if peak is None:
        mfu = f"({peak_note})"
    else:
        mfu = f"MFU {100 * statistics.median(r['mfu'] for r in rows):5.1f}% (peak {peak:.4g} FLOP/s: {peak_note})"
    print(f"trainer (Parquet shards): {trainer_tps:12,.0f} tokens/s   {mfu}   data wait {100 * wait:.1f}% of step time")
    print(f"reference (batch on device): {ref_tps:9,.0f} tokens/s")
    print(f"ratio trainer/reference: {trainer_tps / ref_tps:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
