"""`refinery train`, `sample`, `eval` and `export` (also `python -m trainer train|sample|eval|export`, which needs
only torch, pyarrow, safetensors, tokenizers and PyYAML)."""

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


def add_eval_arguments(p: argparse.ArgumentParser):
    p.add_argument("checkpoint", help="checkpoint folder, or a training --out folder (its newest checkpoint)")
    p.add_argument("--data", action="append", default=[], metavar="RUN_DIR",
                   help="a run folder: loss and bits per byte on its val split (repeatable; any tokenizer)")
    p.add_argument("--task-file", action="append", default=[], metavar="FILE",
                   help="a multiple-choice task file (JSONL: context or contexts, choices, gold; repeatable)")
    p.add_argument("--val-docs", type=int, metavar="N",
                   help="only the first N val documents of each run, by id (the same documents in every run that kept them)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")


def add_export_arguments(p: argparse.ArgumentParser):
    p.add_argument("checkpoint", help="checkpoint folder, or a training --out folder (its newest checkpoint)")
    p.add_argument("--out", required=True, help="the Hugging Face model folder to write (must not exist, or be empty)")


def cmd_eval(args) -> int:
    import json

    from trainer.checkpoint import CheckpointError
    from trainer.evaluate import EvalError, evaluate_checkpoint, format_result

    if not args.data and not args.task_file:
        print("refinery eval: error: give --data RUN_DIR and/or --task-file FILE", file=sys.stderr)
        return 2
    try:
        result = evaluate_checkpoint(args.checkpoint, args.data, args.task_file, args.device, args.val_docs)
    except (CheckpointError, EvalError) as e:
        print(f"refinery eval: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=1) if args.json else format_result(result))
    return 0


def cmd_export(args) -> int:
    from trainer.checkpoint import CheckpointError
    from trainer.export import export_hf

    try:
        out = export_hf(args.checkpoint, args.out)
    except CheckpointError as e:
        print(f"refinery export: error: {e}", file=sys.stderr)
        return 2
    print(f"refinery export: wrote {out}/ (load with transformers.AutoModelForCausalLM.from_pretrained({out!r}))")
    return 0


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
    add_eval_arguments(sub.add_parser("eval", help="val loss, bits per byte and multiple-choice tasks of a checkpoint"))
    add_export_arguments(sub.add_parser("export", help="a checkpoint as a Hugging Face transformers model folder"))
    args = parser.parse_args(argv)
    return {"train": cmd_train, "sample": cmd_sample, "eval": cmd_eval, "export": cmd_export}[args.command](args)
