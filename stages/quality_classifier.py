"""Stage `quality_classifier`: a model scores every document (the probability of its positive label, e.g. DCLM's
fastText `hq`); the score is stored as `quality_score`, and the stage keeps documents by a threshold or keeps the
best `keep_fraction` of the whole run, or (mode annotate) drops nothing.

Where it runs: after MinHash dedup (order 85; DCLM also classifies after deduplicating), so `keep_fraction` is a
share of the distinct documents and a cluster's keeper is never one the classifier then drops while its copies
went as duplicates. It spans phases like minhash_dedup:

1. scores (curate, after every curate filter and the MinHash signatures): `QualityScoreStep` scores each
   document and stores `quality_score` (it travels to finalize in work/filtered/); with keep_fraction it also
   writes work/quality/scores/<task>.parquet (row, id, score). Scoring in curate costs a classifier call for
   each document that dedup later removes (a fastText call is ~1% of the cost of extracting the page) and lets
   the global step run before finalize;
2. cutoff (keep_fraction only; one task, after dedup_clusters): of the documents that dedup keeps, the
   ceil(f x N) highest by (score desc, id asc) are kept: the cutoff (score, id) of the last kept one goes to
   work/quality/cutoff.json, the same whatever the number of tasks or workers;
3. decision (finalize, the funnel stage, after minhash_dedup and before pii): keeps score >= threshold, or
   (score, id) at or above the cutoff, or everything in annotate mode; drops with `low_quality_score`.

Model types: `fasttext` (text prepared as DCLM's fastText filter does: `" ".join(text.strip().splitlines())`;
score = the model's probability for `label`). A type is a Scorer class in SCORERS: it loads a model file, checks
it (preflight) and scores a batch of texts.
"""

import json
import math
import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger

from refinery.atomic import write_json_atomic, write_table_atomic
from stages.base import Drop, RefineryStage, RunIntegrityError
from stages.registry import ERROR, key

FIELD = "quality_score"
FAILED = "quality_error"  # metadata of a document its scorer raised on (the decision drops it as `error`)
SCORES_SCHEMA = pa.schema([("index", pa.int64()), ("id", pa.string()), ("score", pa.float64())])


# -- scorers -------------------------------------------------------------------------------------------------------
def fasttext_label(label: str) -> str:
    """`hq` and `__label__hq` name the same fastText label."""
    return label if label.startswith("__label__") else "__label__" + label


def prepare_fasttext(text: str) -> str:
    """DCLM's preparation (baselines/mappers/enrichers/quality_prediction_enrichers_calc_fasttext.py,
    classify_fasttext_hq_prob): the text stripped, its lines joined by single spaces (fastText predicts one line)."""
    return " ".join((text or "").strip().splitlines())


class FastTextScorer:
    """Any fastText supervised model; score = its probability for `label` (predict with k=-1, every label)."""

    type = "fasttext"

    def __init__(self, model: str, label: str):
        import fasttext

        if not os.path.isfile(model):
            raise FileNotFoundError(f"fastText model not found: {model}")
        try:
            self.model = fasttext.load_model(model)
        except Exception as e:  # noqa: BLE001 - a broken file is named with the loader's words
            raise ValueError(f"{model}: not a fastText model ({type(e).__name__}: {e})") from None
        self.label = fasttext_label(label)
        labels = self.model.get_labels()
        if self.label not in labels:
            shown = ", ".join(str(x).removeprefix("__label__") for x in labels[:10])
            raise ValueError(f"{model}: the model has no label {label!r} (its labels: {shown})")

    def score(self, texts: list[str]) -> list[float]:
        """One score per text. The batch goes to fastText in one call (the list form, float32 probabilities);
        a text fastText refuses (a lone surrogate) is retried with its unencodable characters replaced."""
        prepared = [prepare_fasttext(t) for t in texts]
        try:
            labels, probs = self.model.predict(prepared, k=-1)
        except TypeError:
            prepared = [p.encode("utf-8", "replace").decode("utf-8") for p in prepared]
            labels, probs = self.model.predict(prepared, k=-1)
        out = []
        for names, p in zip(labels, probs):
            for name, value in zip(names, p):
                if name == self.label:
                    out.append(float(value))
                    break
            else:
                out.append(0.0)
        return out


SCORERS = {"fasttext": FastTextScorer}


def load_scorer(type_: str, model: str, label: str):
    return SCORERS[type_](model, label)


# -- phase 1: scores (curate) ----------------------------------------------------------------------------------------
class QualityPaths:
    def __init__(self, work_dir: str):
        self.work_dir = work_dir

    def scores(self, task: int) -> str:
        return os.path.join(self.work_dir, "scores", f"{task:05d}.parquet")

    @property
    def cutoff(self) -> str:
        return os.path.join(self.work_dir, "cutoff.json")


class QualityScoreStep(PipelineStep):
    """Scores every document passing by (a batch at a time) and stores `quality_score`; forwards them all."""

    type = "refinery-quality"
    name = "quality_scores"

    def __init__(self, scorer_type: str, model: str, label: str, paths: QualityPaths | None, batch_size: int = 256):
        super().__init__()
        self.scorer_type, self.model, self.label, self.paths = scorer_type, model, label, paths
        self.batch_size = batch_size

    def _score(self, scorer, batch: list[Document]):
        try:
            scores = scorer.score([d.text for d in batch])
        except Exception:  # noqa: BLE001 - find the documents it fails on, one by one
            scores = []
            for doc in batch:
                try:
                    scores.append(scorer.score([doc.text])[0])
                except Exception as e:  # noqa: BLE001 - one document, dropped as `error` by the decision
                    logger.opt(exception=True).warning(f"[quality_classifier] error on document {doc.id}: {e!r}")
                    scores.append(None)
                    doc.metadata[FAILED] = f"{type(e).__name__}: {e}"[:500]
        for doc, s in zip(batch, scores):
            doc.metadata[FIELD] = s

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        scorer = load_scorer(self.scorer_type, self.model, self.label)
        rows = {"index": [], "id": [], "score": []}
        index = 0
        batch: list[Document] = []

        def flush():
            nonlocal index
            with self.track_time():
                self._score(scorer, batch)
            for doc in batch:
                s = doc.metadata[FIELD]
                if s is not None:
                    rows["index"].append(index)
                    rows["id"].append(doc.id)
                    rows["score"].append(s)
                index += 1
            self.stat_update("scored", value=len(batch))
            yield from batch
            batch.clear()

        for doc in data:
            batch.append(doc)
            if len(batch) >= self.batch_size:
                yield from flush()
        yield from flush()
        if self.paths is not None:
            write_table_atomic(self.paths.scores(rank), pa.table(rows, schema=SCORES_SCHEMA))


# -- phase 2: the cutoff of keep_fraction (one task) -----------------------------------------------------------------
def select_cutoff(scores: np.ndarray, ids_at, fraction: float) -> dict:
    """The (score, id) of the last document kept when the ceil(fraction x N) highest by (score desc, id asc) are
    kept. ids_at(score) -> the ids of the documents with exactly that score (only the tie at the cut is read)."""
    n = len(scores)
    keep = min(n, math.ceil(fraction * n - 1e-9))  # ceil(f x N); the tolerance absorbs 0.3 x 10 = 3.0000000000000004
    if keep == 0:
        return {"documents": n, "keep": 0, "score": None, "id": None}
    score = float(np.partition(scores, n - keep)[n - keep])  # the keep-th highest score
    above = int(np.count_nonzero(scores > score))
    tied = sorted(ids_at(score))
    return {"documents": n, "keep": keep, "score": score, "id": tied[keep - above - 1]}


class QualityCutoffStep(PipelineStep):
    """Reads every task's scores, leaves out what dedup removes, writes the cutoff of keep_fraction."""

    type = "refinery-quality"
    name = "quality_cutoff"

    def __init__(self, paths: QualityPaths, fraction: float, tasks: int, removed_before: list[str] = ()):
        super().__init__()
        self.paths, self.fraction, self.tasks = paths, fraction, tasks
        # folders of the removal lists ({task:05d}.parquet with index, doc_id) of the dedup stages before us
        self.removed_before = list(removed_before)

    def _task_scores(self, task: int) -> pa.Table:
        table = pq.read_table(self.paths.scores(task))
        if not self.removed_before:
            return table
        gone = pa.concat_tables([pq.read_table(os.path.join(folder, f"{task:05d}.parquet"), columns=["index", "doc_id"])
                                 for folder in self.removed_before])
        if gone.num_rows == 0:
            return table
        # a removed row that was scored must be the same document (a document whose scoring failed has no row)
        joined = gone.join(table, keys="index", join_type="inner")
        if joined.num_rows and not pc.all(pc.equal(joined["id"], joined["doc_id"])).as_py():
            raise RunIntegrityError("quality_classifier: the dedup removal list does not match the scores of task "
                                    f"{task}")
        return table.filter(pc.invert(pc.is_in(table["index"], value_set=gone["index"])))

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.track_time("task"):
            tables = [self._task_scores(t) for t in range(self.tasks)]
            scores = np.concatenate([t["score"].to_numpy() for t in tables]) if tables else np.empty(0)

            def ids_at(score: float) -> list[str]:
                return [i for t in tables for i in t.filter(pc.equal(t["score"], score))["id"].to_pylist()]

            cutoff = select_cutoff(scores, ids_at, self.fraction)
        self.stat_update("documents", value=cutoff["documents"])
        self.stat_update("to_keep", value=cutoff["keep"])
        write_json_atomic(self.paths.cutoff, {**cutoff, "fraction": self.fraction})
        if data:
            yield from data


# -- phase 3: the decision, the funnel stage (finalize) --------------------------------------------------------------
@dataclass
class QualityClassifierParams:
    type: str = key("fasttext", choices=tuple(SCORERS), help="model type: fasttext (any fastText supervised model)")
    model: str | None = key(None, help="path of the model file (required), e.g. DCLM's "
                                       "openhermes_reddit_eli5_vs_rw_v2_bigram_200k_train.bin")
    label: str = key("hq", help="the model's positive label (hq and __label__hq are the same); score = its probability")
    mode: str = key("filter", choices=("filter", "annotate"),
                    help="filter: drop by threshold or keep_fraction; annotate: store the score, drop nothing")
    threshold: float | None = key(None, help="filter: keep documents whose score >= threshold (any real number)")
    keep_fraction: float | None = key(None, min=0, max=1, min_exclusive=True,
                                      help="filter: keep the ceil(f x N) highest-scoring documents of the whole run "
                                           "(score desc, id asc)")

    def problems(self) -> list:
        out = []
        if not self.model:
            out.append(("model", "required: the path of a model file"))
        chosen = [k for k in ("threshold", "keep_fraction") if getattr(self, k) is not None]
        if self.mode == "filter" and len(chosen) != 1:
            both = ", got both" if len(chosen) == 2 else ""
            out.append(("threshold", f"mode filter needs exactly one of threshold and keep_fraction{both}"))
        if self.mode == "annotate" and chosen:
            out.append((chosen[0], "mode annotate drops nothing: leave threshold and keep_fraction unset "
                                   "(apply a threshold later with `refinery filter --where`)"))
        return out


class QualityClassifierStage(RefineryStage):
    name = "quality_classifier"
    order = 85
    summary = ("a model's probability of `label` as quality_score (fastText, text prepared as DCLM's filter does); "
               "keeps score >= threshold, or the best keep_fraction of the whole run, or (annotate) all")
    Params = QualityClassifierParams
    reasons = ("low_quality_score",)
    inspect_metrics = ("chars", FIELD)
    fields = ((FIELD, pa.float64()),)
    preflight_label = "quality_classifier (the model file)"
    needs_user_file = "model"  # no model ships with refinery: the bundled sample runs without this stage

    @classmethod
    def preflight(cls, params):
        scorer = load_scorer(params.type, params.model, params.label)
        scorer.score(["A sentence to check that the model scores text."])

    @classmethod
    def build(cls, params, ctx):
        paths = QualityPaths(ctx.layout.quality)
        fraction = params.keep_fraction if params.mode == "filter" else None
        ctx.add("curate", cls.order, QualityScoreStep(params.type, params.model, params.label,
                                                      paths if fraction is not None else None))
        if fraction is not None:
            # the finalize drops of the dedup stages come before ours: N counts what dedup keeps
            from stages.key_dedup import remove_dir
            from stages.minhash_dedup import MinhashConfig

            removed_before = [remove_dir(ctx.layout, name) for name in ("url_dedup", "exact_dedup") if name in ctx.params]
            if "minhash_dedup" in ctx.params:
                removed_before.append(os.path.dirname(MinhashConfig(ctx.layout.minhash).remove_path(0)))
            ctx.add_phase("quality_cutoff", rank=35, tasks=1)
            ctx.add("quality_cutoff", cls.order, QualityCutoffStep(paths, fraction, ctx.tasks, removed_before))
        threshold = params.threshold if params.mode == "filter" else None
        ctx.add("finalize", cls.order, cls(threshold=threshold, cutoff=paths.cutoff if fraction is not None else None,
                                           output=ctx.output))

    def __init__(self, threshold: float | None = None, cutoff: str | None = None, output=None):
        super().__init__(output)
        self.threshold, self.cutoff_path = threshold, cutoff
        self._cutoff = None

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if self.cutoff_path is not None:
            with open(self.cutoff_path) as f:
                self._cutoff = json.load(f)
        yield from super().run(data, rank, world_size)

    def metrics(self, doc, text_in, verdict):
        return {"chars": len(text_in or ""), FIELD: doc.metadata.get(FIELD)}

    def process(self, doc: Document) -> Drop | None:
        failed = doc.metadata.pop(FAILED, None)
        score = doc.metadata.get(FIELD)
        if failed is not None or score is None:
            return Drop(ERROR, detail=failed or "no quality_score: the document was not scored")
        if self.threshold is not None:
            if score >= self.threshold:
                return None
            return Drop("low_quality_score", value=score, detail=f"threshold {self.threshold}")
        if self._cutoff is not None:
            c = self._cutoff
            if c["keep"] and (score > c["score"] or (score == c["score"] and doc.id <= c["id"])):
                return None
            return Drop("low_quality_score", value=score,
                        detail=f"not among the best {c['keep']} of {c['documents']} (cutoff score {c['score']})")
        return None
