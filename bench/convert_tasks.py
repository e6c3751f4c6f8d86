"""Converts benchmark files you already have into `refinery eval`'s task-file format (JSONL, one item a line:
`context` or per-choice `contexts`, `choices`, `gold`, `id`). Nothing is downloaded.

    python bench/convert_tasks.py hellaswag hellaswag_val.jsonl --out tasks/hellaswag.jsonl
    python bench/convert_tasks.py arc ARC-Easy-Dev.jsonl --out tasks/arc_easy.jsonl
    python bench/convert_tasks.py piqa valid.jsonl --labels valid-labels.lst --out tasks/piqa.jsonl
    python bench/convert_tasks.py winogrande dev.jsonl --out tasks/winogrande.jsonl

Inputs are JSONL, a JSON list, or Parquet (as the Hugging Face Hub serves these sets), with the sets' public
field names:
  hellaswag   ctx_a, ctx_b (or ctx), endings, label, activity_label   (rowanz/hellaswag, Rowan/hellaswag)
  arc         question (a string, or {stem, choices: [{text, label}]}), choices {text, label}, answerKey
              (allenai/ai2_arc, and the original ARC jsonl)
  piqa        goal, sol1, sol2, label (or the labels in --labels FILE, one a line, as the original release ships them)
  winogrande  sentence (with one "_"), option1, option2, answer ("1" or "2")
The prompts follow lm-evaluation-harness's task definitions (hellaswag's preprocessing, "Question: ...\\nAnswer:"
for ARC and PIQA, WinoGrande's partial scoring: the context up to the blank filled with each option, the rest of
the sentence as the shared continuation). Items without an answer (test splits) are skipped, and counted.
"""

import argparse
import json
import os
import re
import sys


def read_rows(path: str) -> list[dict]:
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _hellaswag_preprocess(text: str) -> str:
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def hellaswag(row: dict, n: int) -> dict | None:
    if row.get("label") in (None, ""):
        return None
    ctx = row["ctx_a"] + " " + row["ctx_b"].capitalize() if "ctx_a" in row else row["ctx"]
    label = row.get("activity_label", "")
    query = _hellaswag_preprocess((label + ": " if label else "") + ctx)
    return {"id": str(row.get("ind", n)), "context": query,
            "choices": [" " + _hellaswag_preprocess(e) for e in row["endings"]], "gold": int(row["label"])}


def arc(row: dict, n: int) -> dict | None:
    q = row["question"]
    if isinstance(q, dict):  # the original ARC jsonl
        stem, texts, labels = q["stem"], [c["text"] for c in q["choices"]], [c["label"] for c in q["choices"]]
    else:
        stem, texts, labels = q, list(row["choices"]["text"]), list(row["choices"]["label"])
    key = row.get("answerKey")
    if key not in labels:
        return None
    return {"id": str(row.get("id", n)), "context": f"Question: {stem}\nAnswer:", "choices": [" " + t for t in texts],
            "gold": labels.index(key)}


def piqa(row: dict, n: int) -> dict | None:
    if row.get("label") in (None, "", -1):
        return None
    return {"id": str(row.get("id", n)), "context": f"Question: {row['goal']}\nAnswer:",
            "choices": [" " + row["sol1"], " " + row["sol2"]], "gold": int(row["label"])}


def winogrande(row: dict, n: int) -> dict | None:
    if str(row.get("answer", "")) not in ("1", "2"):
        return None
    sentence = row["sentence"]
    blank = sentence.index("_")
    continuation = " " + sentence[blank + 1 :].strip()
    return {"id": str(row.get("qID", n)), "contexts": [sentence[:blank] + row["option1"], sentence[:blank] + row["option2"]],
            "choices": [continuation], "gold": int(row["answer"]) - 1}


CONVERTERS = {"hellaswag": hellaswag, "arc": arc, "piqa": piqa, "winogrande": winogrande}


def convert(kind: str, path: str, labels: str | None = None, limit: int | None = None) -> tuple[list[dict], int]:
    rows = read_rows(path)
    if labels:
        with open(labels) as f:
            values = [line.strip() for line in f if line.strip()]
        if len(values) != len(rows):
            raise SystemExit(f"{labels}: {len(values)} labels for {len(rows)} rows of {path}")
        rows = [{**r, "label": int(v)} for r, v in zip(rows, values)]
    items, skipped = [], 0
    for n, row in enumerate(rows):
        try:
            item = CONVERTERS[kind](row, n)
        except (KeyError, TypeError, ValueError) as e:
            raise SystemExit(f"{path}: row {n + 1} is not a {kind} item ({type(e).__name__}: {e}); "
                             f"expected the fields in `python bench/convert_tasks.py --help`") from None
        if item is None:
            skipped += 1
            continue
        items.append(item)
        if limit and len(items) >= limit:
            break
    return items, skipped


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=sorted(CONVERTERS))
    p.add_argument("input", help="the set's file: JSONL, JSON list or Parquet")
    p.add_argument("--out", required=True, help="the task file to write (JSONL)")
    p.add_argument("--labels", help="a labels file, one per line (PIQA's original release)")
    p.add_argument("--limit", type=int, help="at most N items")
    args = p.parse_args(argv)
    items, skipped = convert(args.kind, args.input, args.labels, args.limit)
    if not items:
        raise SystemExit(f"{args.input}: no item with an answer (a test split?)")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = os.path.join(os.path.dirname(os.path.abspath(args.out)), f".{os.path.basename(args.out)}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {len(items)} {args.kind} items to {args.out}" + (f" ({skipped} without an answer skipped)" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
