"""decontaminate on a crafted HellaSwag-style eval set, in every eval-set format: a page quoting an item whole is
dropped (as it is with a changed word, or split across paragraphs), a page sharing only a common 8-word phrase is
kept, annotate mode marks without dropping; a missing eval set or one with no usable n-gram fails in preflight."""

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datatrove.data import Document

from conftest import refinery
from stages.base import StageOutput
from stages.decontaminate import DecontaminateParams, DecontaminateStage

ITEMS = [
    {"ind": 1, "ctx": "A man is sitting on a roof. He starts pulling up roofing on a roof, then he",
     "endings": ["starts to hammer the new shingles down one by one with a small silver hammer while whistling loudly.",
                 "is using wrap to wrap a pair of skis."], "label": "0"},
    {"ind": 2, "ctx": "A woman stands in the kitchen holding a large bowl of flour and sugar, and carefully she",
     "endings": ["pours the mixture into a greased pan and slides it into the hot oven to bake for an hour.",
                 "and at the end of the day it was time to walk away from the counter once more."], "label": "1"},
]
PROSE = ("The council met on Tuesday to discuss the new library. Residents asked about opening hours, parking and "
         "the cost of the building, and the chair promised a written answer within a month. ")
ENDING = ITEMS[0]["endings"][0]


def _docs():
    return {
        "whole": PROSE + "Then he " + ENDING + " " + PROSE,
        "changed_word": PROSE + ENDING.replace("silver", "golden") + " " + PROSE,
        "split": PROSE + ITEMS[1]["endings"][0][:40] + "\n\n" + ITEMS[1]["endings"][0][40:] + "\n" + PROSE,
        "ctx": PROSE + ITEMS[1]["ctx"].upper() + "!!! " + PROSE,
        "common_phrase": PROSE + "We all agreed that at the end of the day it was a fine meeting. " + PROSE,
        "clean": PROSE * 3,
    }


def _run(stage, removed_dir=None):
    docs = [Document(text=t, id=k, metadata={}) for k, t in _docs().items()]
    kept = {d.id: d for d in stage.run(iter(docs), rank=0, world_size=1)}
    return kept


def _write(folder, kind) -> str:
    if kind == "jsonl":
        path = os.path.join(folder, "hellaswag.jsonl")
        with open(path, "w") as f:
            f.writelines(json.dumps(i) + "\n" for i in ITEMS)
    elif kind == "parquet":
        path = os.path.join(folder, "hellaswag.parquet")
        pq.write_table(pa.Table.from_pylist(ITEMS), path)
    elif kind == "text":
        path = os.path.join(folder, "hellaswag.txt")
        with open(path, "w") as f:
            f.writelines(t + "\n" for i in ITEMS for t in [i["ctx"], *i["endings"]])
    else:
        datasets = pytest.importorskip("datasets")
        path = os.path.join(folder, "hellaswag")
        datasets.DatasetDict({"validation": datasets.Dataset.from_list(ITEMS)}).save_to_disk(path)
    return path


@pytest.mark.parametrize("kind", ["jsonl", "parquet", "text", "datasets"])
def test_filter_drops_quoting_pages_and_keeps_a_common_phrase(tmp_path, kind):
    path = _write(str(tmp_path), kind)
    fields = [] if kind == "text" else ["ctx", "endings"]
    DecontaminateStage.preflight(DecontaminateParams(eval_sets=[path], fields=fields))
    stage = DecontaminateStage([path], fields, output=StageOutput(removed_dir=str(tmp_path / "removed")))
    kept = _run(stage)
    assert set(kept) == {"common_phrase", "clean"}
    removed = {r["id"]: r for r in pq.read_table(str(tmp_path / "removed" / "decontaminate" / "00000.parquet")).to_pylist()}
    assert set(removed) == {"whole", "changed_word", "split", "ctx"}
    assert {r["reason"] for r in removed.values()} == {"contaminated"}
    # the detail names the eval set and the first matching n-gram, normalised
    assert removed["whole"]["detail"] == 'hellaswag: "starts to hammer the new shingles down one by one with a small"'
    assert stage.stats["contaminated/hellaswag"].total == 4


def test_annotate_marks_without_dropping(tmp_path):
    path = _write(str(tmp_path), "jsonl")
    stage = DecontaminateStage([path], ["ctx", "endings"], mode="annotate")
    kept = _run(stage)
    assert set(kept) == set(_docs())
    marked = {k for k, d in kept.items() if d.metadata.get("contaminated_by")}
    assert marked == {"whole", "changed_word", "split", "ctx"}
    assert kept["whole"].metadata["contaminated_by"] == "hellaswag"


def test_only_the_named_fields_are_read(tmp_path):
    path = _write(str(tmp_path), "jsonl")
    kept = _run(DecontaminateStage([path], ["ctx"]))
    assert set(kept) == set(_docs()) - {"ctx"}


def test_broken_eval_sets_fail_in_preflight(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        DecontaminateStage.preflight(DecontaminateParams(eval_sets=[str(tmp_path / "missing.jsonl")]))
    path = _write(str(tmp_path), "jsonl")
    with pytest.raises(ValueError, match="no 13-word n-gram"):
        DecontaminateStage.preflight(DecontaminateParams(eval_sets=[path], fields=["label"]))
    assert DecontaminateParams().problems()  # off until the user names eval sets


def test_a_config_without_eval_sets_is_refused(tmp_path):
    import yaml

    cfg = {"stages": {"read": {}, "extract": {}, "decontaminate": {}}}
    path = str(tmp_path / "c.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    proc = refinery("run", path, "--output", str(tmp_path / "run"), check=False)
    assert proc.returncode != 0 and "eval_sets" in proc.stderr
