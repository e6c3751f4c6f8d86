"""Tokenizer stage speed: refinery's code path against the same work done with HF `tokenizers` and pyarrow directly.

    python bench/tokenizer_speed.py                      # 8 MB of generated English-like text, vocab 32768, 5 runs
    python bench/tokenizer_speed.py --threads 1          # one tokenizers thread: steadier on a busy machine
    python bench/tokenizer_speed.py --mb 50 --repeat 3   # bigger corpus, more repeats
    python bench/tokenizer_speed.py --docs runs/real/documents --vocab 4096
    python bench/tokenizer_speed.py --tiny               # smoke test (a few seconds)
    python bench/tokenizer_speed.py --workers 2 --threads 1  # the tokenize phases with 1 worker against 2

Two measurements, each taken in this one process, refinery and direct alternated (ABBA...), --repeat times; the
ratios compare the best runs (on a shared machine, noise only ever adds time); the median of the ratios of
back-to-back runs is printed beside them:

  (a) tokenizer training time (curated-documents Parquet -> tokenizer.json):
      refinery: stages.token_shards.train_tokenizer, exactly as the tokenizer phase (TrainTokenizerStep) calls it:
                a counting pass, then the id-hash sample (sample_chars, min_frequency, vocab size from
                configs/fineweb.yaml unless overridden; a corpus smaller than sample_chars is taken whole);
      direct:   pyarrow reads the text column, `tokenizers` trains a ByteLevel BPE with the same trainer settings
                (train_from_iterator on the same texts) and saves it. Both tokenizer.json files are compared.
  (b) token shard writing, MB of document text per second (documents Parquet -> token Parquet):
      refinery: stages.token_shards.write_token_shards (the tokenize, shards and shards_manifest phases' work in
                this process, one task per documents file: split by id hash, rows in order-key order, EOS
                appended, zstd Parquet shards, manifest);
      direct:   the minimal equivalent: pyarrow reads the text, Tokenizer.encode_batch on the same batches (512
                documents, across file ends), EOS appended, uint16 token lists + doc_id + num_tokens written
                to one zstd Parquet file with pyarrow (no split, no sort, no shuffle); the rows of both are
                compared (same ids, same token ids).

With --workers N, instead: the tokenize, shards and shards_manifest phases run as `refinery run` runs them
(datatrove's local executor, one task per documents file) with 1 worker and with N, alternated --repeat times;
it prints the best wall time of each, `ratio workers 1/N tokenize wall time: X.XX`, and checks that both
wrote the same token stream and manifest totals.

It prints a table, `ratio refinery/direct tokenizer training time: X.XX`, `ratio refinery/direct shard MB/s: X.XX`
and refinery's overhead in percent. Project target: overhead <= 10% over direct `tokenizers` use.
Generated corpora are seeded (--seed), so runs are comparable; --docs uses a folder of curated-document Parquet
files (e.g. a run's documents/) as they are (--mb is then ignored). `--profile shards` (or `train`) prints a
cProfile of one refinery run instead. Nearly all of both sides' time is spent inside `tokenizers` (Rust), so on
a machine shared with other work the run-to-run noise (often 10-30%) is larger than refinery's own overhead:
compare several runs, or use --threads 1 and more --repeat.
"""

import argparse
import glob
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from refinery.layout import ShardLayout  # noqa: E402
from refinery.schema import DOCUMENT_SCHEMA  # noqa: E402
from stages.token_shards import train_tokenizer, write_token_shards  # noqa: E402
from stages.tokenizer import EOS  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_OVERHEAD = 0.10

# ---------------------------------------------------------------------------------------------- corpus

COMMON = (
    "the of and to a in is it you that he was for on are with as I his they be at one have this from or had by "
    "not word but what some we can out other were all there when up use your how said an each she which do their "
    "time if will way about many then them write would like so these her long make thing see him two has look more "
    "day could go come did number sound no most people my over know water than call first who may down side been "
    "now find any new work part take get place made live where after back little only round man year came show "
    "every good me give our under name very through just form sentence great think say help low line differ turn "
    "cause much mean before move right boy old too same tell does set three want air well also play small end put "
    "home read hand port large spell add even land here must big high such follow act why ask men change went "
    "light kind off need house picture try us again animal point mother world near build self earth father head "
    "stand own page should country found answer school grow study still learn plant cover food sun four between "
    "state keep eye never last let thought city tree cross farm hard start might story saw far sea draw left late "
    "run while press close night real life few north open seem together next white children begin got walk "
    "example ease paper group always music those both mark often letter until mile river car feet care second "
    "book carry took science eat room friend began idea fish mountain stop once base hear horse cut sure watch "
    "color face wood main enough plain girl usual young ready above ever red list though feel talk bird soon body "
    "dog family direct pose leave song measure door product black short numeral class wind question happen "
    "complete ship area half rock order fire south problem piece told knew pass since top whole king space heard "
    "best hour better true during hundred five remember step early hold west ground interest reach fast verb sing "
    "listen six table travel less morning ten simple several vowel toward war lay against pattern slow center love "
    "person money serve appear road map rain rule govern pull cold notice voice unit power town fine certain fly "
    "fall lead cry dark machine note wait plan figure star box noun field rest correct able pound done beauty drive "
    "stood contain front teach week final gave green oh quick develop ocean warm free minute strong special mind "
    "behind clear tail produce fact street inch multiply nothing course stay wheel full force blue object decide "
    "surface deep moon island foot system busy test record boat common gold possible plane stead dry wonder laugh "
    "thousand ago ran check game shape equate hot miss brought heat snow tire bring yes distant fill east paint "
    "language among"
).split()
_ONSETS = "b c d f g h j k l m n p r s t v w br cr dr fl gr pl pr sh st th tr ch wh".split()
_VOWELS = "a e i o u ai ea ee ou io".split()
_CODAS = ["", "", "n", "r", "s", "t", "l", "nd", "st", "ng", "ck", "rt", "ss", "m"]
_SUFFIXES = ["", "", "", "s", "ed", "ing", "er", "ly", "tion", "ment", "ness", "able"]


def _vocabulary(rng: np.random.Generator, n: int) -> list[str]:
    """COMMON words first, then n made-up words of 1 to 4 syllables with English-like affixes."""
    words, seen = list(COMMON), set(COMMON)
    while len(words) < n:
        m = 2 * n
        syl = rng.integers(1, 5, m)
        on, vo, co = (rng.integers(0, len(x), (m, 4)) for x in (_ONSETS, _VOWELS, _CODAS))
        suf = rng.integers(0, len(_SUFFIXES), m)
        for i in range(m):
            w = "".join(_ONSETS[on[i, j]] + _VOWELS[vo[i, j]] + _CODAS[co[i, j]] for j in range(syl[i])) + _SUFFIXES[suf[i]]
            if w not in seen:
                seen.add(w)
                words.append(w)
                if len(words) == n:
                    break
    return words


def generate_texts(total_bytes: int, seed: int) -> list[str]:
    """Seeded English-like documents (Zipf word frequencies, sentences, paragraphs, some numbers), ~total_bytes."""
    rng = np.random.default_rng(seed)
    words = np.array(_vocabulary(rng, 60_000), dtype=object)
    ranks = np.arange(1, len(words) + 1)
    cdf = np.cumsum(1.0 / ranks**1.05)
    cdf /= cdf[-1]
    texts, size = [], 0
    while size < total_bytes:
        n_words = int(np.clip(rng.lognormal(6.3, 0.8), 40, 8000))  # median ~550 words, like web pages
        picks = words[np.minimum(np.searchsorted(cdf, rng.random(n_words)), len(words) - 1)]
        out, i = [], 0
        while i < n_words:
            k = int(rng.integers(6, 25))
            sent = list(picks[i : i + k])
            i += k
            if rng.random() < 0.15:
                sent.insert(int(rng.integers(0, len(sent) + 1)), str(int(rng.integers(0, 10_000))))
            if rng.random() < 0.3 and len(sent) > 4:
                sent[2] += ","
            sent[0] = sent[0].capitalize()
            out.append(" ".join(sent) + (". " if rng.random() < 0.9 else "? "))
            if rng.random() < 0.12:
                out.append("\n\n")
        text = "".join(out).strip()
        texts.append(text)
        size += len(text.encode())
    return texts


def write_documents(texts: list[str], folder: str, files: int = 4) -> None:
    """Curated-document Parquet files (DOCUMENT_SCHEMA), ids not in file order (as real <urn:uuid:...> ids)."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    ids = [f"<urn:uuid:{rng.bytes(16).hex().upper()}>" for _ in texts]
    per = -(-len(texts) // files)
    for f in range(files):
        part = slice(f * per, (f + 1) * per)
        n = len(texts[part])
        cols = {name: pa.nulls(n, type=DOCUMENT_SCHEMA.field(name).type) for name in DOCUMENT_SCHEMA.names}
        cols["text"], cols["id"] = pa.array(texts[part], pa.string()), pa.array(ids[part], pa.string())
        pq.write_table(pa.table(cols, schema=DOCUMENT_SCHEMA), os.path.join(folder, f"{f:05d}.parquet"), compression="zstd")


def corpus_bytes(folder: str) -> tuple[int, int]:
    docs = size = 0
    for path in sorted(glob.glob(os.path.join(folder, "*.parquet"))):
        col = pq.read_table(path, columns=["text"]).column("text")
        docs += len(col)
        size += sum(len(t.encode()) for t in col.to_pylist())  # UTF-8 bytes, as MB/s counts them
    return docs, size


# ---------------------------------------------------------------------------------------------- (a) training


def train_refinery(docs: str, out_path: str, vocab: int, sample_chars: int, min_frequency: int) -> None:
    # exactly TrainTokenizerStep's call
    train_tokenizer(sorted(glob.glob(os.path.join(docs, "*.parquet"))), out_path, vocab, sample_chars, min_frequency)


def train_direct(docs: str, out_path: str, vocab: int, sample_chars: int, min_frequency: int) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts, left = [], sample_chars
    for path in sorted(glob.glob(os.path.join(docs, "*.parquet"))):
        for t in pq.read_table(path, columns=["text"]).column("text").to_pylist():
            if left <= 0:
                break
            texts.append(t[:left])
            left -= len(t)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, min_frequency=min_frequency, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    tok.save(out_path)


# ---------------------------------------------------------------------------------------------- (b) shards


def shards_refinery(docs: str, tok_path: str, out_dir: str, shard_cfg: dict) -> None:
    write_token_shards(docs, tok_path, out_dir, **shard_cfg)


def shards_direct(docs: str, tok_path: str, out_dir: str, shard_cfg: dict) -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tok_path)
    eos = tok.token_to_id(EOS)
    dtype = np.uint16 if tok.get_vocab_size() <= 2**16 else np.uint32
    schema = pa.schema([("input_ids", pa.list_(pa.from_numpy_dtype(dtype))), ("doc_id", pa.string()),
                        ("num_tokens", pa.int32())])
    os.makedirs(out_dir, exist_ok=True)
    batch_size = shard_cfg.get("batch_size", 512)
    with pq.ParquetWriter(os.path.join(out_dir, "direct.parquet"), schema, compression="zstd") as w:

        def write(doc_ids, texts):
            ids = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
            for x in ids:
                x.append(eos)
            w.write_table(pa.table([pa.array(ids, schema.field("input_ids").type), pa.array(doc_ids, pa.string()),
                                    pa.array([len(x) for x in ids], pa.int32())], schema=schema),
                          row_group_size=shard_cfg.get("row_group_rows", 1000))

        # full batches across file ends, as refinery batches (a file's last few documents alone would leave
        # the tokenizer's threads idle)
        doc_ids, texts = [], []
        for path in sorted(glob.glob(os.path.join(docs, "*.parquet"))):
            for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=["id", "text"]):
                doc_ids += batch.column("id").to_pylist()
                texts += batch.column("text").to_pylist()
                while len(texts) >= batch_size:
                    write(doc_ids[:batch_size], texts[:batch_size])
                    del doc_ids[:batch_size], texts[:batch_size]
        if texts:
            write(doc_ids, texts)


# ---------------------------------------------------------------------------------------------- workers


def phases_run(docs: str, tok_path: str, root: str, shard_cfg: dict, workers: int) -> None:
    """The tokenize, shards and shards_manifest phases of a run folder at root, as `refinery run` executes them."""
    import shutil

    from pipeline.executors import make_executor
    from refinery.layout import RunLayout
    from stages.compat import datatrove_console
    from stages.token_shards import ShardsManifestStep, TokenizeStep, WriteShardsStep

    layout = RunLayout(root)
    os.makedirs(os.path.dirname(layout.tokenizer), exist_ok=True)
    if not os.path.exists(layout.documents):
        os.symlink(os.path.abspath(docs), layout.documents)
        shutil.copyfile(tok_path, layout.tokenizer)
    tasks = len(layout.document_files())
    params = {"batch_size": 512, "language_weights": None, **shard_cfg}
    for name, step, n in (("tokenize", TokenizeStep, tasks), ("shards", WriteShardsStep, tasks),
                          ("shards_manifest", ShardsManifestStep, 1)):
        with datatrove_console(True):
            make_executor("local", {}, [step(layout, {}, params, tasks)], n, min(workers, n), layout.logs(name), name,
                          quiet_tasks=True).run()


def stream_of(root: str) -> tuple[dict, list]:
    manifest = ShardLayout(os.path.join(root, "shards")).read_manifest()
    rows = []
    for split, info in manifest["splits"].items():
        for name in info.pop("shards"):
            t = pq.read_table(os.path.join(root, "shards", split, name), columns=["doc_id", "input_ids"])
            rows.append(t)
    return manifest, rows


def compare_workers(docs: str, tok_path: str, tmp: str, shard_cfg: dict, workers: int, repeat: int) -> int:
    times: dict[int, list] = {1: [], workers: []}
    for i in range(repeat):
        for w in ((1, workers) if i % 2 == 0 else (workers, 1)):
            times[w].append(timed(phases_run, docs, tok_path, os.path.join(tmp, f"w{w}-{i}"), shard_cfg, w))
    (m1, r1), (mw, rw) = stream_of(os.path.join(tmp, "w1-0")), stream_of(os.path.join(tmp, f"w{workers}-0"))
    same = m1 == mw and len(r1) == len(rw) and all(a.equals(b) for a, b in zip(r1, rw))
    tasks = len(glob.glob(os.path.join(docs, "*.parquet")))
    print(f"tokenize phases ({tasks} tasks), wall time (s), best of {repeat}: workers 1 {min(times[1]):.2f}, "
          f"workers {workers} {min(times[workers]):.2f} (medians {statistics.median(times[1]):.2f}, "
          f"{statistics.median(times[workers]):.2f})")
    print(f"ratio workers 1/{workers} tokenize wall time: {min(times[1]) / min(times[workers]):.2f}")
    print(f"same token stream and manifest totals: {'yes' if same else 'NO'}")
    return 0 if same else 1


# ---------------------------------------------------------------------------------------------- main


def timed(fn, *args) -> float:
    """Wall seconds (not CPU time: the tokenizers thread pool spins while it waits, so CPU time says little)."""
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def interleaved(repeat: int, ref, direct) -> tuple[list, list]:
    """ref and direct alternated ABBA..., so neither always runs first (warm caches, a neighbour's load)."""
    r, d = [], []
    for i in range(repeat):
        for which in ((ref, direct) if i % 2 == 0 else (direct, ref)):
            (r if which is ref else d).append(which(i))
    return r, d


def config_defaults() -> tuple[dict, dict]:
    tokenizer = {"vocab_size": 32768, "sample_chars": 200_000_000, "min_frequency": 2}
    shards = {"val_fraction": 0.01, "seed": 1234, "shard_tokens": 50_000_000, "row_group_rows": 1000}
    try:
        import yaml

        with open(os.path.join(ROOT, "configs", "fineweb.yaml")) as f:
            stages = yaml.safe_load(f)["stages"]
        tokenizer.update({k: stages["tokenizer"][k] for k in tokenizer if k in stages["tokenizer"]})
        shards.update(stages["shards"])
    except Exception as e:  # the bench still runs with the documented defaults
        print(f"note: configs/fineweb.yaml not read ({e}); using built-in defaults")
    return tokenizer, shards


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docs", help="folder of curated-document Parquet files (default: generate a corpus)")
    p.add_argument("--mb", type=float, default=8.0, help="size of the generated corpus in MB of UTF-8 text")
    p.add_argument("--vocab", type=int, help="BPE vocabulary size (default: configs/fineweb.yaml, 32768)")
    p.add_argument("--repeat", type=int, default=5, help="runs of each measurement (the best is compared)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated corpus")
    p.add_argument("--threads", type=int, help="tokenizers threads (RAYON_NUM_THREADS; default: all cores); 1 gives "
                   "steadier figures on a machine shared with other work")
    p.add_argument("--skip-train", action="store_true", help="only the shard measurement")
    p.add_argument("--profile", choices=("train", "shards"), help="cProfile one refinery run of this part instead")
    p.add_argument("--tiny", action="store_true", help="smoke test: 0.3 MB, vocab 1024, one repeat")
    p.add_argument("--workers", type=int, help="instead: the tokenize phases with 1 worker against this many")
    p.add_argument("--files", type=int, default=4, help="documents files of the generated corpus (tokenize tasks)")
    a = p.parse_args()
    if a.threads:
        os.environ["RAYON_NUM_THREADS"] = str(a.threads)  # read when tokenizers first starts its thread pool
    tok_cfg, shard_cfg = config_defaults()
    if a.tiny:
        a.mb, a.repeat, a.vocab = 0.3, 1, a.vocab or 1024
    if a.vocab:
        tok_cfg["vocab_size"] = a.vocab
    args = (tok_cfg["vocab_size"], tok_cfg["sample_chars"], tok_cfg["min_frequency"])

    with tempfile.TemporaryDirectory(prefix="tokbench-") as tmp:
        docs = a.docs
        if docs is None:
            t0 = time.perf_counter()
            docs = os.path.join(tmp, "documents")
            write_documents(generate_texts(int(a.mb * 1e6), a.seed), docs, a.files)
            print(f"generated corpus in {time.perf_counter() - t0:.1f}s")
        n_docs, n_bytes = corpus_bytes(docs)
        mb = n_bytes / 1e6
        import tokenizers

        print(f"corpus: {n_docs:,} documents, {mb:.2f} MB of text; vocab {tok_cfg['vocab_size']}, "
              f"min_frequency {tok_cfg['min_frequency']}, sample_chars {tok_cfg['sample_chars']:,}; "
              f"tokenizers {tokenizers.__version__}, pyarrow {pa.__version__}, {os.cpu_count()} CPUs, "
              f"tokenizers threads: {os.environ.get('RAYON_NUM_THREADS', 'all')}")
        tok_ref, tok_dir = os.path.join(tmp, "ref", "tokenizer.json"), os.path.join(tmp, "direct-tokenizer.json")
        if a.workers:
            train_refinery(docs, tok_ref, *args)
            return compare_workers(docs, tok_ref, tmp, shard_cfg, a.workers, a.repeat)

        if a.profile:
            import cProfile
            import pstats

            if a.profile == "shards":
                train_refinery(docs, tok_ref, *args)
            prof = cProfile.Profile()
            prof.enable()
            if a.profile == "train":
                train_refinery(docs, tok_ref, *args)
            else:
                shards_refinery(docs, tok_ref, os.path.join(tmp, "shards-prof"), shard_cfg)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
            return 0

        same_tok = None
        if a.skip_train:
            train_refinery(docs, tok_ref, *args)
        else:
            train_ref, train_dir = interleaved(a.repeat, lambda i: timed(train_refinery, docs, tok_ref, *args),
                                               lambda i: timed(train_direct, docs, tok_dir, *args))
            with open(tok_ref, "rb") as f1, open(tok_dir, "rb") as f2:
                same_tok = f1.read() == f2.read()
        shard_ref, shard_dir = interleaved(
            a.repeat,
            lambda i: timed(shards_refinery, docs, tok_ref, os.path.join(tmp, f"shards-ref-{i}"), shard_cfg),
            lambda i: timed(shards_direct, docs, tok_ref, os.path.join(tmp, f"shards-direct-{i}"), shard_cfg))
        # the two did the same work: the same documents with the same token ids (refinery's in its own order)
        ref = pa.concat_tables(pq.read_table(f) for f in sorted(glob.glob(os.path.join(tmp, "shards-ref-0", "*", "*.parquet"))))
        direct = pq.read_table(os.path.join(tmp, "shards-direct-0", "direct.parquet"))
        ref_rows, dir_rows = ref.num_rows, direct.num_rows
        ref, direct = ref.sort_by("doc_id"), direct.sort_by("doc_id")
        same_rows = ref_rows == dir_rows and all(ref.column(c).equals(direct.column(c)) for c in ("doc_id", "input_ids"))

    med = statistics.median

    def paired(ref, direct):
        """Median of the ratios of runs made back to back (they share the machine's load of the moment)."""
        return med(r / d for r, d in zip(ref, direct))

    rows = []
    if not a.skip_train:
        rows.append(("tokenizer training time (s)", min(train_ref), min(train_dir), med(train_ref), med(train_dir)))
    rows.append(("shard writing time (s)", min(shard_ref), min(shard_dir), med(shard_ref), med(shard_dir)))
    rows.append(("shard writing MB/s", mb / min(shard_ref), mb / min(shard_dir), mb / med(shard_ref), mb / med(shard_dir)))
    print()
    print(f"{'measurement (%d runs each)' % a.repeat:<30}{'refinery':>10}{'direct':>10}{'ref median':>12}{'dir median':>12}")
    print(f"{'':<30}{'(best)':>10}{'(best)':>10}")
    print("-" * 74)
    for name, r, d, rm, dm in rows:
        print(f"{name:<30}{r:>10.2f}{d:>10.2f}{rm:>12.2f}{dm:>12.2f}")
    print("-" * 74)
    if same_tok is not None:
        print(f"tokenizer.json identical (refinery vs direct): {'yes' if same_tok else 'NO'}")
    print(f"rows written: refinery {ref_rows:,}, direct {dir_rows:,} (of {n_docs:,} documents); "
          f"same ids and token ids: {'yes' if same_rows else 'NO'}")
    ok = True
    if not a.skip_train:
        r_train = min(train_ref) / min(train_dir)
        print(f"ratio refinery/direct tokenizer training time: {r_train:.2f} (best of {a.repeat}; "
              f"median of paired runs {paired(train_ref, train_dir):.2f})")
        print(f"overhead tokenizer training: {100 * (r_train - 1):+.1f}% (target <= {100 * TARGET_OVERHEAD:.0f}%)")
        ok &= r_train - 1 <= TARGET_OVERHEAD
    r_shard = min(shard_dir) / min(shard_ref)  # MB/s ratio: same MB on both sides
    print(f"ratio refinery/direct shard MB/s: {r_shard:.2f} (best of {a.repeat}; "
          f"median of paired runs {1 / paired(shard_ref, shard_dir):.2f})")
    print(f"overhead shard writing: {100 * (1 / r_shard - 1):+.1f}% time (target <= {100 * TARGET_OVERHEAD:.0f}%)")
    ok &= 1 / r_shard - 1 <= TARGET_OVERHEAD
    print(f"target met: {'yes' if ok else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
