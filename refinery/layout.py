"""Every path of a run folder, once. `refinery run` writes it, the stages write into it, `stats`, `verify`, `report`
and the trainer read it: all of them ask RunLayout (or, for a token-shard folder alone, ShardLayout) where a thing
is, and none spells a path itself.

    DIR/
      run.json                      what the run is (config the user set, resolved inputs, layout version)
      documents/<task>.parquet      curated documents
      removed/<stage>/<task>.parquet, inspect/<stage>/<task>.parquet
      errors/<task>.json, errors/listing.json
      logs/<phase>/                 datatrove's logging folder: stats/<task>.json, completions/, logs/
      tokenizer/tokenizer.json
      shards/manifest.json, shards/<split>/<split>_<range>_<n>.parquet
      work/filtered/, work/minhash/, work/keys/, work/quality/, work/tokens/ intermediates (deleted or not, never needed by a
                                    later run)
      dedup_index/minhash/, dedup_index/exact/   what a later run deduplicates against (`against:`): MinHash band
                                    signatures and exact-text hashes with document ids, never texts; kept by cleanup
      sample/                       the generated sample (when a run names no input)
      slurm_jobs.json, .refinery.lock
"""

import glob
import hashlib
import json
import os
from dataclasses import dataclass

from refinery.lock import LOCK_NAME

# What a run folder's files mean. Bumped when a folder written by an older refinery cannot be continued by this
# one (a Parquet schema, a file's place or meaning changed): such a folder is refused with a message, never
# silently redone. Version 1: every folder written before the version was recorded.
# Version 3: curate and finalize run one task per input file (task r: file r); before, min(executor.tasks, files)
# tasks each read a share of the files.
LAYOUT_VERSION = 3
COMPATIBLE_LAYOUTS = (3,)
# older layouts (1 and 2 differ only in what run.json records) whose folders this refinery continues when their
# tasks were already one per input file (no more input files than executor.tasks)
TASK_PER_FILE_IF_ENOUGH_TASKS = (1, 2)

MANIFEST = "manifest.json"
TOKENIZER_FILE = "tokenizer.json"
SPLITS = ("train", "val")


def file_sha256(path: str) -> str:
    """The manifest's and every shard's `tokenizer_sha256`: which tokenizer.json made the token ids."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@dataclass(frozen=True)
class ShardLayout:
    """A token-shard folder (DIR/shards): what the trainer reads, with nothing else of the run needed."""

    root: str

    @property
    def manifest(self) -> str:
        return os.path.join(self.root, MANIFEST)

    def split(self, split: str) -> str:
        return os.path.join(self.root, split)

    def shard(self, split: str, name: str) -> str:
        return os.path.join(self.root, split, name)

    def read_manifest(self) -> dict:
        with open(self.manifest) as f:
            return json.load(f)


@dataclass(frozen=True)
class RunLayout:
    root: str

    # Every entry a run folder can hold that refinery wrote: `--overwrite` removes these (but the generated sample,
    # which may be this run's input, and the lock) and nothing else; a folder holding anything else and no run.json
    # is not refinery's and is refused.
    OUTPUTS = ("run.json", "documents", "removed", "inspect", "errors", "logs", "tokenizer", "shards", "work",
               "dedup_index", "slurm_jobs.json")
    SAMPLE = "sample"
    LOCK = LOCK_NAME

    def path(self, *parts) -> str:
        return os.path.join(self.root, *parts)

    @property
    def marker(self) -> str:
        return self.path("run.json")

    @property
    def slurm_jobs(self) -> str:
        """Job ids of the phases submitted to Slurm: a rerun refuses while any is still queued or running."""
        return self.path("slurm_jobs.json")

    @property
    def documents(self) -> str:
        return self.path("documents")

    def document_files(self) -> list[str]:
        return sorted(glob.glob(os.path.join(self.documents, "*.parquet")))

    @property
    def removed(self) -> str:
        return self.path("removed")

    @property
    def inspect(self) -> str:
        return self.path("inspect")

    def stage_files(self, kind: str, stage: str) -> list[str]:
        """kind: "removed" or "inspect"."""
        return sorted(glob.glob(self.path(kind, stage, "*.parquet")))

    @property
    def sample(self) -> str:
        """Where the bundled sample is generated when a run names no input: the run's input, so never deleted
        with the run's outputs."""
        return self.path(self.SAMPLE)

    @property
    def errors(self) -> str:
        return self.path("errors")

    def error_files(self) -> list[str]:
        return sorted(glob.glob(os.path.join(self.errors, "*.json")))

    @property
    def listing_errors(self) -> str:
        return os.path.join(self.errors, "listing.json")

    @property
    def filtered(self) -> str:
        return self.path("work", "filtered")

    @property
    def minhash(self) -> str:
        return self.path("work", "minhash")

    @property
    def quality(self) -> str:
        """quality_classifier's scores per task and the cutoff of keep_fraction (ids and numbers, no text)."""
        return self.path("work", "quality")

    @property
    def token_work(self) -> str:
        """The tokenize phase's rows per task and split, and the shards phase's part manifests (intermediates,
        deleted once shards/manifest.json is written)."""
        return self.path("work", "tokens")

    @property
    def keys(self) -> str:
        """url_dedup's and exact_dedup's per-task keys and removal lists (intermediates)."""
        return self.path("work", "keys")

    @property
    def dedup_index(self) -> str:
        """What a later run's `against:` reads: kept by cleanup, holds hashes and ids only."""
        return self.path("dedup_index")

    @property
    def minhash_index(self) -> str:
        return self.path("dedup_index", "minhash")

    @property
    def exact_index(self) -> str:
        return self.path("dedup_index", "exact")

    def logs(self, phase: str) -> str:
        return self.path("logs", phase)

    def task_stats_files(self) -> list[str]:
        """datatrove's per-task stats of every phase (written once per completed task, however often resumed)."""
        return sorted(glob.glob(self.path("logs", "*", "stats", "*.json")))

    @property
    def tokenizer(self) -> str:
        return self.path("tokenizer", TOKENIZER_FILE)

    @property
    def shards(self) -> ShardLayout:
        return ShardLayout(self.path("shards"))
