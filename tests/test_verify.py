"""`refinery verify`: a clean run passes; each kind of damage is caught with a message naming it."""

import glob
import json
import os
import shutil

import pyarrow.parquet as pq
import pytest

from conftest import refinery


@pytest.fixture
def run_copy(sample_run, tmp_path):
    return shutil.copytree(sample_run[0], str(tmp_path / "run"))


def verify(run_dir):
    return refinery("verify", run_dir, check=False)


def test_clean_run_verifies(sample_run):
    proc = verify(sample_run[0])
    assert proc.returncode == 0 and "is consistent" in proc.stdout, proc.stdout + proc.stderr


def _first(pattern):
    return sorted(glob.glob(pattern))[0]


def damage_stats(run):
    # a stage that claims one more kept document than it had
    path = _first(os.path.join(run, "logs", "curate", "stats", "*.json"))
    with open(path) as f:
        entries = json.load(f)
    for e in entries:
        if e["name"].endswith("language"):
            e["stats"]["kept"] = e["stats"]["kept"] + 1 if isinstance(e["stats"]["kept"], int) else {**e["stats"]["kept"], "total": e["stats"]["kept"]["total"] + 1}
    with open(path, "w") as f:
        json.dump(entries, f)
    return "stage language: in"


def damage_removed(run):
    path = _first(os.path.join(run, "removed", "minhash_dedup", "*.parquet"))
    t = pq.read_table(path)
    pq.write_table(t.slice(1), path)
    return "removed/minhash_dedup/ does not match"


def damage_parquet(run):
    path = _first(os.path.join(run, "documents", "*.parquet"))
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    return "unreadable Parquet"


def damage_manifest(run):
    path = os.path.join(run, "shards", "manifest.json")
    with open(path) as f:
        m = json.load(f)
    m["splits"]["train"]["tokens"] += 7
    with open(path, "w") as f:
        json.dump(m, f)
    return "the manifest says"


def damage_tokenizer(run):
    with open(os.path.join(run, "tokenizer", "tokenizer.json"), "a") as f:
        f.write(" ")
    return "differs from the manifest"


def damage_shard_rows(run):
    path = _first(os.path.join(run, "shards", "train", "*.parquet"))
    t = pq.read_table(path)
    pq.write_table(t.slice(0, t.num_rows - 1), path)
    return "curated documents missing"


def damage_documents(run):
    path = _first(os.path.join(run, "documents", "*.parquet"))
    t = pq.read_table(path)
    pq.write_table(t.slice(1), path)
    return "documents/ holds"


@pytest.mark.parametrize("damage", [damage_stats, damage_removed, damage_parquet, damage_manifest, damage_tokenizer,
                                    damage_shard_rows, damage_documents], ids=lambda f: f.__name__)
def test_verify_catches_damage(run_copy, damage):
    want = damage(run_copy)
    proc = verify(run_copy)
    assert proc.returncode == 1, proc.stdout
    assert want in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stderr
