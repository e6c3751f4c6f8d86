"""What the training loop runs on, kept out of the loop: processes and devices (DDP), the compute dtype, the peak
FLOP/s that MFU is measured against, and the run's output (log.jsonl and the progress line)."""

import contextlib
import json
import os
import re
import sys

import torch
import torch.distributed as dist

from refinery.atomic import atomic_path
from trainer.config import TrainConfig

LOG = "log.jsonl"


# ---- processes and devices -------------------------------------------------------------------------------


def setup_distributed(device: str | None) -> tuple[int, int, torch.device]:
    """(rank, world size, device) of this process; under torchrun also joins the process group."""
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


def wrap_model(model: torch.nn.Module, cfg: TrainConfig, dev: torch.device, world: int) -> torch.nn.Module:
    """The model as the loop calls it: compiled if asked (CUDA only), in DDP when there are several ranks."""
    if cfg.compile and dev.type == "cuda":
        model = torch.compile(model)
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    return model


def mean_over_ranks(value: torch.Tensor, world: int) -> float:
    if world > 1:
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value /= world
    return float(value)


def wait_for_ranks(world: int):
    if world > 1:
        dist.barrier()


# ---- dtype -----------------------------------------------------------------------------------------------


def uses_bf16(cfg: TrainConfig, device_type: str) -> bool:
    return cfg.dtype == "bfloat16" or (cfg.dtype == "auto" and device_type == "cuda")


def autocast(cfg: TrainConfig, dev: torch.device):
    """The context the forward passes run in: bf16 autocast, or plain fp32 (TF32 matmuls on CUDA)."""
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return torch.autocast(dev.type, dtype=torch.bfloat16) if uses_bf16(cfg, dev.type) else contextlib.nullcontext()


# ---- peak FLOP/s for MFU ---------------------------------------------------------------------------------

# Dense bf16 tensor-core peak per device, matched against torch.cuda.get_device_name() lowercased with - and _
# as spaces; the first match wins, so a variant comes before the rest of its family. NVIDIA's datasheets print
# sparsity figures (marked *), twice the dense rate: where a sheet gives only those, the figure here is half.
# MFU is against this figure whatever cfg.dtype is: it is the peak the hardware offers a bf16 run.
PEAK_FLOPS: list[tuple[str, float]] = [
    # NVIDIA H100 Tensor Core GPU datasheet, BF16 Tensor Core: SXM 1,979*, PCIe 1,513*, NVL 1,671* TFLOPS.
    # The PCIe card is HBM2e; SXM reports itself as e.g. "NVIDIA H100 80GB HBM3".
    (r"\bh100\b.*\b(pcie|hbm2e)\b", 756e12),
    (r"\bh100\b.*\bnvl\b", 835e12),
    (r"\bh100\b", 989e12),
    # NVIDIA H200 Tensor Core GPU datasheet, BF16 Tensor Core: H200 SXM 1,979*, H200 NVL 1,671* TFLOPS
    (r"\bh200\b.*\bnvl\b", 835e12),
    (r"\bh200\b", 989e12),
    # NVIDIA GH200 Grace Hopper Superchip datasheet, FP16/BF16 Tensor Core: 1,979* TFLOPS
    (r"\bgh200\b", 989e12),
    # NVIDIA A100 Tensor Core GPU datasheet, BF16 Tensor Core: 312 TFLOPS (624*), SXM and PCIe, 40 and 80 GB alike
    (r"\ba100\b", 312e12),
    # NVIDIA L40S datasheet, BF16 Tensor Core: 362.05 | 733* TFLOPS
    (r"\bl40s\b", 362.05e12),
    # NVIDIA L40 datasheet, BF16 Tensor Core: 181.05 | 362.1* TFLOPS
    (r"\bl40\b", 181.05e12),
    # NVIDIA L4 datasheet, BF16 Tensor Core: 242* TFLOPS
    (r"\bl4\b", 121e12),
    # NVIDIA A10 datasheet, BF16 Tensor Core: 125 | 250* TFLOPS
    (r"\ba10\b", 125e12),
    # NVIDIA A10G datasheet (AWS, NVIDIA_AWS_A10G_DataSheet_FINAL_02_17_2022.pdf), BF16 Tensor Core: 70 | 140*
    # TFLOPS; the A10's 125 does not apply to it
    (r"\ba10g\b", 70e12),
    # NVIDIA A40 datasheet, Peak BF16 Tensor TFLOPS with FP32 Accumulate: 149.7 | 299.4*
    (r"\ba40\b", 149.7e12),
    # NVIDIA Ampere GA102 GPU architecture whitepaper, Peak BF16 Tensor TFLOPS with FP32 Accumulate:
    # RTX A6000 154.8 | 309.7*, GeForce RTX 3090 71 | 142* (GeForce runs FP32 accumulation at half rate)
    (r"\brtx a6000$", 154.8e12),
    (r"\brtx 3090$", 71e12),
    # NVIDIA Ada Lovelace GPU architecture whitepaper (appendix), GeForce RTX 4090, Peak BF16 Tensor TFLOPS with
    # FP32 Accumulate: 165.2 | 330.4*. Anchored: the 4090 D and the laptop 4090 are smaller chips.
    (r"\brtx 4090$", 165.2e12),
    # Volta and Turing have no bf16 tensor cores: their FP16 (mixed precision) tensor figure.
    # NVIDIA V100 datasheet, Tensor Performance: V100S PCIe 130, V100 PCIe 112, V100 SXM2 125 TFLOPS
    (r"\bv100s\b", 130e12),
    (r"\bv100\b.*\bpcie\b", 112e12),
    (r"\bv100\b.*\bsxm[23]\b", 125e12),
    # NVIDIA T4 datasheet, Mixed Precision (FP16/FP32): 65 TFLOPS
    (r"\bt4\b", 65e12),
]


def device_peak_flops(name: str) -> float | None:
    """Dense bf16 peak FLOP/s of a CUDA device from its name (torch.cuda.get_device_name); None if unknown."""
    key = re.sub(r"[-_\s]+", " ", name.lower()).strip()
    return next((peak for pattern, peak in PEAK_FLOPS if re.search(pattern, key)), None)


def resolve_peak_flops(configured: float | None, device_type: str, device_name: str | None) -> tuple[float | None, str]:
    """(per-device peak FLOP/s or None, where it came from or why MFU goes unreported)."""
    if configured is not None:
        return configured, "peak_flops in the config"
    if device_type != "cuda":
        return None, (f"MFU not reported: no peak FLOP/s for {device_type} devices; set peak_flops in the config "
                      "to report it")
    peak = device_peak_flops(device_name)
    if peak is None:
        return None, (f"MFU not reported: no known peak FLOP/s for {device_name!r} (table in trainer/runtime.py); "
                      "set peak_flops in the config to report it")
    return peak, f"{device_name}, dense bf16"


def peak_flops(cfg: TrainConfig, dev: torch.device) -> tuple[float | None, str]:
    return resolve_peak_flops(cfg.peak_flops, dev.type, torch.cuda.get_device_name(dev) if dev.type == "cuda" else None)


# ---- log.jsonl and the progress line ---------------------------------------------------------------------


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
                f"{row['tokens_per_s']:,.0f} tok/s")
        if row["mfu"] is not None:
            text += f" mfu {100 * row['mfu']:.1f}%"
        text += f" data wait {100 * row['data_wait']:.0f}%"
        if "val_loss" in row:
            text += f" val {row['val_loss']:.4f}"
        print(("\r" if self.tty else "") + text, end="" if self.tty and step < self.total else "\n",
              file=sys.stderr, flush=True)


class RunLog:
    """What a run reports: rows in OUT/log.jsonl (rank 0 only), the progress line and messages on stderr (rank 0,
    unless quiet). A fresh run starts an empty log; a resumed one keeps the rows up to its checkpoint."""

    def __init__(self, out_dir: str, cfg: TrainConfig, master: bool, quiet: bool, resume_step: int | None):
        self.cfg, self.master, self.quiet = cfg, master, quiet
        self.progress = Progress(cfg.max_steps, master and not quiet)
        self.file = None
        if master:
            path = os.path.join(out_dir, LOG)
            os.makedirs(out_dir, exist_ok=True)
            if resume_step is not None:
                restart_log(path, resume_step)
            else:
                open(path, "w").close()
            self.file = open(path, "a")

    def say(self, text: str):
        if self.master and not self.quiet:
            print(f"refinery train: {text}", file=sys.stderr, flush=True)

    def note(self, step: int, text: str):
        """Something a reader of log.jsonl needs to know about the rows that follow (e.g. why mfu is null)."""
        if self.master:
            self.file.write(json.dumps({"step": step, "note": text}) + "\n")
        self.say(text)

    def step(self, step: int, row: dict, val_loss: float | None):
        if not self.master:
            return
        due = step % self.cfg.log_interval == 0 or step == self.cfg.max_steps
        if due:
            self.file.write(json.dumps(row) + "\n")
        if val_loss is not None:
            self.file.write(json.dumps({"step": step, "val_loss": val_loss}) + "\n")
        if due or val_loss is not None:
            self.file.flush()
            self.progress.update(step, row if val_loss is None else {**row, "val_loss": val_loss})

    def close(self):
        if self.file:
            self.file.close()
