"""From a RunConfig to the datatrove step lists of each phase.

Phases (each a datatrove executor with its own logging dir, logs/<phase>/):
  curate          read -> url_filter -> extract -> language -> quality filters -> [URL keys] -> [text hashes]
                  -> [minhash signatures] -> [quality_classifier scores] -> work/filtered/<task>.parquet
                  (one task per input file: task r reads the run's file r)
  dedup_keys      (only with url_dedup or exact_dedup) one document per URL, then per text, among those left
  dedup_buckets   (only with minhash_dedup) band-wise links between documents sharing a band hash
  dedup_clusters  (only with minhash_dedup) union-find, one keeper per cluster among the documents still alive
  quality_score   (only with quality_classifier's `phase: quality_score`) work/filtered/<task> -> the classifier's
                  scores, work/quality/scores/<task>.parquet (duplicates skipped): a phase a cluster can place on
                  GPU nodes (executor.<type>.phases.quality_score)
  quality_cutoff  (only with quality_classifier's keep_fraction) one task: the (score, id) cutoff of the whole run
  finalize        work/filtered/<task> -> [url_dedup] -> [exact_dedup] -> [minhash_dedup] -> [quality_classifier]
                  -> [decontaminate] -> [pii] -> documents/<task>.parquet (one task per input file)
  [tokenize]      documents/ -> tokenizer/, shards/
  cleanup         (unless output.keep_work) deletes work/filtered/: whole texts, unscrubbed. A phase of its own,
                  so it runs only once every finalize task has completed (a rerun of a half-finished finalize
                  still finds its inputs) and, done once, is skipped by reruns like any completed phase

The unit of work, and of resume, is the input file: curate and finalize run one datatrove task per input file, so a
task's completion marker, its stats file and its outputs (work/filtered/<task>, documents/<task>, removed/<stage>/<task>,
the dedup stages' per-task files) are those of one file, and a rerun after a kill redoes only the files whose task had
not completed. `executor.tasks` does not change what a task is: it is how many jobs a cluster executor runs the tasks
in (pipeline/executors.py).
"""

from dataclasses import asdict, dataclass, field

from pipeline.config import RunConfig
from refinery.layout import RunLayout
from stages.base import StageOutput
from stages.documents import DeleteDocuments, DocumentReader, DocumentWriter

# the phases every run has, by rank; stages add their own between them (url_dedup and exact_dedup: dedup_keys 15;
# MinHash: dedup_buckets 20, dedup_clusters 30; quality_classifier: quality_score 33, with keep_fraction
# quality_cutoff 35; the tokenizer: tokenize 50)
CURATE, FINALIZE, CLEANUP = "curate", "finalize", "cleanup"
FIRST, LAST = -(10**9), 10**9  # orders of the framework's readers and writers around the stages' steps


@dataclass
class Phase:
    name: str
    steps: list
    tasks: int


@dataclass
class _PhaseDraft:
    rank: int
    tasks: int
    steps: list = field(default_factory=list)  # (order, sequence, step)


class BuildContext:
    """What a stage's `build` sees: the run (cfg, files, layout, tasks), the params of every configured stage, the
    shared StageOutput, and `add`/`add_phase` to place its steps. `tasks`: the number of curate and finalize tasks,
    one per input file (task r reads file r: the read stage gives rank r of N the files r, r+N, ...); a document is
    addressed across phases by (task, row)."""

    def __init__(self, cfg: RunConfig, files: list[str], layout: RunLayout, registry):
        self.cfg, self.files, self.layout, self.registry = cfg, files, layout, registry
        self.tasks = max(1, len(files))
        self.params = {name: registry.get(name).Params(**values) for name, values in cfg.stages.items()}
        scrubbing = [registry.get(n) for n in cfg.stages if registry.get(n).scrubs_text]
        scrub = None if cfg.raw_text or not scrubbing else (scrubbing[0], asdict(self.params[scrubbing[0].name]))
        self.output = StageOutput(layout.removed, cfg.removed_text_chars, layout.inspect, cfg.inspect_rate,
                                  cfg.inspect_text_chars, scrub)
        self._phases = {CURATE: _PhaseDraft(10, self.tasks), FINALIZE: _PhaseDraft(40, self.tasks)}
        self._sequence = 0

    def add_phase(self, name: str, rank: int, tasks: int):
        self._phases.setdefault(name, _PhaseDraft(rank, tasks))

    def add(self, phase: str, order: int, step):
        if phase not in self._phases:
            raise ValueError(f"no phase {phase!r}: add_phase() it first")
        self._sequence += 1
        self._phases[phase].steps.append((order, self._sequence, step))

    def phases(self) -> list[Phase]:
        drafts = sorted(self._phases.items(), key=lambda kv: kv[1].rank)
        return [Phase(name, [step for _, _, step in sorted(d.steps, key=lambda x: x[:2])], d.tasks)
                for name, d in drafts if d.steps]


def build_phases(cfg: RunConfig, files: list[str], layout: RunLayout, registry=None) -> list[Phase]:
    from stages.registry import registry_for

    registry = registry or registry_for(cfg.plugins)
    ctx = BuildContext(cfg, files, layout, registry)
    fields = registry.document_fields()
    # documents cross from curate to finalize through work/filtered/, one file per task
    ctx.add(CURATE, LAST, DocumentWriter(layout.filtered, fields=fields))
    ctx.add(FINALIZE, FIRST, DocumentReader(layout.filtered))
    ctx.add(FINALIZE, LAST, DocumentWriter(layout.documents, fields=fields))
    for cls in registry.ordered():
        if cls.name in cfg.stages:
            cls.build(ctx.params[cls.name], ctx)
    if not cfg.keep_work:
        ctx.add_phase(CLEANUP, rank=60, tasks=1)
        ctx.add(CLEANUP, 0, DeleteDocuments(layout.filtered, ctx.tasks))
    return ctx.phases()
