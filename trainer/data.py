"""Streaming the Parquet token shards into (B, T+1) training windows.

The rows of a split, read row group by row group in an order shuffled per epoch, form one packed token
stream (epochs follow one another, so the stream never ends). Window g is tokens [g*T, g*T + T + 1): the
inputs are its first T tokens, the targets its last T, so every token is a target exactly once per
epoch and nothing is padded. Rank r of W takes windows r, r+W, r+2W, ...; its n-th micro-batch is
windows r + W*(n*B + b), b < B. Over all ranks, micro-batch n is therefore exactly windows
[n*B*W, (n+1)*B*W) -- what one process with batch W*B reads -- and no rank can run out before another.

The loader's position is one number, the windows consumed over all ranks, so a resumed run seeks straight
to it (row-group token counts come from the small num_tokens column) without replaying the stream.
"""

import bisect
import queue
import threading
import time
from collections import OrderedDict

import numpy as np
import pyarrow.parquet as pq
import torch

from refinery.layout import ShardLayout
from refinery.schema import SHARD_METADATA_KEYS


class DataError(ValueError):
    pass


def read_manifest(shards_dir: str) -> dict:
    path = ShardLayout(shards_dir).manifest
    try:
        manifest = ShardLayout(shards_dir).read_manifest()
    except FileNotFoundError:
        raise DataError(f"{path}: no token shards here (run `refinery run` with the tokenizer and shards stages "
                        "first; --data is the run folder that holds shards/)") from None
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: unreadable manifest: {e}") from None
    missing = [k for k in (*SHARD_METADATA_KEYS, "splits") if k not in manifest]
    if missing:
        raise DataError(f"{path}: manifest lacks {', '.join(missing)}")
    return manifest


class ShardStream:
    """The endless packed token stream of one split (see the module docstring)."""

    def __init__(self, shards_dir: str, split: str, seed: int, cache_groups: int = 4):
        self.manifest = read_manifest(shards_dir)
        if split not in self.manifest["splits"]:
            raise DataError(f"{ShardLayout(shards_dir).manifest}: no {split!r} split")
        self.seed = seed
        self.files: list[pq.ParquetFile] = []
        self.groups: list[tuple[int, int, int]] = []  # (file index, row group, tokens)
        for name in self.manifest["splits"][split]["shards"]:
            path = ShardLayout(shards_dir).shard(split, name)
            try:
                pf = pq.ParquetFile(path)
                meta = {k.decode(): v.decode() for k, v in (pf.schema_arrow.metadata or {}).items()}
                counts = [int(pf.read_row_group(i, columns=["num_tokens"]).column(0).to_numpy().sum())
                          for i in range(pf.num_row_groups)]
            except (OSError, KeyError, ValueError) as e:
                raise DataError(f"{path}: unreadable token shard: {e}") from None
            if meta.get("tokenizer_sha256") != self.manifest["tokenizer_sha256"]:
                raise DataError(f"{path}: tokenizer_sha256 {meta.get('tokenizer_sha256')} differs from the "
                                f"manifest's {self.manifest['tokenizer_sha256']} (shards from different runs?)")
            self.files.append(pf)
            self.groups += [(len(self.files) - 1, i, n) for i, n in enumerate(counts) if n]
        self.epoch_tokens = sum(n for _, _, n in self.groups)
        if not self.epoch_tokens:
            raise DataError(f"{shards_dir}: the {split} split holds no tokens")
        self._epoch_layout: tuple[int, np.ndarray, list[int]] | None = None
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_groups = cache_groups

    def _layout(self, epoch: int):
        if self._epoch_layout is None or self._epoch_layout[0] != epoch:
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.groups))
            starts = np.concatenate([[0], np.cumsum([self.groups[g][2] for g in order])[:-1]]).tolist()
            self._epoch_layout = (epoch, order, starts)
        return self._epoch_layout[1:]

    def _group_tokens(self, g: int) -> np.ndarray:
        if g in self._cache:
            self._cache.move_to_end(g)
            return self._cache[g]
        f, rg, _ = self.groups[g]
        col = self.files[f].read_row_group(rg, columns=["input_ids"]).column(0).combine_chunks()
        tokens = col.flatten().to_numpy()
        self._cache[g] = tokens
        if len(self._cache) > self._cache_groups:
            self._cache.popitem(last=False)
        return tokens

    def read(self, start: int, length: int) -> np.ndarray:
        """Tokens [start, start + length) of the stream, as int64."""
        out = np.empty(length, dtype=np.int64)
        filled = 0
        while filled < length:
            epoch, offset = divmod(start + filled, self.epoch_tokens)
            order, starts = self._layout(epoch)
            i = bisect.bisect_right(starts, offset) - 1
            tokens = self._group_tokens(int(order[i]))
            a = offset - starts[i]
            n = min(len(tokens) - a, length - filled)
            out[filled : filled + n] = tokens[a : a + n]
            filled += n
        return out


class WindowLoader:
    """Micro-batches (x, y) of shape (B, T) for one rank, prefetched by a background thread."""

    def __init__(self, stream: ShardStream, batch_size: int, block_size: int, rank: int = 0, world_size: int = 1,
                 windows_consumed: int = 0, device: str = "cpu", prefetch: int = 4):
        per_micro = batch_size * world_size
        if windows_consumed % per_micro:
            raise DataError(f"loader position {windows_consumed} windows is not a whole number of micro-batches of "
                            f"{batch_size} x {world_size} ranks (batch size or rank count changed since the checkpoint?)")
        self.stream, self.B, self.T, self.rank, self.W = stream, batch_size, block_size, rank, world_size
        self.n = windows_consumed // per_micro  # micro-batches this rank has handed out
        self.device = torch.device(device)
        self.prefetch = prefetch
        self.wait_s = 0.0  # time the consumer spent blocked on data
        self._queue: queue.Queue | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def windows_consumed(self) -> int:
        return self.n * self.B * self.W

    def state(self) -> dict:
        return {"windows_consumed": self.windows_consumed, "block_size": self.T, "seed": self.stream.seed}

    def windows_at(self, n: int) -> torch.Tensor:
        """This rank's n-th micro-batch as (B, T+1) windows: inputs are [:, :-1], targets [:, 1:]."""
        B, T, W = self.B, self.T, self.W
        first = self.rank + W * n * B  # this rank's first window of the micro-batch
        span = self.stream.read(first * T, W * (B - 1) * T + T + 1)
        return torch.from_numpy(np.stack([span[b * W * T : b * W * T + T + 1] for b in range(B)]))

    def _produce(self, n: int):
        try:
            while not self._stop.is_set():
                windows = self.windows_at(n)
                if self.device.type == "cuda":
                    windows = windows.pin_memory()
                while not self._stop.is_set():
                    try:
                        self._queue.put(windows, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                n += 1
        except BaseException as e:  # surfaced in the training loop, not lost in a thread
            self._queue.put(e)

    def __iter__(self):
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._thread is None:
            self._queue = queue.Queue(maxsize=max(1, self.prefetch))
            self._thread = threading.Thread(target=self._produce, args=(self.n,), daemon=True)
            self._thread.start()
        start = time.perf_counter()
        item = self._queue.get()
        self.wait_s += time.perf_counter() - start
        if isinstance(item, BaseException):
            raise item
        self.n += 1
        # one host-to-device copy of the (B, T+1) windows; inputs and targets are views of it
        windows = item.to(self.device, non_blocking=self.device.type == "cuda")
        return windows[:, :-1], windows[:, 1:]

    def close(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
