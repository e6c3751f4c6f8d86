"""Main-text extraction quality and speed: refinery's extract engines and settings vs trafilatura's defaults, on
real pages.

    python bench/extraction_quality.py [--data DIR] [--limit N] [--json PATH]

Extractors, run in this process on the same pages, interleaved page by page:
  refinery              stages.extract.ExtractStage built from configs/fineweb.yaml's `stages.extract` (timeout
                        aside), called as its `.extract(html)`: datatrove's Trafilatura.extract with FineWeb's
                        settings (favour_precision, deduplicate), without the sandbox process the pipeline adds, with
                        trafilatura sped up as a run's extract stage has it (stages/trafilatura_speed.py);
  trafilatura-fineweb   the same call with trafilatura as installed (what datatrove's FineWeb pipeline runs): the
                        same text, so the same figures, at trafilatura's own speed;
  trafilatura-defaults  trafilatura.extract(html) with no options, trafilatura as installed;
  fast                  the stage built from configs/fast.yaml's `stages.extract`: engine resiliparse with its
                        line filter and trafilatura fallback, on every page (a run keeping fast.yaml's languages skips
                        the fallback for pages whose visible text is in none of them: a line after the table counts
                        them and scores the rest);
  resiliparse           ... without either: extract_plain_text as DCLM-Baseline ran it;
  resiliparse+filter    ... with the line filter only;
  resiliparse+fallback  ... with the fallback only (fast.yaml's fallback_engine, for pages it misses);
  fast+trafilatura      fast with fallback_engine trafilatura (extract(), trafilatura_fast as in fast.yaml);
  fast+trafilatura-full ... and trafilatura_fast off: trafilatura also asks readability and jusText (as FineWeb).
The rows of refinery's stage (refinery, fast, resiliparse...) run with trafilatura sped up, as a run does.
Two benchmarks from the shared data folder (DIR/extraction/, see its MANIFEST.md section 2):
  aeb       scrapinghub article-extraction-benchmark, 120 pages with the full article body as truth: bag-of-tokens
            precision/recall/F1 (tokens = \\w+ of the lowercased text, multiset overlap), micro-summed over pages,
            plus the mean per-page F1 and, for comparison with the MANIFEST's reference, the benchmark's own
            4-token-shingle F1;
  evaldata  trafilatura's evaluation set, 103 pages with snippets that must ("with") and must not ("without")
            appear: segment-level precision/recall/F1/accuracy as trafilatura's own evaluation counts them.
Pages are decoded to str first, as refinery does before extraction (stages.read.decode_html, no declared charset).
pages/s is pages / the summed time of the extract calls alone (decoding and scoring are left out); the lines below
the table give each extractor's pages/s over both sets as a multiple of refinery's, and its F1 on each set minus
trafilatura-defaults'.
--data defaults to ../shared/data next to the repository; --limit N takes the first N pages of each set.
"""

import argparse
import gzip
import json
import os
import platform
import re
import statistics
import sys
import time
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

DEFAULT_DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
WARMUP_HTML = "<html><body><article><p>warm up</p><p>" + "Some words to extract. " * 20 + "</p></article></body></html>"
_TOKEN = re.compile(r"\w+")


def find_extraction_dir(data: str) -> str | None:
    """Accepts the shared data folder or its extraction/ subfolder."""
    for candidate in (os.path.join(data, "extraction"), data):
        if os.path.isdir(os.path.join(candidate, "scrapinghub-aeb")) and os.path.isdir(
            os.path.join(candidate, "trafilatura-evaldata")
        ):
            return candidate
    return None


def decode(payload: bytes) -> tuple[str, bool]:
    """HTML bytes -> str the way refinery's read stage decodes a record with no declared charset (UTF-8 first,
    then the <meta> charset, then cchardet's guess). Pages refinery would drop as undecodable fall back to UTF-8
    with replacement characters so both extractors still see the same text; the flag says it happened."""
    from stages.read import decode_html

    decoded = decode_html(payload, None)
    if decoded is None:
        return payload.decode("utf-8", "replace"), False
    return decoded[0], True


def load_aeb(folder: str, limit: int | None) -> list[dict]:
    with open(os.path.join(folder, "ground-truth.json"), encoding="utf-8") as f:
        truth = json.load(f)
    pages = []
    for page_id, item in list(truth.items())[:limit]:
        with gzip.open(os.path.join(folder, "html", f"{page_id}.html.gz"), "rb") as f:
            html, ok = decode(f.read())
        pages.append({"id": page_id, "url": item.get("url"), "html": html, "decoded": ok, "truth": item["articleBody"]})
    return pages


def load_evaldata(folder: str, limit: int | None) -> list[dict]:
    with open(os.path.join(folder, "evaldata.json"), encoding="utf-8") as f:
        items = json.load(f)
    pages = []
    for url, item in list(items.items())[:limit]:
        # names carry spaces, quotes and non-ASCII letters: always join, never pass through a shell
        with open(os.path.join(folder, "html", item["file"]), "rb") as f:
            html, ok = decode(f.read())
        pages.append(
            {"id": item["file"], "url": url, "html": html, "decoded": ok,
             "with": item["with"], "without": item["without"]}
        )
    return pages


def token_counts(pred: str, truth: str) -> tuple[int, int, int]:
    """(common, predicted, true) token counts, tokens being \\w+ of the lowercased text, overlap as multisets."""
    p, t = Counter(_TOKEN.findall(pred.lower())), Counter(_TOKEN.findall(truth.lower()))
    return sum((p & t).values()), sum(p.values()), sum(t.values())


def shingle_counts(pred: str, truth: str, n: int = 4) -> tuple[int, int, int]:
    """The article-extraction-benchmark's own unit: n-token shingles (\\w+, case kept), counted as multisets;
    a text shorter than n tokens is one shingle, as there."""

    def shingles(text):
        tokens = _TOKEN.findall(text)
        return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i : i + n])

    p, t = shingles(pred), shingles(truth)
    return sum((p & t).values()), sum(p.values()), sum(t.values())


def prf(common: float, predicted: float, true: float) -> tuple[float, float, float]:
    precision = common / predicted if predicted else 0.0
    recall = common / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def norm_ws(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def segment_counts(page: dict, text: str | None) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn) as trafilatura's evaluation counts them (tests/eval_common.py): whitespace-normalised
    substring matching, so a snippet split over two output lines is not lost to a newline; no output at all
    misses every "with" snippet and avoids every "without" one."""
    out = norm_ws(text or "")
    tp = sum(norm_ws(s) in out for s in page["with"]) if out else 0
    fp = sum(norm_ws(s) in out for s in page["without"]) if out else 0
    return tp, fp, len(page["with"]) - tp, len(page["without"]) - fp


def extract_one(extract, html: str) -> dict:
    error = None
    t0 = time.perf_counter()
    try:
        text = extract(html)
    except Exception as e:  # noqa: BLE001 - the pipeline drops such a page (extraction_failed); count it here too
        text, error = None, f"{type(e).__name__}: {e}"[:200]
    return {"text": text or "", "seconds": time.perf_counter() - t0, "error": error}


def own_dedup_cache(extract):
    """`extract` with a cache of seen text segments of its own. trafilatura's deduplicate=True (refinery's
    setting, also that of the resiliparse engine's fallback) counts segments in one process-wide cache and drops
    those seen more than twice: extractors sharing it on the same pages would cut each other's text."""
    from collections import OrderedDict

    from trafilatura.deduplication import LRU_TEST

    cache = OrderedDict()

    def call(html):
        shared, LRU_TEST.cache = LRU_TEST.cache, cache
        try:
            return extract(html)
        finally:
            LRU_TEST.cache = shared

    return call


def run_interleaved(extractors: dict, pages: list[dict]) -> dict[str, list[dict]]:
    """Every extractor on every page, page by page, alternating which goes first: on a shared machine a burst
    of background load then slows both alike instead of whichever pass happened to run during it."""
    names = list(extractors)
    outputs = {name: [] for name in names}
    for i, page in enumerate(pages):
        for name in names if i % 2 == 0 else names[::-1]:
            outputs[name].append(extract_one(extractors[name], page["html"]))
    return outputs


def score_aeb(pages, outputs) -> dict:
    tok, shi, page_f1 = [0, 0, 0], [0, 0, 0], []
    for page, out in zip(pages, outputs):
        counts = token_counts(out["text"], page["truth"])
        tok = [a + b for a, b in zip(tok, counts)]
        shi = [a + b for a, b in zip(shi, shingle_counts(out["text"], page["truth"]))]
        # an empty output has no precision; its recall (and so its F1) is 0
        out["f1"] = prf(*counts)[2]
        page_f1.append(out["f1"])
    p, r, f1 = prf(*tok)
    sp, sr, sf1 = prf(*shi)
    return {"precision": p, "recall": r, "f1": f1, "mean_page_f1": statistics.fmean(page_f1) if page_f1 else 0.0,
            "shingle_precision": sp, "shingle_recall": sr, "shingle_f1": sf1, "tokens_common_pred_true": tok}


def score_evaldata(pages, outputs) -> dict:
    tp = fp = fn = tn = 0
    for page, out in zip(pages, outputs):
        counts = segment_counts(page, out["text"])
        out["tp_fp_fn_tn"] = counts
        tp, fp, fn, tn = tp + counts[0], fp + counts[1], fn + counts[2], tn + counts[3]
    p, r, f1 = prf(tp, tp + fp, tp + fn)
    total = tp + fp + fn + tn
    return {"precision": p, "recall": r, "f1": f1, "accuracy": (tp + tn) / total if total else 0.0,
            "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def measure(dataset: str, pages: list[dict], score, extractors: dict, skipped: set = frozenset()) -> list[dict]:
    """One row per extractor: counts, timing, the set's scores, and per-page figures for --json; with `skipped`
    (ids of pages fast.yaml's run drops as wrong_language before any fallback), also the scores without them."""
    rows = []
    for name, outputs in run_interleaved(extractors, pages).items():
        rest = [(pg, o) for pg, o in zip(pages, outputs) if pg["id"] not in skipped]
        without_skipped = score([pg for pg, _ in rest], [dict(o) for _, o in rest]) if skipped else None
        seconds = sum(o["seconds"] for o in outputs)
        row = {"dataset": dataset, "extractor": name, "pages": len(pages),
               "empty": sum(not o["text"].strip() for o in outputs),  # the pipeline drops these as `empty`
               "errors": sum(o["error"] is not None for o in outputs),
               "undecodable": sum(not pg["decoded"] for pg in pages),
               "seconds": seconds, "pages_per_s": len(pages) / seconds if seconds else 0.0,
               **score(pages, outputs)}
        if without_skipped is not None:
            row["without_skipped"] = {"pages": len(rest), **without_skipped}
        row["per_page"] = [
            {"id": pg["id"], "url": pg["url"], "chars": len(o["text"]), "empty": not o["text"].strip(),
             "seconds": round(o["seconds"], 4),
             **{k: o[k] for k in ("error", "f1", "tp_fp_fn_tn") if o.get(k) is not None}}
            for pg, o in zip(pages, outputs)
        ]
        rows.append(row)
    return rows


def print_table(rows: list[dict]):
    header = (f"{'dataset':<9} {'extractor':<21} {'pages':>5} {'empty':>5} {'P':>6} {'R':>6} {'F1':>6} "
              f"{'F1/page':>7} {'acc':>6} {'pages/s':>8}")
    print(header)
    print("-" * len(header))
    for r in rows:
        page_f1 = f"{r['mean_page_f1']:7.3f}" if "mean_page_f1" in r else f"{'-':>7}"
        acc = f"{r['accuracy']:6.3f}" if "accuracy" in r else f"{'-':>6}"
        print(f"{r['dataset']:<9} {r['extractor']:<21} {r['pages']:>5} {r['empty']:>5} {r['precision']:6.3f} "
              f"{r['recall']:6.3f} {r['f1']:6.3f} {page_f1} {acc} {r['pages_per_s']:8.2f}")


def print_notes(rows: list[dict], timeout: float | None):
    for r in rows:
        notes = []
        if r["errors"]:
            notes.append(f"{r['errors']} raised")
        if r["undecodable"]:
            notes.append(f"{r['undecodable']} pages refinery could not decode (given to both as UTF-8 with U+FFFD)")
        empty = [pg["url"] or pg["id"] for pg in r["per_page"] if pg["empty"]]
        if empty:
            notes.append(f"empty output: {', '.join(empty)}")
        if r["extractor"] != "trafilatura-defaults" and timeout:
            slow = [f"{pg['id']} ({pg['seconds']:.2f} s)" for pg in r["per_page"] if pg["seconds"] > timeout]
            if slow:
                notes.append(f"slower in-process than the pipeline's {timeout} s timeout: {', '.join(slow)}")
        if notes:
            print(f"{r['dataset']} {r['extractor']}: " + "; ".join(notes))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=DEFAULT_DATA, help="shared data folder (holding extraction/) or that extraction/")
    p.add_argument("--limit", type=int, help="first N pages of each benchmark (smoke tests)")
    p.add_argument("--json", help="also write results, per-page figures included, to this file")
    args = p.parse_args()

    extraction = find_extraction_dir(args.data)
    if extraction is None:
        print(f"error: no extraction benchmarks under {args.data} (need scrapinghub-aeb/ and trafilatura-evaldata/, "
              "directly or in extraction/); pass --data DIR", file=sys.stderr)
        return 2

    from importlib.metadata import version

    import trafilatura
    from pipeline.config import load_config
    from stages.extract import FALLBACK_SKIPPED, ExtractStage
    from stages.trafilatura_speed import speed_up_trafilatura, trafilatura_as_installed

    def as_installed(extract):
        def call(html):
            with trafilatura_as_installed():
                return extract(html)
        return call

    def stage_params(config):
        params = dict(load_config(os.path.join(ROOT, "configs", config)).stages["extract"])
        return params.pop("timeout", None), params

    timeout, params = stage_params("fineweb.yaml")
    _, fast = stage_params("fast.yaml")
    # the resiliparse rows take fast.yaml's settings apart: DCLM's call alone, then each of its two additions
    extractors = {
        "refinery": ExtractStage(**params).extract,
        "trafilatura-fineweb": as_installed(ExtractStage(**params).extract),
        "trafilatura-defaults": as_installed(trafilatura.extract),
        "resiliparse": ExtractStage(**{**fast, "line_filter": False, "fallback_chars": 0}).extract,
        "resiliparse+filter": ExtractStage(**{**fast, "fallback_chars": 0}).extract,
        "resiliparse+fallback": ExtractStage(**{**fast, "line_filter": False}).extract,
        "fast+trafilatura": ExtractStage(**{**fast, "fallback_engine": "trafilatura"}).extract,
        "fast+trafilatura-full": ExtractStage(**{**fast, "fallback_engine": "trafilatura",
                                                  "trafilatura_fast": False}).extract,
        "fast": ExtractStage(**fast).extract,
    }
    speed_up_trafilatura()  # as a run's extract stage does; the as_installed rows undo it for their own calls
    # first calls load trafilatura's lazy parts (justext stoplists, htmldate); keep that out of pages/s
    for extract in extractors.values():
        extract(WARMUP_HTML)
    # fast.yaml's check before the fallback needs the languages the run keeps; the rows above extract every page
    # (as a run keeping all languages would), this one only tells which pages a run keeping fast.yaml's skips
    languages = (load_config(os.path.join(ROOT, "configs", "fast.yaml")).stages.get("language") or {}).get("languages")
    fast_run = ExtractStage(**fast, fallback_languages=languages).extract

    datasets = {
        "aeb": (load_aeb(os.path.join(extraction, "scrapinghub-aeb"), args.limit), score_aeb),
        "evaldata": (load_evaldata(os.path.join(extraction, "trafilatura-evaldata"), args.limit), score_evaldata),
    }
    rows, skipped = [], {}
    for dataset, (pages, score) in datasets.items():
        # pages whose visible text is in none of fast.yaml's languages keep resiliparse's text: the run drops them
        # as wrong_language, so they are also scored apart
        skipped[dataset] = {pg["id"] for pg in pages if fast_run.route(pg["html"]) == FALLBACK_SKIPPED}
        # each extractor starts each set with an empty dedup cache of its own: no figure depends on the other set
        # having run first, or on another extractor having just seen the same page
        rows += measure(dataset, pages, score, {name: own_dedup_cache(f) for name, f in extractors.items()},
                        skipped[dataset])

    by = {(r["dataset"], r["extractor"]): r for r in rows}

    def pages_per_s(name):
        mine = [r for r in rows if r["extractor"] == name]
        return sum(r["pages"] for r in mine) / sum(r["seconds"] for r in mine)

    ratio = pages_per_s("refinery") / pages_per_s("trafilatura-defaults")
    delta_aeb = by["aeb", "refinery"]["f1"] - by["aeb", "trafilatura-defaults"]["f1"]
    delta_eval = by["evaldata", "refinery"]["f1"] - by["evaldata", "trafilatura-defaults"]["f1"]

    print(f"extraction quality: {platform.machine()}, {os.cpu_count()} CPU cores, "
          f"trafilatura {trafilatura.__version__}, resiliparse {version('resiliparse')}, "
          f"datatrove {version('datatrove')}")
    print(f"refinery settings (configs/fineweb.yaml stages.extract; its {timeout} s timeout not applied): {params}")
    print(f"fast settings (configs/fast.yaml stages.extract): {fast}")
    print()
    print_table(rows)
    print()
    print(f"ratio refinery/trafilatura pages/s: {ratio:.2f}")
    print(f"F1 delta refinery-trafilatura (aeb): {delta_aeb:+.3f}")
    print(f"F1 delta refinery-trafilatura (evaldata): {delta_eval:+.3f}")
    speed = {}
    for name in extractors:
        speed[name] = pages_per_s(name) / pages_per_s("refinery")
        print(f"{name:<21} pages/s x{speed[name]:6.2f} of refinery's; F1 minus trafilatura-defaults': "
              f"aeb {by['aeb', name]['f1'] - by['aeb', 'trafilatura-defaults']['f1']:+.3f}, "
              f"evaldata {by['evaldata', name]['f1'] - by['evaldata', 'trafilatura-defaults']['f1']:+.3f}")
    for dataset, ids in skipped.items():
        if ids:
            fast_rest, base_rest = by[dataset, "fast"]["without_skipped"], by[dataset, "trafilatura-defaults"]["without_skipped"]
            print(f"{dataset}: a run of fast.yaml skips the fallback for {len(ids)} pages (visible text in none of "
                  f"{languages}: it drops them as wrong_language); F1 on the other {fast_rest['pages']}: fast "
                  f"{fast_rest['f1']:.3f}, trafilatura-defaults {base_rest['f1']:.3f} "
                  f"({fast_rest['f1'] - base_rest['f1']:+.3f})")
    print()
    for name in extractors:
        r = by["aeb", name]
        print(f"aeb 4-token-shingle P/R/F1, {name}: "
              f"{r['shingle_precision']:.3f} / {r['shingle_recall']:.3f} / {r['shingle_f1']:.3f}")
    print_notes(rows, timeout)

    if args.json:
        result = {"machine": {"arch": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()},
                  "versions": {"trafilatura": trafilatura.__version__, "resiliparse": version("resiliparse"),
                               "datatrove": version("datatrove")},
                  "refinery_params": params, "fast_params": fast, "rows": rows, "ratio_pages_per_s": ratio,
                  "pages_per_s_vs_refinery": speed,
                  "f1_delta_aeb": delta_aeb, "f1_delta_evaldata": delta_eval}
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
