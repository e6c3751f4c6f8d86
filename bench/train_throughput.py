"""Training throughput of a config: tokens/s, MFU, and how much of each step waited on data.

    python bench/train_throughput.py configs/train/tiny.yaml --data runs/sample [--steps 30] [--device cpu]
    python bench/train_throughput.py configs/train/gpt2-124m.yaml --data RUN_DIR --steps 40 --device cuda
    python3 bench/train_throughput.py configs/train/gpt2-124m.yaml --synthetic-vocab 50304 --steps 30 --device cuda

--synthetic-vocab V needs no corpus: it writes random token shards (uniform ids below V, documents of 256 to 4096
tokens ending in EOS), their manifest and a matching tokenizer.json of V tokens into a run folder (--data, or a
temporary one), so a config runs with a V-token head (GPT-2's padded 50,304 for gpt2-124m.yaml) on a machine that
has only torch, pyarrow, safetensors, tokenizers and PyYAML. Random tokens make the loss meaningless, not the speed.

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

from refinery.atomic import AtomicParquetWriter, write_json_atomic  # noqa: E402
from refinery.layout import RunLayout, file_sha256  # noqa: E402
from refinery.schema import token_shard_schema  # noqa: E402
from trainer.config import grad_accum_steps, load_train_config  # noqa: E402
from trainer.data import read_manifest  # noqa: E402
from trainer.model import GPT  # noqa: E402
from trainer.runtime import LOG, peak_flops, uses_bf16  # noqa: E402
from trainer.train import train  # noqa: E402


def write_synthetic_run(run_dir: str, vocab_size: int, train_tokens: int, seed: int = 0) -> dict:
    """A run folder with only tokenizer/tokenizer.json and shards/ (train and val) of random ids below vocab_size."""
    import numpy as np
    import pyarrow as pa
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    eos = "<|endoftext|>"
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    if vocab_size < len(alphabet) + 1:
        raise SystemExit(f"--synthetic-vocab must be at least {len(alphabet) + 1} (the 256 bytes and EOS)")
    vocab = {c: i for i, c in enumerate(alphabet)}
    vocab.update({f"<synthetic_{i}>": i for i in range(len(alphabet), vocab_size - 1)})
    vocab[eos] = vocab_size - 1
    tok = Tokenizer(models.BPE(vocab, []))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([eos])
    run = RunLayout(run_dir)
    os.makedirs(os.path.dirname(run.tokenizer), exist_ok=True)
    tok.save(run.tokenizer)
    assert tok.get_vocab_size() == vocab_size and tok.token_to_id(eos) == vocab_size - 1
    dtype = "uint16" if vocab_size <= 2**16 else "uint32"
    meta = {"tokenizer_sha256": file_sha256(run.tokenizer), "vocab_size": vocab_size, "eos_id": vocab_size - 1,
            "dtype": dtype}
    schema = token_shard_schema(dtype, meta)
    rng = np.random.default_rng(seed)
    manifest = {**meta, "splits": {}}
    for split, want in (("train", train_tokens), ("val", max(4096, train_tokens // 100))):
        lengths = []
        while sum(lengths) < want:
            lengths.append(int(rng.integers(256, 4097)))
        flat = rng.integers(0, vocab_size - 1, sum(lengths), dtype=np.int64).astype(dtype)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        flat[offsets[1:] - 1] = vocab_size - 1  # every document ends in EOS
        table = pa.table({
            "input_ids": pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat), type=schema.field("input_ids").type),
            "doc_id": pa.array([f"synthetic-{split}-{i:07d}" for i in range(len(lengths))]),
            "num_tokens": pa.array(lengths, type=pa.int32()),
        }, schema=schema)
        name = f"{split}_00000.parquet"
        with AtomicParquetWriter(run.shards.shard(split, name), schema, row_group_rows=64) as w:
            w.write_table(table)
        manifest["splits"][split] = {"shards": [name], "rows": len(lengths), "tokens": int(sum(lengths))}
    write_json_atomic(run.shards.manifest, manifest)
    return manifest


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
    p.add_argument("--data", help="run folder holding shards/ and tokenizer/ (with --synthetic-vocab: where to write "
                                  "them; default a temporary folder)")
    p.add_argument("--synthetic-vocab", type=int, metavar="V",
                   help="random token shards with a V-token vocabulary instead of a run's (no corpus needed)")
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
    device = torch.device(args.device)

    with tempfile.TemporaryDirectory() as scratch:
        data = args.data
        if args.synthetic_vocab:
            data = data or os.path.join(scratch, "synthetic-run")
            if os.path.exists(data) and os.listdir(data):
                raise SystemExit(f"--data {data}: not empty; --synthetic-vocab writes a new run folder there")
            # one epoch covers the measured steps, so no row group is read twice
            write_synthetic_run(data, args.synthetic_vocab, cfg.tokens_per_step * (total + 1))
        elif not data:
            raise SystemExit("give --data RUN_DIR or --synthetic-vocab V")
        vocab = read_manifest(os.path.join(data, "shards"))["vocab_size"]
        out = os.path.join(scratch, "checkpoints")
        train(cfg, data, out, max_steps=total, device=args.device, quiet=True)
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
