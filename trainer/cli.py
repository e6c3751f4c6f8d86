"""`refinery train` and `refinery sample` (also `python -m trainer train|sample`, which needs only torch,
pyarrow, safetensors, tokenizers and PyYAML)."""

import argparse
import os
import sys


def add_train_arguments(p: argparse.ArgumentParser):
    p.add_argument("config", help="training config (YAML), e.g. configs/train/tiny.yaml")
    p.add_argument("--data", required=True, help="run folder of `refinery run` (holds shards/ and tokenizer/)")
    p.add_argument("--out", help="checkpoint folder (default: DATA/train/<config name>)")
    p.add_argument("--max-steps", type=int, help="override the config's max_steps")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available, else cpu")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--quiet", action="store_true", help="no progress line")


def add_sample_arguments(p: argparse.ArgumentParser):
    p.add_argument("checkpoint", help="checkpoint folder, or a training --out folder (its newest checkpoint)")
    p.add_argument("--prompt", default="", help="text to continue (empty: start after <|endoftext|>)")
    p.add_argument("--max-new-tokens", type=int, default=100)
    p.add_argument("--temperature", type=float, default=0.8, help="0: greedy")
    p.add_argument("--top-k", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")


def cmd_train(args) -> int:
    from refinery.lock import FolderLock, FolderLocked
    from refinery.atomic import DiskFull
    from trainer.checkpoint import CheckpointError, sweep_partial_checkpoints
    from trainer.config import TrainConfigError, load_train_config
    from trainer.data import DataError
    from trainer.runtime import LOG
    from trainer.train import train

    out = args.out or os.path.join(args.data, "train", os.path.splitext(os.path.basename(args.config))[0])
    lock = None
    try:
        cfg = load_train_config(args.config)
        if int(os.environ.get("RANK", 0)) == 0:  # rank 0 writes the checkpoints, so it holds the folder
            lock = FolderLock(out, "refinery train").acquire()
            sweep_partial_checkpoints(out)
        result = train(cfg, args.data, out, args.max_steps, args.device, args.resume, args.quiet)
    except (TrainConfigError, DataError, CheckpointError, FolderLocked, DiskFull) as e:
        print(f"refinery train: error: {e}", file=sys.stderr)
        return 2
    finally:
        if lock:
            lock.release()
    if int(os.environ.get("RANK", 0)) == 0:
        summary = f"step {result['step']}"
        if "loss" in result:
            summary += f", loss {result['loss']:.4f}"
        if "val_loss" in result:
            summary += f", val loss {result['val_loss']:.4f}"
        print(f"refinery train: {summary}; checkpoints and {LOG} in {out}/")
    return 0


def cmd_sample(args) -> int:
    import torch

    from trainer.checkpoint import CheckpointError, load_for_inference

    try:
        model, tok, vocab = load_for_inference(args.checkpoint, args.device)
    except CheckpointError as e:
        print(f"refinery sample: error: {e}", file=sys.stderr)
        return 2
    ids = tok.encode(args.prompt, add_special_tokens=False).ids if args.prompt else [vocab["eos_id"]]
    ids = ids[-model.cfg.block_size :]
    gen = torch.Generator(device=args.device).manual_seed(args.seed)
    out = model.generate(torch.tensor([ids], device=args.device), args.max_new_tokens, args.temperature,
                         args.top_k, vocab["eos_id"], gen)
    new = [i for i in out[0, len(ids) :].tolist() if i != vocab["eos_id"]]
    print(args.prompt + tok.decode(new, skip_special_tokens=False))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer", description="GPT pretraining on refinery token shards")
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_arguments(sub.add_parser("train", help="train a GPT on a run's token shards"))
    add_sample_arguments(sub.add_parser("sample", help="generate text from a checkpoint"))
    args = parser.parse_args(argv)
    return cmd_train(args) if args.command == "train" else cmd_sample(args)
