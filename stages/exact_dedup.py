"""Stage `exact_dedup`: one document per normalised text across the run (and against earlier runs).

Normalisation, exactly: Unicode NFC, then every run of whitespace (str.split) collapsed to one space and stripped
at both ends. Case, punctuation and digits are kept: pages that differ only in them (a price, a date, a name's
capitalisation) are different texts here, and are left to MinHash. The key is xxh3-64 of the UTF-8 bytes (at
100M documents the chance of any collision is about 3e-4).

Keeper: the smallest document id (then task, index), whatever task holds which copy. Removed: `exact_duplicate`
(detail: the kept id), or with `against:` `duplicate` (detail: the kept id and the earlier run) when an earlier
run holds the same text: its document always wins. The hashes are stored in dedup_index/exact/ for later runs.
"""

import os
import unicodedata
from dataclasses import dataclass

import xxhash

from stages.key_dedup import KeyDedupStage, KeyFiles, KeyMergeStep, KeyStep, read_index_meta, remove_dir, work_dir
from stages.minhash_dedup import check_not_this_run
from stages.registry import key
from refinery.layout import RunLayout

NORMALISATION = "nfc+whitespace/1"  # stored with the hashes: an earlier run normalised otherwise is refused
INDEX_META = "exact.json"


def normalise_text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text or "").split())


def text_key(doc) -> int:
    return xxhash.xxh3_64_intdigest(normalise_text(doc.text).encode("utf-8", "surrogatepass"))


def earlier_exact_runs(against: list[str], own: str | None = None) -> list[tuple[str, str, int]]:
    """(name, hash folder, tasks) of each earlier run of `against:`; ValueError when one cannot be used."""
    out = []
    for run in against:
        check_not_this_run(run, own)
        folder = RunLayout(run).exact_index
        meta = read_index_meta(run, os.path.join(folder, INDEX_META), "exact-text hashes")
        if meta.get("normalisation") != NORMALISATION:
            raise ValueError(f"against: {run} hashed its texts with normalisation {meta.get('normalisation')!r}, this "
                             f"refinery with {NORMALISATION!r}: its hashes cannot be compared with this run's")
        out.append((run, folder, int(meta["tasks"])))
    return out


@dataclass
class ExactDedupParams:
    against: list[str] = key([], help="earlier run folders whose stored text hashes (dedup_index/exact/) this run "
                                      "deduplicates against; their documents always win")


class ExactDedupStage(KeyDedupStage):
    name = "exact_dedup"
    order = 78
    summary = ("one document per text (NFC, whitespace collapsed; case, punctuation, digits kept; xxh3-64) across "
               "all tasks; the smallest id kept")
    Params = ExactDedupParams
    reasons = ("exact_duplicate", "duplicate")
    preflight_label = "exact_dedup (xxhash, against)"

    @classmethod
    def preflight(cls, params):
        import xxhash  # noqa: F401

        earlier_exact_runs(params.against)

    @classmethod
    def build(cls, params, ctx):
        files = KeyFiles(ctx.layout.exact_index, work_dir(ctx.layout, cls.name))
        before = [remove_dir(ctx.layout, "url_dedup")] if "url_dedup" in ctx.params else []
        ctx.add("curate", cls.order, KeyStep(cls.name, files, text_key))
        ctx.add_phase("dedup_keys", rank=15, tasks=1)
        ctx.add("dedup_keys", cls.order, KeyMergeStep(
            cls.name, files, ctx.tasks, "exact_duplicate", "same text as",
            [("doc_id", "ascending"), ("task", "ascending"), ("index", "ascending")], before,
            earlier_exact_runs(params.against, own=ctx.layout.root),
            meta=(os.path.join(ctx.layout.exact_index, INDEX_META), {"normalisation": NORMALISATION})))
        ctx.add("finalize", cls.order, cls(files, output=ctx.output))
