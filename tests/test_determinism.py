"""The same input and config give the same curated documents and token shards whatever the task count and
worker count, each input file's documents in the output file of its number (a task per input file)."""

import glob
import hashlib
import json
import os

import pyarrow.parquet as pq
from warcio.archiveiterator import ArchiveIterator

from conftest import refinery, stats_json


def split_warc(path: str, out_dir: str, parts: int) -> list[str]:
    """Cuts a per-record-gzip WARC at record boundaries into `parts` files of consecutive records."""
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "rb") as f:
        it = ArchiveIterator(f)
        offsets = []
        for record in it:
            offsets.append(it.get_record_offset())
    offsets.append(len(data))
    n = len(offsets) - 1
    files = []
    for p in range(parts):
        a, b = offsets[p * n // parts], offsets[(p + 1) * n // parts]
        files.append(os.path.join(out_dir, f"part-{p}.warc.gz"))
        with open(files[-1], "wb") as f:
            f.write(data[a:b])
    return files


def fingerprint(run_dir: str) -> dict:
    docs = {}
    for path in glob.glob(os.path.join(run_dir, "documents", "*.parquet")):
        t = pq.read_table(path, columns=["id", "text"])
        for i, text in zip(t.column("id").to_pylist(), t.column("text").to_pylist()):
            assert i not in docs
            docs[i] = hashlib.sha256(text.encode()).hexdigest()
    with open(os.path.join(run_dir, "shards", "manifest.json")) as f:
        manifest = json.load(f)
    shards = {}
    for split, info in manifest["splits"].items():
        rows = []
        for name in info["shards"]:
            t = pq.read_table(os.path.join(run_dir, "shards", split, name))
            rows += [(d, hashlib.sha256(bytes(str(ids), "ascii")).hexdigest()) for d, ids in
                     zip(t.column("doc_id").to_pylist(), t.column("input_ids").to_pylist())]
        shards[split] = rows
    stats = [(s["name"], s["in"], s["kept"], s["dropped"]) for s in stats_json(run_dir)["stages"]]
    return {"documents": docs, "manifest": manifest, "shards": shards, "stats": stats}


def without_file_lists(manifest: dict) -> dict:
    return {**manifest, "splits": {s: {k: v for k, v in info.items() if k != "shards"}
                                   for s, info in manifest["splits"].items()}}


def test_one_task_and_four_tasks_give_the_same_data(sample_run, tmp_path):
    sample = glob.glob(os.path.join(sample_run[0], "sample", "*.warc.gz"))[0]
    parts = split_warc(sample, str(tmp_path), 4)
    one, four = str(tmp_path / "one"), str(tmp_path / "four")
    refinery("run", "configs/sample.yaml", "--input", *parts, "--output", one, "--tasks", "1", "--workers", "1")
    refinery("run", "configs/sample.yaml", "--input", *parts, "--output", four, "--tasks", "4", "--workers", "2")
    # one task per input file with any --tasks: documents/<task>.parquet holds the documents of input file <task>
    for run in (one, four):
        with open(os.path.join(run, "run.json")) as f:
            inputs = json.load(f)["inputs"]
        files = sorted(os.listdir(os.path.join(run, "documents")))
        assert files == [f"{i:05d}.parquet" for i in range(len(inputs))] and len(inputs) == 4
        for i, name in enumerate(files):
            metadata = pq.read_table(os.path.join(run, "documents", name), columns=["metadata"]).column("metadata")
            assert {json.loads(m)["warc_file"] for m in metadata.to_pylist()} == {os.path.basename(inputs[i])}
    for name in os.listdir(os.path.join(one, "documents")):
        assert pq.read_table(os.path.join(one, "documents", name)).equals(
            pq.read_table(os.path.join(four, "documents", name)))
    a, b = fingerprint(one), fingerprint(four)
    assert a["stats"] == b["stats"]
    assert a["documents"] == b["documents"] and len(a["documents"]) > 100
    # the manifest's totals, not its file lists: each shards task cuts its own files (stages/token_shards.py)
    assert without_file_lists(a["manifest"]) == without_file_lists(b["manifest"])
    assert a["shards"] == b["shards"]  # same rows, same tokens, same global order
    # and the split input gives the same data as the single sample file did (2 tasks, 2 workers)
    whole = fingerprint(sample_run[0])
    assert whole["documents"] == a["documents"] and whole["shards"] == a["shards"]
