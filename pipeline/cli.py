"""The `refinery` command."""

import argparse
import json
import os
import sys
import time


def _count_rows(run_dir: str) -> int | None:
    import pyarrow.parquet as pq

    from refinery.layout import RunLayout

    files = RunLayout(run_dir).document_files()
    if not files:
        return None
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def with_command_line(cfg, args):
    """The config with what `refinery run`'s options replace in it."""
    if args.base_url:
        cfg.base_url = args.base_url
    if args.tasks:
        cfg.tasks = args.tasks
    if args.workers:
        cfg.workers = args.workers
    return cfg


def start_forkserver_early(args) -> None:
    """Starts the forkserver before the config's stages are read (that imports every stage's module, ~0.6 s), when
    the config's executor and local input files already say the run forks task processes: its preload, the run's
    wall-time critical path, then starts that much sooner. Silent: anything unusual (an invalid config, remote
    input, a listing) is left to the run, which starts it itself once it knows the files."""
    from pipeline.config import load_config
    from pipeline.forkserver import forks_task_processes, start_forkserver
    from pipeline.inputs import is_listing, resolve_inputs

    try:
        cfg = with_command_line(load_config(args.config, stages=False), args)
        inputs = args.input or cfg.inputs
        if args.snapshot or not inputs or any("://" in path or is_listing(path) for path in inputs):
            return
        files = resolve_inputs(inputs, cfg.base_url, args.allow_foreign_entries, limit=args.limit_files or None,
                               policy=cfg.retry_policy()).files
        if forks_task_processes(cfg.executor, cfg.workers, len(files)):
            start_forkserver()
    except Exception:  # noqa: BLE001 - see the docstring
        return


def cmd_run(args) -> int:
    from pipeline.forkserver import stop_forkserver

    start_forkserver_early(args)
    running = []  # run_command appends to it once the run's phases start
    try:
        return run_command(args, running)
    except BaseException:
        # an error before the first phase (an invalid config, a locked output folder): a forkserver started for the
        # run may still be preloading, not to be left behind this process. Once phases ran it is left to
        # multiprocess's own exit (stopping its resource tracker then would unlink the run's semaphores under its
        # finalizers)
        if not running:
            stop_forkserver()
        raise


def run_command(args, running: list) -> int:
    from refinery.layout import RunLayout
    from pipeline.config import load_config
    from pipeline.forkserver import forks_task_processes, start_forkserver
    from pipeline.inputs import InputError, resolve_inputs, snapshot_listing
    from pipeline.run import check_inputs_outside_output, claim_output_folder, release_output_folder, run_pipeline
    from pipeline.sample_data import SAMPLE_NAME, write_sample

    cfg = with_command_line(load_config(args.config), args)
    output = args.output or os.path.join("runs", os.path.splitext(os.path.basename(args.config))[0])
    if args.snapshot and args.input:
        raise InputError("give --snapshot or --input, not both")
    inputs = [snapshot_listing(args.snapshot, cfg.base_url)] if args.snapshot else (args.input or cfg.inputs)
    layout = RunLayout(output)
    created = not os.path.lexists(output)
    lock = claim_output_folder(layout)  # before anything is written there, the sample included
    try:
        if not inputs:
            # no input anywhere: the bundled sample, generated once beside the run
            sample = os.path.join(layout.sample, SAMPLE_NAME)
            if not os.path.exists(sample):
                write_sample(os.path.dirname(sample))
            inputs = [sample]
        # with --limit-files, the first N files: a listing is read only up to its Nth entry, so a trial run is a
        # prefix of the full one
        resolved = resolve_inputs(inputs, cfg.base_url, args.allow_foreign_entries, limit=args.limit_files or None,
                                  policy=cfg.retry_policy())
        files = resolved.files
        if forks_task_processes(cfg.executor, cfg.workers, len(files)):
            start_forkserver()  # its imports run while this process does its own (below and in run_pipeline)
        from pipeline.console import RunConsole
        from pipeline.stats import collect_stats, format_funnel

        check_inputs_outside_output(layout, inputs, files)
        print(f"refinery: {len(files)} input file(s) -> {output} ({cfg.executor} executor)", flush=True)
        if resolved.refused:
            print(f"refinery: {len(resolved.refused)} listing entries refused (they lead out of the base "
                  f"{cfg.base_url}); listed in {layout.listing_errors}", flush=True)
        start = time.monotonic()
        console = RunConsole(verbose=args.verbose)
        ok = False
        try:
            running.append(True)
            result = run_pipeline(cfg, files, output, overwrite=args.overwrite, input_errors=resolved.refused,
                                  console=console)
            ok = True
        finally:
            console.close(ok)
        elapsed = time.monotonic() - start
    finally:
        release_output_folder(layout, lock, created)
    if result["jobs"]:
        for phase, job in result["jobs"].items():
            print(f"  {phase}: " + ("already complete" if job == -1 else f"Slurm job {job}"))
        print(f"submitted to Slurm in {elapsed:.1f}s; follow with `refinery stats {output}`; rerun this command to "
              f"resubmit tasks that failed")
        return 0
    print(format_funnel(collect_stats(output), _count_rows(output)))
    print(f"done in {elapsed:.1f}s: curated documents in {layout.documents}/")
    if result.get("failed_inputs"):
        print(f"refinery: error: {result['failed_inputs']}", file=sys.stderr)
        return 1
    return 0


def cmd_stats(args) -> int:
    from pipeline.stats import collect_stats, format_funnel

    if not os.path.isdir(args.dir):
        raise SystemExit(f"refinery stats: no such run folder: {args.dir}")
    if args.what_if:
        from pipeline.report import run_scrubber
        from pipeline.whatif import format_what_if, what_if

        stage, _, key = args.what_if.partition(".")
        result = what_if(args.dir, stage, key, scrubber=run_scrubber(args.dir))
        print(json.dumps(result, indent=1) if args.json else format_what_if(result))
        return 0
    stats = collect_stats(args.dir)
    if args.by_language:
        from pipeline.stats import format_language_funnel, language_funnel

        by_language = language_funnel(stats)
        print(json.dumps(by_language, indent=1) if args.json else format_language_funnel(by_language))
        return 0
    if args.compare:
        from pipeline.stats import compare_stats, format_compare

        if not os.path.isdir(args.compare):
            raise SystemExit(f"refinery stats: no such run folder: {args.compare}")
        other = collect_stats(args.compare)
        if args.json:
            print(json.dumps({"a": args.dir, "b": args.compare, "rows": compare_stats(stats, other)}, indent=1))
        else:
            print(format_compare(stats, other, args.dir, args.compare))
        return 0
    if args.json:
        print(json.dumps(stats, indent=1))
    else:
        print(format_funnel(stats, _count_rows(args.dir)))
    return 0


def cmd_sample_data(args) -> int:
    from pipeline.sample_data import write_sample

    path = write_sample(args.dir)
    print(f"wrote {path}")
    return 0


def cmd_report(args) -> int:
    from pipeline.report import write_report

    for d in (args.dir, args.compare):
        if d and not os.path.isdir(d):
            raise SystemExit(f"refinery report: no such run folder: {d}")
    path = write_report(args.dir, args.output, args.compare)
    print(f"wrote {path} ({os.path.getsize(path) / 1e3:.0f} KB); open it in a browser, it needs no network")
    return 0


def cmd_stages(args) -> int:
    from stages.registry import describe, markdown_table, registry_for

    registry = registry_for(args.plugin or [])
    if args.json:
        print(json.dumps(describe(registry), indent=1, default=str))
    elif args.markdown:
        print(markdown_table(registry))
    else:
        for s in describe(registry):
            print(f"{s['name']}: {s['summary']}")
            for k in s["keys"]:
                rng = f", {k['range']}" if k["range"] else ""
                print(f"    {k['name']} ({k['type']}{rng}; default {json.dumps(k['default'])}): {k['help']}")
            if s["funnel"]:
                print(f"    drops: {', '.join(s['reasons']) or 'nothing'} (and error)")
    return 0


def cmd_verify(args) -> int:
    from pipeline.verify import verify_run

    problems, checks = verify_run(args.dir)
    for p in problems:
        print(f"FAIL: {p}")
    if problems:
        print(f"refinery verify: {len(problems)} problem(s) in {args.dir}", file=sys.stderr)
        return 1
    print(f"refinery verify: {args.dir} is consistent ({checks} checks)")
    return 0


def cmd_filter(args) -> int:
    from pipeline.filter_run import filter_run

    result = filter_run(args.dir, args.where, args.output)
    print(f"kept {result['kept']:,} of {result['in']:,} documents ({result['dropped']:,} dropped as `where`) "
          f"-> {args.output}" + (f"; token shards with the tokenizer of {args.dir}" if result["shards"] else ""))
    return 0


def cmd_classifier_train(args) -> int:
    from pipeline.classifier import train_classifier

    train_classifier(args.positive, args.negative, args.out, max_per_class=args.max_per_class, holdout=args.holdout,
                     epoch=args.epoch, dim=args.dim, lr=args.lr, word_ngrams=args.word_ngrams, bucket=args.bucket,
                     min_count=args.min_count, seed=args.seed)
    return 0


def cmd_ablate(args) -> int:
    import time

    from pipeline.ablate import AblateError, AblationLayout, ablate, format_table
    from trainer.checkpoint import CheckpointError
    from trainer.config import TrainConfigError
    from trainer.data import DataError
    from trainer.evaluate import EvalError

    start = time.monotonic()
    try:
        results = ablate(args.configs, args.train, args.tokens, args.output, inputs=args.input, seeds=args.seeds,
                         task_files=args.task_file, tokenizer=args.tokenizer, device=args.device)
    except (AblateError, CheckpointError, TrainConfigError, DataError, EvalError) as e:
        print(f"refinery ablate: error: {e}", file=sys.stderr)
        return 2
    layout = AblationLayout(args.output)
    print(format_table(results))
    print(f"done in {time.monotonic() - start:.1f}s: {layout.results}, {layout.report}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="refinery", description="Common Crawl WARC -> curated pretraining data")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run the curation pipeline of a config")
    r.add_argument("config", help="YAML config, e.g. configs/sample.yaml")
    r.add_argument("--input", nargs="+", metavar="PATH_OR_URL", help="WARC files, quoted globs, folders, URLs or warc.paths.gz listings")
    r.add_argument("--base-url", help="base that relative entries of a listing resolve against")
    r.add_argument("--snapshot", metavar="CC-MAIN-YYYY-WW",
                   help="a Common Crawl snapshot: reads {base-url}/crawl-data/SNAPSHOT/warc.paths.gz")
    r.add_argument("--limit-files", type=int, metavar="N", help="only the first N input files (e.g. of a snapshot)")
    r.add_argument("--output", help="run folder (default: runs/<config file stem>)")
    r.add_argument("--tasks", type=int, help="Slurm array jobs per phase (a task is an input file; no effect locally or on Ray)")
    r.add_argument("--workers", type=int, help="tasks (input files) run at the same time")
    r.add_argument("--overwrite", action="store_true",
                   help="delete the outputs of a different run found in the output folder (only what refinery wrote)")
    r.add_argument("--allow-foreign-entries", action="store_true",
                   help="read listing entries that lead out of --base-url (another scheme or host, an absolute path)")
    r.add_argument("--verbose", action="store_true",
                   help="datatrove's task logs on the console too (they are always in DIR/logs/<phase>/logs/)")
    r.set_defaults(fn=cmd_run)

    s = sub.add_parser("stats", help="the funnel of a run: documents in, kept and dropped per reason, per stage")
    s.add_argument("dir")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--compare", metavar="DIR_B", help="a second run: both funnels side by side, with the change")
    s.add_argument("--what-if", metavar="STAGE.KEY",
                   help="how many documents (and how much text) would survive the stage as a function of that threshold "
                        "key, e.g. quality_classifier.threshold or language.threshold")
    s.add_argument("--by-language", action="store_true",
                   help="the funnel per language, from the language stage on (each stage's rows sum to its funnel row)")
    s.set_defaults(fn=cmd_stats)

    rp = sub.add_parser("report", help="a self-contained HTML report of a run (or two runs compared)")
    rp.add_argument("dir")
    rp.add_argument("-o", "--output", default="report.html", help="HTML file to write (default: report.html)")
    rp.add_argument("--compare", metavar="DIR_B", help="a second run: both side by side, with the change")
    rp.set_defaults(fn=cmd_report)

    st = sub.add_parser("stages", help="every stage in pipeline order: what it does, its keys and drop reasons")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.add_argument("--markdown", action="store_true", help="the README's stage table")
    st.add_argument("--plugin", action="append", metavar="MODULE:CLASS", help="include a stage class of your own")
    st.set_defaults(fn=cmd_stages)

    v = sub.add_parser("verify", help="check a run end to end (accounting, removed/, Parquet files, shards)")
    v.add_argument("dir")
    v.set_defaults(fn=cmd_verify)

    fl = sub.add_parser("filter", help="apply a condition on documents/ columns to a finished run, into a new run folder")
    fl.add_argument("dir", help="a finished run folder")
    fl.add_argument("--where", required=True, metavar="EXPR",
                    help='e.g. "quality_score >= 0.2 and language_score > 0.8": comparisons on numeric columns of '
                         "documents/, and/or/not, parentheses")
    fl.add_argument("--output", required=True, help="the new run folder (must not exist, or be empty)")
    fl.set_defaults(fn=cmd_filter)

    c = sub.add_parser("classifier", help="quality classifiers for stages.quality_classifier")
    csub = c.add_subparsers(dest="classifier_command", required=True)
    ct = csub.add_parser("train", help="train a fastText quality classifier (DCLM's recipe: word bigrams, balanced classes)")
    ct.add_argument("--positive", nargs="+", required=True, metavar="SRC",
                    help="high-quality texts (label hq): a run folder, a removed/<stage>/ folder, Parquet/JSONL "
                         "files or folders with a text column, or a text file of one document per line")
    ct.add_argument("--negative", nargs="+", required=True, metavar="SRC", help="low-quality texts (label lq), as --positive")
    ct.add_argument("--out", required=True, metavar="MODEL.bin", help="the model file to write")
    ct.add_argument("--max-per-class", type=int, default=None, metavar="N",
                    help="at most N texts per class (default: all of the smaller class)")
    ct.add_argument("--holdout", type=float, default=0.1, help="share of each class held out to measure (default 0.1)")
    ct.add_argument("--epoch", type=int, default=5, help="fastText epochs (default 5, DCLM's)")
    ct.add_argument("--dim", type=int, default=100, help="fastText vector size (default 100, DCLM's)")
    ct.add_argument("--lr", type=float, default=0.1, help="fastText learning rate (default 0.1, DCLM's)")
    ct.add_argument("--word-ngrams", type=int, default=2, help="word n-grams (default 2: DCLM's bigrams)")
    ct.add_argument("--bucket", type=int, default=2_000_000,
                    help="hash buckets for the n-grams (default 2000000, fastText's; the model holds bucket x dim floats)")
    ct.add_argument("--min-count", type=int, default=1, help="a word must occur this often (default 1)")
    ct.add_argument("--seed", type=int, default=1, help="seed of the sampling, the hold-out and fastText (default 1)")
    ct.set_defaults(fn=cmd_classifier_train)

    from trainer.cli import (add_eval_arguments, add_export_arguments, add_sample_arguments, add_train_arguments,
                             cmd_eval, cmd_export, cmd_sample, cmd_train)

    t = sub.add_parser("train", help="train a GPT on a run's token shards (under torchrun: DDP)")
    add_train_arguments(t)
    t.set_defaults(fn=cmd_train)

    g = sub.add_parser("sample", help="generate text from a training checkpoint")
    add_sample_arguments(g)
    g.set_defaults(fn=cmd_sample)

    e = sub.add_parser("eval", help="val loss, bits per byte and multiple-choice tasks of a training checkpoint")
    add_eval_arguments(e)
    e.set_defaults(fn=cmd_eval)

    x = sub.add_parser("export", help="a training checkpoint as a Hugging Face transformers model folder")
    add_export_arguments(x)
    x.set_defaults(fn=cmd_export)

    a = sub.add_parser("ablate", help="curate the same input under several configs, train the same model on each, "
                                      "compare them (val bits per byte, task accuracy)")
    a.add_argument("configs", nargs="+", metavar="CONFIG.yaml", help="two or more curation configs")
    a.add_argument("--input", nargs="+", metavar="PATH_OR_URL", help="as `refinery run --input`; default: the first "
                   "config's input, or the bundled sample")
    a.add_argument("--train", required=True, metavar="TRAIN.yaml", help="training config, e.g. configs/train/tiny.yaml")
    a.add_argument("--tokens", required=True, type=int, metavar="N",
                   help="training tokens per model (rounded up to whole optimizer steps)")
    a.add_argument("--seeds", type=int, default=2, help="trainings per config, seeds seed..seed+K-1 (default 2)")
    a.add_argument("--task-file", action="append", default=[], metavar="FILE", help="multiple-choice task file (repeatable)")
    a.add_argument("--tokenizer", metavar="tokenizer.json",
                   help="the shared tokenizer (default: one trained on the union of the curations)")
    a.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available, else cpu")
    a.add_argument("--output", required=True, help="the ablation folder (a rerun of the same command resumes it)")
    a.set_defaults(fn=cmd_ablate)

    d = sub.add_parser("sample-data", help="write the bundled sample WARC")
    d.add_argument("dir")
    d.set_defaults(fn=cmd_sample_data)
    return p


def main(argv=None) -> int:
    # tracebacks in task logs show code, not the values of variables (which hold page text)
    os.environ.setdefault("LOGURU_DIAGNOSE", "NO")
    from pipeline.config import ConfigError
    from pipeline.inputs import InputError
    from refinery.lock import FolderLocked
    from pipeline.preflight import PreflightError
    from pipeline.run import RunError
    from refinery.atomic import DiskFull
    from pipeline.classifier import SourceError
    from pipeline.filter_run import FilterError
    from pipeline.where import WhereError
    from pipeline.whatif import WhatIfError

    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (ConfigError, InputError, PreflightError, RunError, FolderLocked, DiskFull, SourceError, FilterError,
            WhereError, WhatIfError) as e:
        print(f"refinery: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
