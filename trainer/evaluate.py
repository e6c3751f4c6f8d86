"""`refinery eval CKPT --data RUN_DIR [...] [--task-file FILE ...]`: what a checkpoint's model knows.

Loss and bits per byte on a run's val split
  The val documents are the rows of RUN_DIR/shards/val (the id-hash split `refinery run` made); their text comes
  from RUN_DIR/documents/ and is tokenized with the checkpoint's tokenizer, so a run made with another tokenizer
  (or the same one) is measured the same way. Each document is scored on its own as [EOS] + text + [EOS]: the
  leading EOS is the context (in training every document follows the previous one's EOS); every text token and
  the closing EOS are predicted. A document longer than the model's block_size is scored with sliding windows of
  block_size tokens advancing by block_size / 2, each token predicted once, with at least block_size / 2 tokens of
  context after the first window; no token is predicted across a document boundary.
    loss = summed negative log-likelihood (nats) / predicted tokens (EOS included)
    bpb  = summed negative log-likelihood / (UTF-8 bytes of the texts x ln 2)
  so bpb = loss x tokens / (bytes x ln 2): the EOS predictions count in the numerator, no bytes in the
  denominator, and a tokenizer that cuts text into fewer tokens gains nothing by it.

Zero-shot multiple choice on local task files (JSONL, one item a line)
  {"id": "q1", "context": "The sky is", "choices": [" blue", " green"], "gold": 0}
  or per-choice contexts (WinoGrande): {"contexts": ["... Anna", "... Maria"], "choices": [" was happy."], ...}
  with one continuation shared by all (a `choices` list of length 1) or one per context. Scored as
  lm-evaluation-harness scores loglikelihood requests: whitespace at the end of a context moves to the front of
  the continuation, the continuation's tokens are those of tokenize(context + continuation) after the context's,
  context and continuation are cut from the left to block_size + 1 tokens; each context follows an EOS (a
  document boundary, as in training; the harness does the same with add_bos_token=True on the exported model).
    acc      = the choice with the largest summed continuation log-likelihood is gold
    acc_norm = the same, the log-likelihood divided by the continuation's UTF-8 bytes
    centered = (acc - chance) / (1 - chance), chance = the mean of 1/len(choices) over the items (DCLM's CORE
               centring); core = the mean of centered over the task files.
"""

import json
import math
import os
import time

import pyarrow.parquet as pq
import torch
from torch.nn import functional as F

from refinery.layout import RunLayout


class EvalError(ValueError):
    pass


# ---- log-likelihood of token windows ------------------------------------------------------------------------


@torch.no_grad()
def window_logprobs(model, windows: list[tuple[list[int], int]], device="cpu", batch_tokens: int | None = None) -> list[tuple[float, int]]:
    """windows: (tokens, first) with len(tokens) <= block_size + 1 and first >= 1: the log-probability of
    tokens[first:], each given the tokens before it. Returns (summed log-prob, number of tokens) per window.
    batch_tokens: logits held at once (batch x block_size x padded vocabulary); default 16M on CPU, 256M on CUDA."""
    batch_tokens = batch_tokens or (2**28 if str(device).startswith("cuda") else 2**24)
    V = model.vocab_size
    T = model.cfg.block_size
    per_batch = max(1, min(256, batch_tokens // (T * model.wte.weight.size(0))))
    order = sorted(range(len(windows)), key=lambda i: -len(windows[i][0]))
    out: list[tuple[float, int]] = [(0.0, 0)] * len(windows)
    for b in range(0, len(order), per_batch):
        idx = order[b : b + per_batch]
        L = max(len(windows[i][0]) for i in idx) - 1
        x = torch.zeros((len(idx), L), dtype=torch.long)
        y = torch.zeros((len(idx), L), dtype=torch.long)
        mask = torch.zeros((len(idx), L), dtype=torch.bool)
        for r, i in enumerate(idx):
            tokens, first = windows[i]
            n = len(tokens) - 1
            if n > T or first < 1:
                raise ValueError(f"window of {len(tokens)} tokens from {first}: outside block_size {T}")
            x[r, :n] = torch.tensor(tokens[:-1])
            y[r, :n] = torch.tensor(tokens[1:])
            mask[r, first - 1 : n] = True
        logits = model(x.to(device))[:, :, :V].float()
        nll = F.cross_entropy(logits.reshape(-1, V), y.to(device).reshape(-1), reduction="none").view(len(idx), L)
        nll = (nll * mask.to(device)).sum(dim=1).cpu()
        for r, i in enumerate(idx):
            out[i] = (-float(nll[r]), int(mask[r].sum()))
    return out


def document_windows(ids: list[int], eos_id: int, block_size: int) -> list[tuple[list[int], int]]:
    """[EOS] + ids + [EOS] as windows of at most block_size + 1 tokens that predict every token after the first
    exactly once (see the module docstring)."""
    s = [eos_id, *ids, eos_id]
    n = len(s) - 1  # targets s[1..n]
    T, stride = block_size, max(1, block_size // 2)
    end = min(n, T)
    windows = [(s[: end + 1], 1)]
    scored = end
    while scored < n:
        end = min(n, scored + stride)
        start = end - T
        windows.append((s[start : end + 1], scored + 1 - start))
        scored = end
    return windows


# ---- the val split of a run -----------------------------------------------------------------------------------


def val_documents(run_dir: str, limit: int | None = None) -> list[str]:
    """The texts of a run's val documents (RUN/shards/val's doc ids, texts from RUN/documents/), sorted by id;
    limit: only the first N of them by id (the same N documents in every run that kept them)."""
    run = RunLayout(run_dir)
    shards = run.shards
    try:
        manifest = shards.read_manifest()
    except (OSError, ValueError) as e:
        raise EvalError(f"{run_dir}: no readable shards/manifest.json ({e}); --data is a run folder made with the "
                        "tokenizer and shards stages") from None
    val = manifest.get("splits", {}).get("val", {})
    ids = set()
    for name in val.get("shards", []):
        ids.update(pq.read_table(shards.shard("val", name), columns=["doc_id"]).column(0).to_pylist())
    if not ids:
        raise EvalError(f"{run_dir}: the val split holds no documents (shards.val_fraction is 0?)")
    if limit:
        ids = set(sorted(ids)[:limit])
    files = run.document_files()
    if not files:
        raise EvalError(f"{run_dir}: no documents/*.parquet: the val texts are read from there")
    texts = {}
    for path in files:
        table = pq.read_table(path, columns=["id", "text"])
        for doc_id, text in zip(table.column("id").to_pylist(), table.column("text").to_pylist()):
            if doc_id in ids:
                texts[doc_id] = text
    missing = ids - texts.keys()
    if missing:
        raise EvalError(f"{run_dir}: {len(missing)} val documents of shards/ are not in documents/ (e.g. "
                        f"{sorted(missing)[0]}): the folder's shards and documents are from different runs")
    return [texts[i] for i in sorted(texts)]


def text_loss(model, tok, eos_id: int, texts: list[str], device="cpu") -> dict:
    """Loss (nats per predicted token) and bits per UTF-8 byte of texts, each scored as its own document."""
    windows = []
    for enc in tok.encode_batch(texts, add_special_tokens=False):
        windows += document_windows(enc.ids, eos_id, model.cfg.block_size)
    scored = window_logprobs(model, windows, device)
    nll = -sum(lp for lp, _ in scored)
    tokens = sum(n for _, n in scored)
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    return {"loss": nll / tokens, "bpb": nll / (max(1, nbytes) * math.log(2)), "tokens": tokens, "bytes": nbytes,
            "documents": len(texts)}


# ---- multiple-choice task files -------------------------------------------------------------------------------


def load_task_file(path: str) -> list[dict]:
    """The items of a task file, checked; each as {"id", "contexts": [...], "choices": [...], "gold"}."""
    items = []
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        raise EvalError(f"{path}: {e.strerror}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            item = json.loads(line)
        except ValueError as e:
            raise EvalError(f"{where}: not JSON: {e}") from None
        if not isinstance(item, dict):
            raise EvalError(f"{where}: expected an object")
        choices = item.get("choices")
        if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
            raise EvalError(f"{where}: `choices` must be a non-empty list of strings")
        if "contexts" in item:
            contexts = item["contexts"]
            if not isinstance(contexts, list) or not contexts or not all(isinstance(c, str) for c in contexts):
                raise EvalError(f"{where}: `contexts` must be a non-empty list of strings")
            if len(choices) == 1:
                choices = choices * len(contexts)
            if len(choices) != len(contexts):
                raise EvalError(f"{where}: {len(contexts)} contexts but {len(choices)} choices (give one continuation "
                                "for all, or one per context)")
        elif isinstance(item.get("context"), str):
            contexts = [item["context"]] * len(choices)
        else:
            raise EvalError(f"{where}: needs `context` (a string) or `contexts` (a list of strings)")
        gold = item.get("gold")
        if not isinstance(gold, int) or isinstance(gold, bool) or not 0 <= gold < len(choices):
            raise EvalError(f"{where}: `gold` must be the index of the right choice (0 to {len(choices) - 1})")
        if len(choices) < 2:
            raise EvalError(f"{where}: a multiple-choice item needs at least two choices")
        items.append({"id": item.get("id", f"{os.path.basename(path)}:{n}"), "contexts": contexts, "choices": choices,
                      "gold": gold})
    if not items:
        raise EvalError(f"{path}: no items")
    return items


def task_name(path: str) -> str:
    name = os.path.basename(path)
    for ext in (".jsonl", ".json"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def choice_window(tok, eos_id: int, context: str, continuation: str, block_size: int) -> tuple[list[int], int]:
    spaces = len(context) - len(context.rstrip())
    if spaces:  # lm-evaluation-harness: trailing whitespace of the context belongs to the continuation
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    ctx = tok.encode(context, add_special_tokens=False).ids if context else []
    whole = tok.encode(context + continuation, add_special_tokens=False).ids
    cont = whole[len(ctx):]
    tokens = ([eos_id] + ctx + cont)[-(block_size + 1):]
    return tokens, max(1, len(tokens) - len(cont))


def score_task(model, tok, eos_id: int, items: list[dict], device="cpu") -> dict:
    windows = [choice_window(tok, eos_id, c, ch, model.cfg.block_size)
               for it in items for c, ch in zip(it["contexts"], it["choices"])]
    scored = iter(window_logprobs(model, windows, device))
    acc = acc_norm = chance = 0.0
    for it in items:
        ll = [next(scored)[0] for _ in it["choices"]]
        norm = [l / max(1, len(ch.encode("utf-8"))) for l, ch in zip(ll, it["choices"])]
        acc += max(range(len(ll)), key=ll.__getitem__) == it["gold"]
        acc_norm += max(range(len(norm)), key=norm.__getitem__) == it["gold"]
        chance += 1 / len(it["choices"])
    n = len(items)
    acc, acc_norm, chance = acc / n, acc_norm / n, chance / n
    return {"acc": acc, "acc_norm": acc_norm, "centered": (acc - chance) / (1 - chance), "chance": chance, "items": n}


# ---- the whole evaluation ---------------------------------------------------------------------------------------


def evaluate_model(model, tok, eos_id: int, runs: list[str], task_files: list[str], device="cpu",
                   run_names: list[str] | None = None, val_docs: int | None = None) -> dict:
    tasks_items = {task_name(p): load_task_file(p) for p in task_files}  # bad files fail before any scoring
    result = {"runs": {}, "tasks": {}, "core": None}
    t0 = time.perf_counter()
    for name, run in zip(run_names or runs, runs):
        result["runs"][name] = text_loss(model, tok, eos_id, val_documents(run, val_docs), device)
    for name, items in tasks_items.items():
        result["tasks"][name] = score_task(model, tok, eos_id, items, device)
    if result["tasks"]:
        result["core"] = sum(t["centered"] for t in result["tasks"].values()) / len(result["tasks"])
    result["seconds"] = round(time.perf_counter() - t0, 3)
    return result


def evaluate_checkpoint(checkpoint: str, runs: list[str], task_files: list[str], device="cpu",
                        val_docs: int | None = None) -> dict:
    from trainer.checkpoint import load_for_inference, resolve_checkpoint

    model, tok, vocab = load_for_inference(checkpoint, device)
    result = evaluate_model(model, tok, vocab["eos_id"], runs, task_files, device, val_docs=val_docs)
    return {"checkpoint": resolve_checkpoint(checkpoint), **result}


def format_result(result: dict) -> str:
    lines = []
    for run, r in result["runs"].items():
        lines.append(f"val {run}: loss {r['loss']:.4f}, {r['bpb']:.4f} bits per byte ({r['documents']} documents, "
                     f"{r['tokens']:,} tokens, {r['bytes']:,} bytes)")
    for name, t in result["tasks"].items():
        lines.append(f"task {name}: acc {t['acc']:.4f}, acc_norm {t['acc_norm']:.4f}, centered {t['centered']:+.4f} "
                     f"({t['items']} items, chance {t['chance']:.3f})")
    if result["core"] is not None:
        lines.append(f"core (mean centered accuracy over {len(result['tasks'])} task(s)): {result['core']:+.4f}")
    lines.append(f"evaluated in {result['seconds']:.1f}s")
    return "\n".join(lines)
