"""Quality, speed and memory of refinery's MinHash dedup (stages/minhash_dedup.py), on a synthetic corpus.

    python bench/dedup_quality.py [--sizes 10000,100000] [--large] [--tiny] [--seed N]

Three measurements, with FineWeb's settings (configs/fineweb.yaml: word 5-grams, 112 permutations in
14 bands x 8 rows):
  1. quality: unrelated documents (random word sequences, 300-800 words, from a 20k-word Zipfian vocabulary,
     so two of them share ~no 5-gram) plus planted near-duplicate pairs whose exact 5-gram Jaccard similarity
     (measured with refinery's own `shingles()`) lies in the bins 0.5, 0.6, ... 1.0. refinery's four phases
     (signatures in 2 tasks, buckets, clusters, the minhash_dedup filter) run on it in a temporary folder.
     Printed per bin: recall (share of pairs of which one document was removed) next to what 14x8 LSH
     promises at that similarity, 1-(1-s^8)^14 (averaged over the pairs' measured s); and the false-positive
     rate (unrelated documents removed / unrelated documents).
  2. signature throughput: refinery's MinhashSignatureStep against datatrove's MinhashDedupSignature
     (datatrove MinhashConfig: 14 buckets x 8 hashes, 5-grams, its default hash settings) on the same
     documents in this process, each writing its signature files; best of --repeat runs, alternating.
     (datatrove's time is nearly all its spaCy word tokenizer: ~30 of ~31 ms a 550-word document here.)
  3. peak memory of the bucket and cluster phases at each --sizes (and 1M with --large): signatures of a
     cheaper corpus (50-120-word documents, 10% of them near-copies of another) are computed by refinery's
     signature step in 4 tasks; then each phase runs in a fresh process (this script with --phase) that
     reports its peak RSS (VmHWM, reset when the phase starts) and its RSS when the phase started; a second run
     of each reports the peak of its Python + numpy allocations (tracemalloc) and of Arrow's memory pool.
  4. exact and URL dedup (stages/exact_dedup.py, stages/url_dedup.py) at each --key-sizes (default 100k and 1M
     documents): synthetic documents (3 paragraphs from a pool of 2000, ~240 words; every 10th an exact copy of
     an earlier one, half of those with other whitespace; URLs on 5000 hosts, every 8th a spelling of an earlier
     URL under one of the normalisation rules); the key step of each stage in MEMORY_TASKS tasks (docs/s of the
     step alone, texts generated beforehand), then the dedup_keys merge (url_dedup, then exact_dedup among what
     it left) in a fresh process: seconds, docs/s, peak RSS and +phase as for MinHash.
With --impl FILE, FILE is used as stages/minhash_dedup.py (to measure a version before a change).
The last line is `ratio refinery/datatrove signature docs/s: X.XX`.
"""

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

NGRAM, BANDS, ROWS = 5, 14, 8  # configs/fineweb.yaml
BINS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
MEMORY_TASKS = 4  # signature tasks of the memory corpus (the bucket phase merges one file per task)


def use_implementation(path: str):
    """Makes `stages.minhash_dedup` the module in `path` (e.g. a copy of the file before a change)."""
    import importlib.util

    import stages

    spec = importlib.util.spec_from_file_location("stages.minhash_dedup", os.path.abspath(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules["stages.minhash_dedup"] = module
    spec.loader.exec_module(module)
    stages.minhash_dedup = module


# -- synthetic text -----------------------------------------------------------------------------------------
def vocabulary(rng: random.Random, size: int = 20000) -> tuple[list[str], list[float]]:
    """Pseudo-words and Zipfian cumulative weights (a few frequent words, a long tail, as in real text)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(2, 10))))
    words = sorted(words)
    rng.shuffle(words)
    cum, total = [], 0.0
    for rank in range(1, size + 1):
        total += 1.0 / rank
        cum.append(total)
    return words, cum


def random_words(rng: random.Random, vocab, n: int) -> list[str]:
    words, cum = vocab
    return rng.choices(words, cum_weights=cum, k=n)


def substitute(words: list[str], rng: random.Random, vocab, rate: float) -> list[str]:
    """A copy with round(rate * len) words, at random positions, replaced by random words."""
    out = list(words)
    k = min(len(out), round(rate * len(out)))
    for pos, word in zip(rng.sample(range(len(out)), k), random_words(rng, vocab, k)):
        out[pos] = word
    return out


def jaccard(a: str, b: str) -> float:
    from stages.minhash_dedup import shingles

    sa, sb = shingles(a, NGRAM), shingles(b, NGRAM)
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


def lsh_probability(s: float) -> float:
    return 1.0 - (1.0 - s**ROWS) ** BANDS


def bin_of(s: float) -> float | None:
    """Nearest bin center, bins are +-0.05 wide (1.0: [0.95, 1.0])."""
    for center in BINS:
        if center - 0.05 <= s < center + 0.05 or (center == 1.0 and s >= 0.95):
            return center
    return None


def quality_corpus(seed: int, pairs_per_bin: int, unrelated: int):
    """Returns (unrelated docs, pairs) as (id, text) and (bin, jaccard, (id, text), (id, text)) tuples."""
    rng = random.Random(seed)
    vocab = vocabulary(rng)
    docs = [(f"<u{i:06d}>", " ".join(random_words(rng, vocab, rng.randint(300, 800)))) for i in range(unrelated)]
    pairs, counts, tries = [], dict.fromkeys(BINS, 0), 0
    while min(counts.values()) < pairs_per_bin:
        tries += 1
        if tries > 100 * pairs_per_bin * len(BINS):
            raise RuntimeError(f"could not fill the similarity bins: {counts}")
        center = rng.choice([c for c in BINS if counts[c] < pairs_per_bin])
        target = min(1.0, rng.uniform(center - 0.05, center + 0.05))
        # with a share r of words substituted, a 5-gram survives with probability (1-r)^5 = f, and
        # J = f / (2 - f), so f = 2J / (1 + J); the measured J decides the bin
        rate = 1.0 - (2 * target / (1 + target)) ** (1 / NGRAM)
        words = random_words(rng, vocab, rng.randint(300, 800))
        a, b = " ".join(words), " ".join(substitute(words, rng, vocab, rate))
        s = jaccard(a, b)
        got = bin_of(s)
        if got is None or counts[got] >= pairs_per_bin:
            continue
        k = counts[got]
        counts[got] += 1
        pairs.append((got, s, (f"<p{got:.1f}-{k:05d}-a>", a), (f"<p{got:.1f}-{k:05d}-b>", b)))
    return docs, pairs


# -- refinery's four phases ---------------------------------------------------------------------------------
def run_refinery_dedup(tasks_docs: list[list[tuple[str, str]]], work_dir: str) -> tuple[set[str], dict]:
    """Runs signatures (one call per task), buckets (2 tasks), clusters, filter; returns (removed ids, seconds)."""
    from datatrove.data import Document

    from stages.base import StageOutput
    from stages.documents import ROW_KEY
    from stages.minhash_dedup import (
        MinhashBucketStep,
        MinhashClusterStep,
        MinhashConfig,
        MinhashDedupStage,
        MinhashSignatureStep,
    )

    cfg = MinhashConfig(work_dir, ngram=NGRAM, num_perm=BANDS * ROWS, bands=BANDS, rows=ROWS)
    world = len(tasks_docs)
    seconds = {}
    t0 = time.perf_counter()
    for rank, docs in enumerate(tasks_docs):
        list(MinhashSignatureStep(cfg).run((Document(text=t, id=i, metadata={}) for i, t in docs), rank, world))
    seconds["signatures"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for rank in range(2):
        list(MinhashBucketStep(cfg).run(None, rank=rank, world_size=2))
    seconds["buckets"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    list(MinhashClusterStep(cfg, tasks=world).run(None))
    seconds["clusters"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    removed = set()
    for rank, docs in enumerate(tasks_docs):
        stage = MinhashDedupStage(cfg, output=StageOutput())
        feed = (Document(text=t, id=i, metadata={ROW_KEY: n}) for n, (i, t) in enumerate(docs))
        kept = {d.id for d in stage.run(feed, rank=rank, world_size=world)}
        removed |= {i for i, _ in docs} - kept
    seconds["filter"] = time.perf_counter() - t0
    return removed, seconds


def quality(args, tmp: str) -> list[tuple[str, str]]:
    t0 = time.perf_counter()
    unrelated, pairs = quality_corpus(args.seed, args.pairs_per_bin, args.unrelated)
    gen_s = time.perf_counter() - t0
    rng = random.Random(args.seed + 1)
    tasks_docs = [[], []]
    for doc in unrelated:
        tasks_docs[rng.randrange(2)].append(doc)
    for _, _, a, b in pairs:  # the members of a pair land in the same task or not, at random
        tasks_docs[rng.randrange(2)].append(a)
        tasks_docs[rng.randrange(2)].append(b)
    for docs in tasks_docs:
        rng.shuffle(docs)
    removed, seconds = run_refinery_dedup(tasks_docs, os.path.join(tmp, "quality"))

    n_docs = len(unrelated) + 2 * len(pairs)
    print(f"\n== quality: {n_docs} documents ({len(unrelated)} unrelated, {len(pairs)} planted pairs), 2 tasks ==")
    print(f"corpus generated in {gen_s:.1f} s; phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    print(f"{'jaccard bin':>11} {'pairs':>6} {'mean J':>7} {'recall':>7} {'LSH P(mean)':>12} {'LSH P(bin)':>11} {'both removed':>13}")
    for center in BINS:
        members = [p for p in pairs if p[0] == center]
        found = sum(1 for _, _, a, b in members if a[0] in removed or b[0] in removed)
        both = sum(1 for _, _, a, b in members if a[0] in removed and b[0] in removed)
        mean_s = sum(p[1] for p in members) / len(members)
        expected = sum(lsh_probability(p[1]) for p in members) / len(members)
        print(
            f"{center:>11.1f} {len(members):>6} {mean_s:>7.3f} {found / len(members):>7.3f} {expected:>12.3f}"
            f" {lsh_probability(center):>11.3f} {both:>13}"
        )
    fp = sum(1 for i, _ in unrelated if i in removed)
    print(f"false positives: {fp} of {len(unrelated)} unrelated documents removed, rate {fp / len(unrelated):.4f}")
    return unrelated + [d for _, _, a, b in pairs for d in (a, b)]


# -- signature throughput -----------------------------------------------------------------------------------
def time_refinery_signatures(docs, folder: str) -> float:
    from datatrove.data import Document

    from stages.minhash_dedup import MinhashConfig, MinhashSignatureStep

    cfg = MinhashConfig(folder, ngram=NGRAM, num_perm=BANDS * ROWS, bands=BANDS, rows=ROWS)
    step = MinhashSignatureStep(cfg)
    feed = [Document(text=t, id=i, metadata={}) for i, t in docs]
    t0 = time.perf_counter()
    for _ in step.run(iter(feed), 0, 1):
        pass
    return time.perf_counter() - t0


def time_datatrove_signatures(docs, folder: str) -> float:
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

    step = MinhashDedupSignature(folder, config=MinhashConfig(n_grams=NGRAM, num_buckets=BANDS, hashes_per_bucket=ROWS))
    step.get_shingles("warm up the word tokenizer")  # spaCy loads lazily: not part of the per-document cost
    feed = [Document(text=t, id=i, metadata={}) for i, t in docs]
    t0 = time.perf_counter()
    step.run(iter(feed), 0, 1)  # not a generator: it consumes the documents and writes sorted files
    return time.perf_counter() - t0


def throughput(args, docs, tmp: str) -> float:
    from datatrove.utils.logging import logger

    logger.disable("datatrove")  # its "Sorting buckets..." lines
    docs = docs[: args.throughput_docs]
    words = sum(len(t.split()) for _, t in docs)
    best = {"refinery": math.inf, "datatrove": math.inf}
    runs = {"refinery": time_refinery_signatures, "datatrove": time_datatrove_signatures}
    for r in range(args.repeat):
        for name, fn in runs.items():
            folder = os.path.join(tmp, f"sig-{name}-{r}")
            best[name] = min(best[name], fn(docs, folder))
            shutil.rmtree(folder, ignore_errors=True)
    print(f"\n== signature step: {len(docs)} documents ({words / len(docs):.0f} words on average), best of {args.repeat} ==")
    print(f"{'implementation':<40} {'seconds':>8} {'docs/s':>9}")
    for name, label in (("refinery", "refinery MinhashSignatureStep"), ("datatrove", "datatrove MinhashDedupSignature")):
        print(f"{label:<40} {best[name]:>8.2f} {len(docs) / best[name]:>9.0f}")
    return best["datatrove"] / best["refinery"]


# -- exact and URL dedup -------------------------------------------------------------------------------------
URL_SPELLINGS = (
    lambda u: u.replace("https://", "http://"), lambda u: u.replace("https://", "https://www."),
    lambda u: u.replace(".example/", ".example:443/"), lambda u: u + "/", lambda u: u + "#top",
    lambda u: u + "?utm_source=feed", lambda u: u.replace("https://site", "https://SITE"),
)


def key_doc(seed: int, index: int, pool: list[str]) -> tuple[str, str, str]:
    """(text, url, date) of document `index` of the key corpus, computable from its index alone."""
    rng = random.Random(seed * 7_000_003 + index)
    if index % 10 == 9:  # an exact copy of an earlier document's text, half of them with other whitespace
        text = key_doc(seed, rng.randrange(index), pool)[0]
        if rng.random() < 0.5:
            text = text.replace(" ", "  ", 3) + "\n"
    else:
        text = "\n\n".join(pool[rng.randrange(len(pool))] for _ in range(3))
    if index % 8 == 7:  # a spelling of an earlier document's URL
        j = rng.randrange(index)
        url = rng.choice(URL_SPELLINGS)(f"https://site{j % 5000}.example/page/{j}")
    else:
        url = f"https://site{index % 5000}.example/page/{index}"
    return text, url, f"2024-{1 + index % 12:02d}-01T00:00:00Z"


def key_phase(args) -> dict:
    """One child of the key benchmark: `keys` (every task's key steps, timed) or `merge` (the dedup_keys phase)."""
    from datatrove.data import Document
    from datatrove.utils.logging import logger

    from stages.exact_dedup import text_key
    from stages.key_dedup import KeyFiles, KeyMergeStep, KeyStep
    from stages.url_dedup import url_key

    logger.disable("datatrove")
    url_files = KeyFiles(os.path.join(args.work, "url", "keys"), os.path.join(args.work, "url"))
    exact_files = KeyFiles(os.path.join(args.work, "exact", "keys"), os.path.join(args.work, "exact"))
    out = {"seconds_url": 0.0, "seconds_exact": 0.0, "peak_mb": 0.0, "base_mb": 0.0}
    if args.phase == "keys":
        prng = random.Random(args.seed)
        vocab = vocabulary(prng)
        pool = [" ".join(random_words(prng, vocab, 80)) for _ in range(2000)]
        for rank in range(MEMORY_TASKS):
            docs = []
            for i in range(rank, args.n, MEMORY_TASKS):
                text, url, date = key_doc(args.seed, i, pool)
                docs.append(Document(text=text, id=f"<k{i:08d}>", metadata={"url": url, "date": date}))
            base = start_peak()
            for name, step in (("url", KeyStep("url_dedup", url_files, url_key, with_date=True)),
                               ("exact", KeyStep("exact_dedup", exact_files, text_key))):
                t0 = time.perf_counter()
                for _ in step.run(iter(docs), rank, MEMORY_TASKS):
                    pass
                out[f"seconds_{name}"] += time.perf_counter() - t0
            out["peak_mb"] = max(out["peak_mb"], _status_mb("VmHWM"))
            out["base_mb"] = max(out["base_mb"], base)
            del docs
        return out
    import pyarrow as pa
    import pyarrow.parquet as pq

    pa.array([0])
    pq.ParquetFile(url_files.key_path(0)).read_row_group(0)
    out["base_mb"] = start_peak()
    t0 = time.perf_counter()
    order = [("doc_id", "ascending"), ("task", "ascending"), ("index", "ascending")]
    list(KeyMergeStep("url_dedup", url_files, MEMORY_TASKS, "duplicate_url", "same URL as",
                      [("date", "descending")] + order).run(None))
    out["seconds_url"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    list(KeyMergeStep("exact_dedup", exact_files, MEMORY_TASKS, "exact_duplicate", "same text as", order,
                      [url_files.remove_dir]).run(None))
    out["seconds_exact"] = time.perf_counter() - t0
    out["peak_mb"] = _status_mb("VmHWM")
    for name, files in (("url", url_files), ("exact", exact_files)):
        out[f"removed_{name}"] = sum(pq.ParquetFile(files.remove_path(t)).metadata.num_rows for t in range(MEMORY_TASKS))
    return out


def key_dedup(args, tmp: str):
    rows = []
    for n in args.key_sizes:
        work = os.path.join(tmp, f"keys-{n}")
        keys = child_result(run_child(args, "keys", work, n))
        merge = child_result(run_child(args, "merge", work, n))
        rows.append((n, keys, merge))
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n== exact and URL dedup: key steps in {MEMORY_TASKS} tasks (one process), then the dedup_keys merge ==")
    print("docs/s: the key step alone (normalise + hash + sort + write); merge: url_dedup's then exact_dedup's, in a")
    print("fresh process; peak: peak RSS (VmHWM), +phase: peak - RSS when the merge started; keys peak includes the")
    print("task's generated texts.")
    print(f"{'docs':>9} | {'url docs/s':>10} {'exact docs/s':>12} {'keys peak':>9} | {'removed url':>11} "
          f"{'removed exact':>13} | {'merge s':>7} {'merge docs/s':>12} {'peak':>5} {'+phase':>6}")
    for n, k, m in rows:
        merge_s = m["seconds_url"] + m["seconds_exact"]
        print(f"{n:>9} | {n / k['seconds_url']:>10.0f} {n / k['seconds_exact']:>12.0f} {k['peak_mb']:>9.0f} | "
              f"{m['removed_url']:>11} {m['removed_exact']:>13} | {merge_s:>7.1f} {n / merge_s:>12.0f} "
              f"{m['peak_mb']:>5.0f} {m['peak_mb'] - m['base_mb']:>6.0f}")


# -- memory of the bucket and cluster phases ------------------------------------------------------------------
def memory_doc(seed: int, index: int, vocab) -> str:
    """Document `index` of the memory corpus, computable from its index alone (tasks generate in parallel):
    every tenth document is a near-copy (2% of words substituted) of an earlier one."""
    rng = random.Random(seed * 1_000_003 + index)
    if index % 10 == 9:
        original = memory_doc(seed, rng.randrange(index), vocab)
        return " ".join(substitute(original.split(), rng, vocab, 0.02))
    return " ".join(random_words(rng, vocab, rng.randint(50, 120)))


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise KeyError(field)


def start_peak() -> float:
    """RSS now, in MB, and the peak RSS reset to it (Linux: /proc/self/clear_refs), so the peak read after a
    phase is that phase's. Not ru_maxrss: a child inherits its parent's value across fork + exec."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # no reset: the peak then also covers the imports (always below what the phase adds to them)
    return _status_mb("VmRSS")


def warm_up(work: str):
    """What any use of pyarrow and Parquet costs once per process (pa.array imports pandas; the first Parquet
    read sets up its machinery): done before the phase's base is taken, so +phase is the phase's own."""
    import glob

    import pyarrow as pa
    import pyarrow.parquet as pq

    pa.array([0])
    first = sorted(glob.glob(os.path.join(work, "sigs", "*", "*.parquet")))[:1]
    for path in first:  # its first row group only: the same amount of work whatever the corpus size
        pq.ParquetFile(path).read_row_group(0)


def child_phase(args) -> dict:
    """Runs one phase of the memory test in this (fresh) process; returns what it measured. With --trace: the
    peak of Python and numpy allocations (tracemalloc) plus the Arrow memory pool's peak, instead of RSS."""
    import tracemalloc

    import pyarrow as pa
    from datatrove.data import Document
    from datatrove.utils.logging import logger

    from stages.minhash_dedup import MinhashBucketStep, MinhashClusterStep, MinhashConfig, MinhashSignatureStep

    logger.disable("datatrove")
    cfg = MinhashConfig(args.work, ngram=NGRAM, num_perm=BANDS * ROWS, bands=BANDS, rows=ROWS)
    out = {"base_mb": 0.0, "peak_mb": 0.0, "seconds": 0.0}
    if args.phase == "sigs":
        vocab = vocabulary(random.Random(args.seed))
        for rank in map(int, args.ranks.split(",")):
            # the task's documents are generated up front: base includes their texts, the peak is the step's
            docs = [
                Document(text=memory_doc(args.seed, i, vocab), id=f"<m{i:08d}>", metadata={})
                for i in range(rank, args.n, MEMORY_TASKS)
            ]
            base = start_peak()
            t0 = time.perf_counter()
            for _ in MinhashSignatureStep(cfg).run(iter(docs), rank, MEMORY_TASKS):
                pass
            out["seconds"] += time.perf_counter() - t0
            out["peak_mb"] = max(out["peak_mb"], _status_mb("VmHWM"))
            out["base_mb"] = max(out["base_mb"], base)
            del docs
        return out
    warm_up(args.work)
    pool_before = pa.default_memory_pool().max_memory()
    if args.trace:
        tracemalloc.start()
    out["base_mb"] = start_peak()
    t0 = time.perf_counter()
    if args.phase == "buckets":
        list(MinhashBucketStep(cfg).run(None, rank=0, world_size=1))  # all 14 bands, one after the other
    else:
        import pyarrow.parquet as pq

        list(MinhashClusterStep(cfg, tasks=MEMORY_TASKS).run(None))
        out["removed"] = sum(pq.ParquetFile(cfg.remove_path(t)).metadata.num_rows for t in range(MEMORY_TASKS))
    out.update(seconds=time.perf_counter() - t0, peak_mb=_status_mb("VmHWM"))
    if args.trace:
        pool = max(pa.default_memory_pool().max_memory() - pool_before, 0)
        out["live_mb"] = (tracemalloc.get_traced_memory()[1] + pool) / 2**20
    return out


def run_child(args, phase: str, work: str, n: int, ranks: str = "0", trace: bool = False) -> subprocess.Popen:
    cmd = [sys.executable, os.path.abspath(__file__), "--phase", phase, "--work", work, "--n", str(n)]
    cmd += ["--ranks", ranks, "--seed", str(args.seed)] + (["--trace"] if trace else [])
    cmd += ["--impl", args.impl] if args.impl else []
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)


def child_result(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"memory child failed ({proc.returncode}): {proc.args}")
    return json.loads(out.strip().splitlines()[-1])


def memory(args, tmp: str):
    rows = []
    for n in args.sizes:
        work = os.path.join(tmp, f"mem-{n}")
        # two processes (2 cores), each running every other signature task
        procs = [run_child(args, "sigs", work, n, ",".join(map(str, range(r, MEMORY_TASKS, 2)))) for r in range(2)]
        sigs = [child_result(p) for p in procs]
        phases = {}
        for phase in ("buckets", "clusters"):
            phases[phase] = child_result(run_child(args, phase, work, n))
            phases[phase]["live_mb"] = child_result(run_child(args, phase, work, n, trace=True))["live_mb"]
        rows.append((n, sigs, phases["buckets"], phases["clusters"]))
        shutil.rmtree(work, ignore_errors=True)
    import pyarrow as pa

    pool = pa.default_memory_pool().backend_name
    print(f"\n== memory per phase (MB), each phase in a fresh process; signatures in {MEMORY_TASKS} tasks ==")
    print(f"Arrow allocator: {pool} (ARROW_DEFAULT_MEMORY_POOL=system|jemalloc|mimalloc picks another)")
    print("peak: the process's peak RSS (VmHWM), imports included; +phase: peak - RSS when the phase started (after")
    print("imports and a first Parquet read); live: peak of Python + numpy allocations (tracemalloc) + Arrow pool, in")
    print("a second run. Signatures: peak RSS of a task (its documents' texts included) and seconds in the step.")
    print(
        f"{'docs':>9} {'removed':>7} | {'sigs peak':>9} {'s':>5} | {'buckets peak':>12} {'+phase':>6} {'live':>6} {'s':>5}"
        f" | {'clusters peak':>13} {'+phase':>6} {'live':>6} {'s':>5}"
    )
    for n, sigs, b, c in rows:
        print(
            f"{n:>9} {c['removed']:>7} | {max(s['peak_mb'] for s in sigs):>9.0f} {sum(s['seconds'] for s in sigs):>5.1f}"
            f" | {b['peak_mb']:>12.0f} {b['peak_mb'] - b['base_mb']:>6.0f} {b['live_mb']:>6.1f} {b['seconds']:>5.1f}"
            f" | {c['peak_mb']:>13.0f} {c['peak_mb'] - c['base_mb']:>6.0f} {c['live_mb']:>6.1f} {c['seconds']:>5.1f}"
        )
    if len(rows) > 1:
        (n0, _, b0, c0), (n1, _, b1, c1) = rows[0], rows[-1]
        print(
            f"growth {n0} -> {n1} docs: buckets peak {b1['peak_mb'] - b0['peak_mb']:+.0f} MB (x{b1['peak_mb'] / b0['peak_mb']:.2f}),"
            f" live {b1['live_mb'] - b0['live_mb']:+.1f} MB; clusters peak {c1['peak_mb'] - c0['peak_mb']:+.0f} MB"
            f" (x{c1['peak_mb'] / c0['peak_mb']:.2f}), live {c1['live_mb'] - c0['live_mb']:+.1f} MB"
        )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000,100000", help="documents of the memory test, comma-separated")
    p.add_argument("--large", action="store_true", help="add 1000000 documents to the memory test")
    p.add_argument("--tiny", action="store_true", help="a few hundred documents everywhere (smoke test)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--pairs-per-bin", type=int, default=300)
    p.add_argument("--unrelated", type=int, default=3000)
    p.add_argument("--throughput-docs", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--key-sizes", default="100000,1000000", help="documents of the exact/URL dedup test")
    p.add_argument("--only-keys", action="store_true", help="only the exact/URL dedup test")
    # internal: one phase of the memory test, in a fresh process
    p.add_argument("--phase", choices=("sigs", "buckets", "clusters", "keys", "merge"), help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--ranks", default="0", help=argparse.SUPPRESS)
    p.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--impl", help="another version of stages/minhash_dedup.py to measure (before/after comparisons)")
    args = p.parse_args()
    if args.impl:
        use_implementation(args.impl)
    if args.phase in ("keys", "merge"):
        print(json.dumps(key_phase(args)))
        return 0
    if args.phase:
        print(json.dumps(child_phase(args)))
        return 0

    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.key_sizes = [int(s) for s in args.key_sizes.split(",") if s]
    if args.large:
        args.sizes.append(1_000_000)
    if args.tiny:
        args.sizes, args.pairs_per_bin, args.unrelated, args.throughput_docs, args.repeat = [300, 600], 15, 150, 60, 1
        args.key_sizes = [300, 600]
    t0 = time.perf_counter()
    if args.only_keys:
        with tempfile.TemporaryDirectory(prefix="dedup-bench-") as tmp:
            key_dedup(args, tmp)
        print(f"\ntotal {time.perf_counter() - t0:.0f} s")
        return 0
    with tempfile.TemporaryDirectory(prefix="dedup-bench-") as tmp:
        key_dedup(args, tmp)
        docs = quality(args, tmp)
        ratio = throughput(args, docs, tmp)
        memory(args, tmp)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    print(f"ratio refinery/datatrove signature docs/s: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
