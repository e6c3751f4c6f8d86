"""MinHash dedup: planted near-duplicates split across two tasks are found, exactly one document per cluster
is kept (the smallest id), unrelated documents are untouched, whatever task holds which copy."""

import os
import random

import pyarrow.parquet as pq
import pytest
from datatrove.data import Document

from stages.base import RunIntegrityError, StageOutput
from stages.documents import ROW_KEY
from stages.minhash_dedup import (
    MinhashBucketStep,
    MinhashClusterStep,
    MinhashConfig,
    MinhashDedupStage,
    MinhashSignatureStep,
)

WORDS = (
    "river garden library council winter market bridge station museum harvest school teacher letter village "
    "orchard festival painter kitchen mountain valley forest island harbour castle tower engine railway "
    "summer autumn morning evening journey story picture window garden meadow"
).split()


def essay(rng, n=300):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def mutate(text, rng, rate):
    words = text.split()
    return " ".join(rng.choice(WORDS) if rng.random() < rate else w for w in words)


def run_dedup(tasks_docs: list[list[Document]], work_dir: str, **config):
    cfg = MinhashConfig(work_dir, **config)
    for rank, docs in enumerate(tasks_docs):
        list(MinhashSignatureStep(cfg).run(iter(docs), rank=rank, world_size=len(tasks_docs)))
    for rank in range(2):
        list(MinhashBucketStep(cfg).run(None, rank=rank, world_size=2))
    list(MinhashClusterStep(cfg, tasks=len(tasks_docs)).run(None))
    kept, removed = [], []
    for rank, docs in enumerate(tasks_docs):
        for i, d in enumerate(docs):
            d.metadata[ROW_KEY] = i
        stage = MinhashDedupStage(cfg, output=StageOutput(removed_dir=work_dir + "/removed"))
        kept += list(stage.run(iter(docs), rank=rank, world_size=len(tasks_docs)))
        removed += pq.read_table(f"{work_dir}/removed/minhash_dedup/{rank:05d}.parquet").to_pylist()
    return kept, removed


def test_near_duplicates_across_tasks(tmp_path):
    rng = random.Random(7)
    originals = [essay(rng) for _ in range(20)]
    task0, task1 = [], []
    clusters = {}
    for i, text in enumerate(originals):
        # cluster i: the original in task 0, a 1%-edited copy (Jaccard ~0.9) and an exact copy in task 1
        members = [f"<c{i:02d}-b>", f"<c{i:02d}-a>", f"<c{i:02d}-c>"]
        task0.append(Document(text=text, id=members[0], metadata={}))
        task1.append(Document(text=mutate(text, rng, 0.01), id=members[1], metadata={}))
        task1.append(Document(text=text, id=members[2], metadata={}))
        clusters[i] = members
    unrelated = [Document(text=essay(rng), id=f"<u{j:02d}>", metadata={}) for j in range(30)]
    task0 += unrelated[:15]
    task1 += unrelated[15:]
    kept, removed = run_dedup([task0, task1], str(tmp_path))
    kept_ids = {d.id for d in kept}
    for i, members in clusters.items():
        assert kept_ids & set(members) == {min(members)}, f"cluster {i}: kept {kept_ids & set(members)}"
    assert all(f"<u{j:02d}>" in kept_ids for j in range(30)), "an unrelated document was removed"
    assert len(removed) == 40 and {r["reason"] for r in removed} == {"duplicate"}
    assert all(r["value"] == 3 and r["detail"].startswith("kept <c") for r in removed)


def test_keeper_does_not_depend_on_task_layout(tmp_path):
    rng = random.Random(3)
    text = essay(rng)
    docs = [Document(text=mutate(text, rng, 0.01), id=f"<d{k}>", metadata={}) for k in range(4)]
    one_task, _ = run_dedup([[Document(text=d.text, id=d.id, metadata={}) for d in docs]], str(tmp_path / "one"))
    reordered = [[Document(text=d.text, id=d.id, metadata={}) for d in docs[2:]], [Document(text=d.text, id=d.id, metadata={}) for d in docs[:2][::-1]]]
    two_tasks, _ = run_dedup(reordered, str(tmp_path / "two"))
    assert [d.id for d in one_task] == [d.id for d in two_tasks] == ["<d0>"]


def test_a_removal_list_that_does_not_match_its_task_fails_the_task(tmp_path):
    # the dedup stage's own intermediate data being wrong is not a per-document error to count and go past
    docs = [Document(text=essay(random.Random(i)), id=f"<d{i}>", metadata={}) for i in range(3)]
    docs.append(Document(text=docs[0].text, id="<d9>", metadata={}))
    run_dedup([docs], str(tmp_path))
    shuffled = [Document(text=d.text, id=d.id, metadata={ROW_KEY: i}) for i, d in enumerate(reversed(docs))]
    stage = MinhashDedupStage(MinhashConfig(str(tmp_path)), output=StageOutput())
    with pytest.raises(RunIntegrityError, match="does not match"):
        list(stage.run(iter(shuffled), rank=0, world_size=1))


def test_more_files_than_a_merge_reads_at_once_give_the_same_result(tmp_path, monkeypatch):
    """A run has a task (a signature file per band) per input file: past MAX_MERGE_FILES the bucket merge first
    merges groups of files into scratch files. Forced here with groups of 2 over 5 tasks: the same documents kept
    and removed, for the same reasons, and no scratch file left."""
    import stages.minhash_dedup as minhash_dedup

    rng = random.Random(11)
    originals = [essay(rng) for _ in range(8)]
    tasks = [[] for _ in range(5)]
    for i, text in enumerate(originals):  # each cluster spread over three tasks, plus unrelated documents
        for k in range(3):
            tasks[(i + k) % 5].append(Document(text=mutate(text, rng, 0.01 * k), id=f"<c{i}-{k}>", metadata={}))
    for j in range(10):
        tasks[j % 5].append(Document(text=essay(rng), id=f"<u{j}>", metadata={}))

    def outcome(work_dir):
        docs = [[Document(text=d.text, id=d.id, metadata={}) for d in t] for t in tasks]
        kept, removed = run_dedup(docs, work_dir)
        return sorted(d.id for d in kept), sorted((r["id"], r["detail"], r["value"]) for r in removed)

    direct = outcome(str(tmp_path / "direct"))
    monkeypatch.setattr(minhash_dedup, "MAX_MERGE_FILES", 2)
    # and small row groups and buffers, so that the merges of merges read their files a little at a time
    monkeypatch.setattr(minhash_dedup, "_MERGE_ROWS", 4)
    monkeypatch.setattr(minhash_dedup, "_MIN_BATCH_ROWS", 1)
    grouped = outcome(str(tmp_path / "grouped"))
    assert grouped == direct and len(direct[1]) == 16
    assert not [n for _, dirs, names in os.walk(tmp_path / "grouped") for n in dirs + names if ".tmp-" in n]
