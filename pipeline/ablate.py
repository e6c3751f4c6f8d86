"""`refinery ablate A.yaml B.yaml [...] --train TRAIN.yaml --tokens N --output DIR`: which curation trains the better
model. The same input is curated under each config, one tokenizer is shared by all, the same model is trained on
the same number of tokens from each curation with K seeds, and every model is evaluated on every curation's val
split (and the task files). Rerunning the same command resumes: finished curation tasks, shards, checkpoints and
evaluations are kept, an interrupted training continues from its newest checkpoint.

    DIR/
      ablate.json                    what the ablation is (configs, inputs, training, tokens, seeds, tokenizer,
                                     task files): a rerun with anything else is refused
      sample/                        the bundled sample, when no --input is given
      runs/<name>/                   `refinery run` of each config (its tokenizer and shards stages left out)
      tokenizer/tokenizer.json       the shared tokenizer (--tokenizer, or trained on the union of the curations)
      data/<name>/                   the curation tokenized with it: tokenizer/, shards/, documents -> runs/<name>/
      models/<name>/seed<k>/         checkpoints and log.jsonl of each training
      evals/<name>/seed<k>.json      `refinery eval` of its final checkpoint
      results.json, report.html      the table, and the loss curves side by side
"""

import dataclasses
import hashlib
import html
import json
import math
import os
import statistics

from refinery.atomic import atomic_path, write_json_atomic
from refinery.layout import RunLayout
from refinery.lock import FolderLock


class AblateError(RuntimeError):
    pass


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def config_names(paths: list[str]) -> list[str]:
    """Each config's file stem; stems given twice get their position appended."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    return [s if stems.count(s) == 1 else f"{s}-{i + 1}" for i, s in enumerate(stems)]


class AblationLayout:
    def __init__(self, root: str):
        self.root = root

    def path(self, *parts) -> str:
        return os.path.join(self.root, *parts)

    marker = property(lambda self: self.path("ablate.json"))
    sample = property(lambda self: self.path("sample"))
    tokenizer = property(lambda self: self.path("tokenizer", "tokenizer.json"))
    results = property(lambda self: self.path("results.json"))
    report = property(lambda self: self.path("report.html"))

    def run(self, name: str) -> str:
        return self.path("runs", name)

    def data(self, name: str) -> str:
        return self.path("data", name)

    def model(self, name: str, seed: int) -> str:
        return self.path("models", name, f"seed{seed}")

    def eval(self, name: str, seed: int) -> str:
        return self.path("evals", name, f"seed{seed}.json")


def _curation_config(path: str):
    from pipeline.config import load_config

    cfg = load_config(path)
    stages = dict(cfg.stages)
    tok, shards = stages.pop("tokenizer", None), stages.pop("shards", None)
    return dataclasses.replace(cfg, stages=stages), tok or {}, shards or {}


def _union_texts(runs: list[str]):
    """The documents of every curation, round-robin between them, each id once."""
    import pyarrow.parquet as pq

    iters = []
    for run in runs:
        def docs(run=run):
            for path in RunLayout(run).document_files():
                for batch in pq.ParquetFile(path).iter_batches(batch_size=500, columns=["id", "text"]):
                    yield from zip(batch.column("id").to_pylist(), batch.column("text").to_pylist())
        iters.append(docs())
    seen = set()
    while iters:
        for it in list(iters):
            item = next(it, None)
            if item is None:
                iters.remove(it)
            elif item[0] not in seen:
                seen.add(item[0])
                yield item[1]


def ablate(configs: list[str], train_config: str, tokens: int, output: str, inputs: list[str] | None = None,
           seeds: int = 2, task_files: list[str] = (), tokenizer: str | None = None, device: str | None = None,
           log=print) -> dict:
    from pipeline.console import RunConsole
    from pipeline.inputs import resolve_inputs
    from pipeline.run import claim_output_folder, release_output_folder, run_pipeline, sweep_temp_files
    from pipeline.sample_data import SAMPLE_NAME, write_sample
    from stages.token_shards import write_token_shards
    from stages.tokenizer import build_tokenizer, load_existing_tokenizer
    from trainer.checkpoint import list_checkpoints, resolve_checkpoint, sweep_partial_checkpoints
    from trainer.config import load_train_config
    from trainer.evaluate import evaluate_checkpoint, load_task_file

    if len(configs) < 2:
        raise AblateError("give two or more curation configs to compare")
    if seeds < 1 or tokens < 1:
        raise AblateError("--seeds and --tokens must be positive")
    names = config_names(configs)
    parsed = [_curation_config(c) for c in configs]
    for path, (cfg, _, _) in zip(configs, parsed):
        if cfg.executor == "slurm":
            raise AblateError(f"{path}: executor slurm submits the curation and returns; ablate trains on its result "
                              "in the same command, so curate with the local or ray executor")
    train_cfg = load_train_config(train_config)
    steps = max(1, math.ceil(tokens / train_cfg.tokens_per_step))
    for f in task_files:
        load_task_file(f)  # a bad task file fails now, not after the training
    if tokenizer:
        load_existing_tokenizer(tokenizer)
    tok_params = next((t for _, t, _ in parsed if t), {})
    shard_params = next((s for _, _, s in parsed if s), {})
    vocab_size = tok_params.get("vocab_size", 32768)
    val_fraction = shard_params.get("val_fraction", 0.01)
    layout = AblationLayout(output)
    lock = FolderLock(output, "refinery ablate").acquire()
    try:
        # the input, resolved once: every config curates the same files
        inputs = list(inputs or parsed[0][0].inputs)
        if not inputs:
            sample = os.path.join(layout.sample, SAMPLE_NAME)
            if not os.path.exists(sample):
                write_sample(layout.sample)
            inputs = [sample]
        files = resolve_inputs(inputs, parsed[0][0].base_url).files
        identity = {
            "configs": {n: _sha256(c) for n, c in zip(names, configs)},
            "inputs": files,
            "train": {"sha256": _sha256(train_config), "steps": steps, "tokens_per_step": train_cfg.tokens_per_step},
            "seeds": seeds,
            "tokenizer": _sha256(tokenizer) if tokenizer else {"trained_on": "union", "vocab_size": vocab_size},
            "val_fraction": val_fraction,
            "tasks": {os.path.basename(t): _sha256(t) for t in task_files},
        }
        if os.path.exists(layout.marker):
            with open(layout.marker) as f:
                old = json.load(f)
            if old != identity:
                changed = sorted(k for k in identity if old.get(k) != identity[k])
                raise AblateError(f"{output} holds another ablation (it differs in {', '.join(changed)}); choose "
                                  "another --output")
        elif os.path.isdir(output) and set(os.listdir(output)) - {".refinery.lock", "sample"}:
            raise AblateError(f"{output} is not empty and holds no ablation; choose another --output")
        write_json_atomic(layout.marker, identity)

        # 1. curate the input under each config
        for name, (cfg, _, _) in zip(names, parsed):
            run = RunLayout(layout.run(name))
            log(f"refinery ablate: curating with {name} -> {run.root}")
            run_lock = claim_output_folder(run)
            console, ok = RunConsole(verbose=False), False
            try:
                run_pipeline(cfg, files, run.root, log=lambda *a: None, console=console)
                ok = True
            finally:
                console.close(ok)
                release_output_folder(run, run_lock, False)

        # 2. one tokenizer for all, and each curation's shards made with it
        if not os.path.exists(layout.tokenizer):
            log("refinery ablate: " + (f"tokenizer {tokenizer}" if tokenizer else
                                        f"training a {vocab_size}-token tokenizer on the union of the curations"))
            build_tokenizer(_union_texts([layout.run(n) for n in names]), layout.tokenizer, vocab_size,
                            tok_params.get("sample_chars", 200_000_000), tok_params.get("min_frequency", 2), tokenizer)
        tok_sha = _sha256(layout.tokenizer)
        for name in names:
            data = RunLayout(layout.data(name))
            os.makedirs(data.root, exist_ok=True)
            if not os.path.lexists(data.documents):
                os.symlink(os.path.relpath(RunLayout(layout.run(name)).documents, data.root), data.documents)
            done = os.path.exists(data.shards.manifest) and data.shards.read_manifest().get("tokenizer_sha256") == tok_sha
            if not done:
                sweep_temp_files(data)  # what a killed shard writer left (the ablation's lock is held)
                os.makedirs(os.path.dirname(data.tokenizer), exist_ok=True)
                with atomic_path(data.tokenizer, "tokenizer") as tmp:
                    with open(layout.tokenizer, "rb") as src, open(tmp, "wb") as dst:
                        dst.write(src.read())
                write_token_shards(data.documents, data.tokenizer, data.shards.root, val_fraction=val_fraction,
                                   seed=shard_params.get("seed", 1234), row_group_rows=shard_params.get("row_group_rows", 1000),
                                   language_weights=shard_params.get("language_weights"))

        # 3. the same model, the same number of tokens, K seeds, on each curation
        from trainer.train import train

        for name in names:
            for k in range(seeds):
                out = layout.model(name, k)
                ckpts = list_checkpoints(out)
                if ckpts and int(ckpts[-1][5:]) >= steps:
                    continue
                cfg = dataclasses.replace(train_cfg, seed=train_cfg.seed + k)
                log(f"refinery ablate: training on {name}, seed {k} ({steps} steps of {train_cfg.tokens_per_step:,} "
                    f"tokens)" + (f", resumed from {ckpts[-1]}" if ckpts else ""))
                with FolderLock(out, "refinery ablate"):
                    sweep_partial_checkpoints(out)
                    train(cfg, layout.data(name), out, steps, device, resume=bool(list_checkpoints(out)), quiet=True)

        # 4. every model on every curation's val split and the task files
        import torch

        eval_device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        for name in names:
            for k in range(seeds):
                path = layout.eval(name, k)
                if os.path.exists(path):
                    continue
                log(f"refinery ablate: evaluating {name}, seed {k}")
                r = evaluate_checkpoint(resolve_checkpoint(layout.model(name, k)), [layout.data(n) for n in names],
                                        list(task_files), eval_device)
                r["runs"] = dict(zip(names, r["runs"].values()))
                write_json_atomic(path, r)

        results = collect_results(layout, names, seeds, steps, train_cfg.tokens_per_step)
        write_json_atomic(layout.results, results)
        with atomic_path(layout.report, "HTML report") as tmp, open(tmp, "w") as f:
            f.write(html_report(results))
        return results
    finally:
        lock.release()


def _curve(out_dir: str) -> dict:
    rows = [json.loads(line) for line in open(os.path.join(out_dir, "log.jsonl")) if line.strip()]
    return {"train": [(r["step"], r["loss"]) for r in rows if "loss" in r],
            "val": [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]}


def _spread(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "min": min(values), "max": max(values), "values": values}


def collect_results(layout: AblationLayout, names: list[str], seeds: int, steps: int, tokens_per_step: int) -> dict:
    import pyarrow.parquet as pq

    out = {"steps": steps, "tokens": steps * tokens_per_step, "seeds": seeds, "configs": {}}
    for name in names:
        evals = [json.load(open(layout.eval(name, k))) for k in range(seeds)]
        run = RunLayout(layout.run(name))
        manifest = RunLayout(layout.data(name)).shards.read_manifest()
        entry = {
            "documents": sum(pq.ParquetFile(f).metadata.num_rows for f in run.document_files()),
            "train_tokens": manifest["splits"]["train"]["tokens"],
            "val": {n: {"loss": _spread([e["runs"][n]["loss"] for e in evals]),
                        "bpb": _spread([e["runs"][n]["bpb"] for e in evals])} for n in names},
            "tasks": {t: {m: _spread([e["tasks"][t][m] for e in evals]) for m in ("acc", "acc_norm", "centered")}
                      for t in evals[0]["tasks"]},
            "core": _spread([e["core"] for e in evals]) if evals[0]["core"] is not None else None,
            "curves": [_curve(layout.model(name, k)) for k in range(seeds)],
        }
        entry["epochs"] = out["tokens"] / max(1, entry["train_tokens"])
        out["configs"][name] = entry
    return out


def _cell(s: dict, digits: int = 4) -> str:
    return f"{s['mean']:.{digits}f} ±{(s['max'] - s['min']) / 2:.{digits}f}"


def format_table(results: dict) -> str:
    names = list(results["configs"])
    first = results["configs"][names[0]]
    header = ["config", "documents", "train tokens", "epochs"] + [f"bpb on {n} val" for n in names]
    header += [f"{t} acc" for t in first["tasks"]] + (["core"] if first["core"] else [])
    rows = [header]
    for name, c in results["configs"].items():
        row = [name, f"{c['documents']:,}", f"{c['train_tokens']:,}", f"{c['epochs']:.1f}"]
        row += [_cell(c["val"][n]["bpb"]) for n in names]
        row += [_cell(c["tasks"][t]["acc"], 3) for t in c["tasks"]]
        if c["core"]:
            row.append(_cell(c["core"], 3))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"each model: {results['steps']} steps, {results['tokens']:,} tokens; mean ±half the range over "
                 f"{results['seeds']} seed(s); bits per byte: lower is better")
    return "\n".join(lines)


def html_report(results: dict) -> str:
    """One page: the table, and each config's loss curves (every seed's train loss, val loss as dots) side by side
    on the same axes. Inline SVG: no script, no network."""
    configs = results["configs"]
    points = [v for c in configs.values() for cur in c["curves"] for key in ("train", "val") for _, v in cur[key]]
    lo, hi = (min(points), max(points)) if points else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1
    W, H, P = 360, 240, 36
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    steps = max(1, results["steps"])

    def xy(step, v):
        return P + (W - 2 * P) * step / steps, H - P - (H - 2 * P) * (v - lo) / (hi - lo)

    panels = []
    for name, c in configs.items():
        parts = [f'<rect x="{P}" y="{P}" width="{W - 2 * P}" height="{H - 2 * P}" fill="none" stroke="#999"/>',
                 f'<text x="{W / 2}" y="20" text-anchor="middle" font-weight="bold">{html.escape(name)}</text>',
                 f'<text x="4" y="{P + 4}" font-size="10">{hi:.2f}</text>',
                 f'<text x="4" y="{H - P}" font-size="10">{lo:.2f}</text>',
                 f'<text x="{W - P}" y="{H - P + 14}" font-size="10" text-anchor="end">step {steps}</text>']
        for k, cur in enumerate(c["curves"]):
            color = colors[k % len(colors)]
            line = " ".join("%.1f,%.1f" % xy(s, v) for s, v in cur["train"])
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.2" points="{line}"/>')
            parts += ['<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (*xy(s, v), color) for s, v in cur["val"]]
            parts.append(f'<text x="{W - P - 4}" y="{P + 14 + 12 * k}" font-size="10" text-anchor="end" '
                         f'fill="{color}">seed {k}</text>')
        panels.append(f'<svg width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>')
    table = html.escape(format_table(results))
    return ("<!doctype html><html><head><meta charset='utf-8'><title>refinery ablation</title></head><body>"
            "<h1>refinery ablation</h1><pre>" + table + "</pre>"
            "<h2>Loss curves</h2><p>Lines: training loss per step, one colour per seed; dots: validation loss "
            "(the curation's own val split). Same axes in every panel.</p><div style='display:flex;flex-wrap:wrap'>"
            + "".join(panels) + "</div></body></html>")
