"""From a RunConfig to the datatrove step lists of each phase.

Phases (each a datatrove executor with its own logging dir, logs/<phase>/):
  curate          read -> url_filter -> extract -> language -> quality filters -> [minhash signatures]
                  -> work/filtered/<task>.parquet
  dedup_buckets   (only with minhash_dedup) band-wise links between documents sharing a band hash
  dedup_clusters  (only with minhash_dedup) union-find, one keeper per cluster
  finalize        work/filtered/<task> -> [minhash_dedup] -> [pii] -> documents/<task>.parquet
  [tokenize]      documents/ -> tokenizer/, shards/
  cleanup         (unless output.keep_work) deletes work/filtered/: whole texts, unscrubbed. A phase of its own,
                  so it runs only once every finalize task has completed (a rerun of a half-finished finalize
                  still finds its inputs) and, done once, is skipped by reruns like any completed phase
"""

from dataclasses import dataclass

from pipeline.config import RunConfig
from refinery.layout import RunLayout
from stages.base import StageOutput
from stages.c4_quality import C4QualityStage
from stages.documents import DeleteDocuments, DocumentReader, DocumentWriter
from stages.extract import ExtractStage
from stages.fineweb_quality import FineWebQualityStage
from stages.gopher_quality import GopherQualityStage
from stages.gopher_repetition import GopherRepetitionStage
from stages.language import LanguageStage
from stages.minhash_dedup import (
    MinhashBucketStep,
    MinhashClusterStep,
    MinhashConfig,
    MinhashDedupStage,
    MinhashSignatureStep,
)
from stages.pii import PIIStage
from stages.read import WarcReadStage
from stages.token_shards import TokenizeStep
from stages.url_filter import URLFilterStage

# stage name -> class for the filters that take their options straight from the config
FILTER_STAGES = {
    "url_filter": URLFilterStage,
    "extract": ExtractStage,
    "language": LanguageStage,
    "gopher_repetition": GopherRepetitionStage,
    "gopher_quality": GopherQualityStage,
    "c4_quality": C4QualityStage,
    "fineweb_quality": FineWebQualityStage,
}


@dataclass
class Phase:
    name: str
    steps: list
    tasks: int


def build_phases(cfg: RunConfig, files: list[str], layout: RunLayout) -> list[Phase]:
    stages = cfg.stages
    scrub = None if cfg.raw_text else stages.get("pii")
    common = {"output": StageOutput(layout.removed, cfg.removed_text_chars, layout.inspect, cfg.inspect_rate,
                                    cfg.inspect_text_chars, scrub)}
    tasks = max(1, min(cfg.tasks, len(files)))

    curate = [WarcReadStage(files, dump=cfg.dump, errors_dir=layout.errors, **stages["read"], **common)]
    for name, cls in FILTER_STAGES.items():
        if name in stages:
            curate.append(cls(**stages[name], **common))
    phases = []
    dedup = None
    if "minhash_dedup" in stages:
        dedup = MinhashConfig(layout.minhash, **stages["minhash_dedup"])
        curate.append(MinhashSignatureStep(dedup))
    curate.append(DocumentWriter(layout.filtered))
    phases.append(Phase("curate", curate, tasks))

    finalize = [DocumentReader(layout.filtered)]
    if dedup:
        phases.append(Phase("dedup_buckets", [MinhashBucketStep(dedup)], min(dedup.bands, tasks)))
        phases.append(Phase("dedup_clusters", [MinhashClusterStep(dedup, tasks)], 1))
        finalize.append(MinhashDedupStage(dedup, **common))
    if "pii" in stages:
        finalize.append(PIIStage(**stages["pii"], **common))
    finalize.append(DocumentWriter(layout.documents))
    phases.append(Phase("finalize", finalize, tasks))
    if "tokenizer" in stages:
        phases.append(Phase("tokenize", [TokenizeStep(layout, stages["tokenizer"], stages.get("shards"))], 1))
    if not cfg.keep_work:
        phases.append(Phase("cleanup", [DeleteDocuments(layout.filtered, tasks)], 1))
    return phases
