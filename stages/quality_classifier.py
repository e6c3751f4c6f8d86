"""Stage `quality_classifier`: a model scores every document (the probability of its positive label, e.g. DCLM's
fastText `hq`, or a transformer's regression output, e.g. FineWeb-Edu's educational score); the score is stored as `quality_score`, and the stage keeps documents by a threshold or keeps the
best `keep_fraction` of the whole run, or (mode annotate) drops nothing.

Where it runs: after MinHash dedup (order 85; DCLM also classifies after deduplicating), so `keep_fraction` is a
share of the distinct documents and a cluster's keeper is never one the classifier then drops while its copies
went as duplicates. It spans phases like minhash_dedup:

1. scores (curate, after every curate filter and the MinHash signatures): `QualityScoreStep` scores each
   document and stores `quality_score` (it travels to finalize in work/filtered/); with keep_fraction it also
   writes work/quality/scores/<task>.parquet (row, id, score). With `phase: quality_score` the scores are computed
   instead in a phase of their own after dedup_clusters (work/filtered/ -> work/quality/scores/, duplicates
   skipped), which a cluster can place on GPU nodes (executor.<type>.phases.quality_score), and the decision reads
   them back by row. Scoring in curate costs a classifier call for
   each document that dedup later removes (a fastText call is ~1% of the cost of extracting the page) and lets
   the global step run before finalize;
2. cutoff (keep_fraction only; one task, after dedup_clusters): of the documents that dedup keeps, the
   ceil(f x N) highest by (score desc, id asc) are kept: the cutoff (score, id) of the last kept one goes to
   work/quality/cutoff.json, the same whatever the number of tasks or workers;
3. decision (finalize, the funnel stage, after minhash_dedup and before pii): keeps score >= threshold, or
   (score, id) at or above the cutoff, or everything in annotate mode; drops with `low_quality_score`.

Model types: `fasttext` (text prepared as DCLM's fastText filter does: `" ".join(text.strip().splitlines())`;
score = the model's probability for `label`) and `transformers` (a local sequence-classification model folder:
one output -> that float, several -> the softmax probability of `label`; CPU or CUDA in bf16). A type is a Scorer
class in SCORERS: it loads a model, checks it (preflight) and scores a batch of texts; it declares its default
label and batch size and the packages it needs.
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
from stages.documents import ROW_KEY, DocumentReader
from stages.registry import ERROR, Threshold, key

FIELD = "quality_score"
FAILED = "quality_error"  # metadata of a document its scorer raised on (the decision drops it as `error`)
# work/quality/scores/<task>.parquet: index = the row of work/filtered/<task>.parquet; score null and error set where
# the scorer raised on the document (written by the phase quality_score only; curate leaves such rows out)
SCORES_SCHEMA = pa.schema([("index", pa.int64()), ("id", pa.string()), ("score", pa.float64()),
                           ("error", pa.string())])
SCORE_PHASE = "quality_score"  # the phase of its own (stages.quality_classifier.phase), between dedup and finalize


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
    default_label = "hq"
    default_batch_size = 256
    requires = (("fasttext", "fasttext-numpy2-wheel"),)  # (module, the distribution that provides it)

    def __init__(self, model: str, label: str | None = None, **_):
        import fasttext

        label = label or self.default_label

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



def pick_device(device: str) -> str:
    """auto: cuda when torch sees a GPU, else cpu; cuda without one is an error (a GPU phase on a CPU node)."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("quality_classifier device cuda: torch sees no CUDA device here (use device auto to fall "
                           "back to the CPU)")
    return device


class TransformersScorer:
    """A local Hugging Face sequence-classification model folder (config.json, weights, tokenizer files), e.g.
    FineWeb-Edu's classifier. One output (a regression head): score = that output, a float (FineWeb-Edu: 0..5,
    int_score = round(clamp(score, 0, 5))); several outputs: score = the softmax probability of `label`. Texts are
    tokenized as FineWeb-Edu's annotation script does (truncated to `max_length` tokens, padded to the longest of
    the batch); bf16 on CUDA, float32 on CPU. Loaded with local_files_only: nothing is downloaded."""

    type = "transformers"
    default_label = None
    default_batch_size = 32
    requires = (("transformers", "transformers"), ("torch", "torch"))

    def __init__(self, model: str, label: str | None = None, max_length: int | None = None, device: str = "cpu",
                 **_):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        if not os.path.isdir(model):
            raise FileNotFoundError(f"transformers model folder not found: {model} (a folder with config.json, the "
                                    f"weights and the tokenizer files, e.g. from `huggingface-cli download "
                                    f"HuggingFaceFW/fineweb-edu-classifier --local-dir {model}`)")
        hf_logging.disable_progress_bar()
        self.device = pick_device(device)
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True)
            self.model = AutoModelForSequenceClassification.from_pretrained(model, local_files_only=True, dtype=dtype)
        except Exception as e:  # noqa: BLE001 - a broken folder is named with the loader's words
            raise ValueError(f"{model}: not a sequence-classification model folder ({type(e).__name__}: "
                             f"{str(e)[:300]})") from None
        self.model.to(self.device).eval()
        config = self.model.config
        # what the model reads at most: its tokenizer's model_max_length (FineWeb-Edu's: 512) and its position
        # embeddings (RoBERTa-style models hold 2 more than they read, so the smaller of the two counts)
        limits = [n for n in (getattr(self.tokenizer, "model_max_length", None),
                              getattr(config, "max_position_embeddings", None)) if n and n < 10**9]
        limit = min(limits) if limits else None
        if max_length is not None and limit is not None and max_length > limit:
            raise ValueError(f"{model}: max_length {max_length} is more than the model reads ({limit} tokens)")
        self.max_length = max_length or limit or 512
        outputs = int(config.num_labels)
        if outputs == 1:
            if label is not None:
                raise ValueError(f"{model}: the model has one output (a regression score, the quality_score itself): "
                                 f"leave label unset (got {label!r})")
            self.index = None
        else:
            names = {str(v): int(k) for k, v in (config.id2label or {}).items()}
            if label is None or label not in names:
                shown = ", ".join(list(names)[:10])
                what = "needs `label`" if label is None else f"has no label {label!r}"
                raise ValueError(f"{model}: the model has {outputs} outputs and {what} (its labels: {shown})")
            self.index = names[label]
        self._torch = torch

    def score(self, texts: list[str]) -> list[float]:
        torch = self._torch
        enc = self.tokenizer([t or "" for t in texts], return_tensors="pt", padding="longest", truncation=True,
                             max_length=self.max_length)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        with torch.inference_mode():
            logits = self.model(**enc).logits.float()
        if self.index is None:
            return logits[:, 0].cpu().tolist()
        return torch.softmax(logits, dim=-1)[:, self.index].cpu().tolist()


SCORERS = {"fasttext": FastTextScorer, "transformers": TransformersScorer}


def load_scorer(type_: str, model: str, label: str | None, **options):
    """options: max_length, device (the transformers type; other types ignore them)."""
    return SCORERS[type_](model, label, **options)


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
    """Scores every document passing by (a batch at a time) and stores `quality_score`.

    In curate (own_phase False) it forwards every document and, with `paths`, writes the scores of the documents
    it scored (index = position in the task's stream, the row of work/filtered/). In the phase `quality_score`
    (own_phase True) it reads work/filtered/ (DocumentReader numbers the rows), skips the rows dedup removes
    (`removed_before`), writes a row for every other document (score null and `error` set where the scorer raised)
    and forwards nothing: the decision in finalize reads the scores back by row."""

    type = "refinery-quality"
    name = "quality_scores"

    def __init__(self, scorer_type: str, model: str, label: str | None, paths: QualityPaths | None,
                 batch_size: int | None = None, options: dict | None = None, own_phase: bool = False,
                 removed_before=None):
        super().__init__()
        self.scorer_type, self.model, self.label, self.paths = scorer_type, model, label, paths
        self.batch_size = batch_size or SCORERS[scorer_type].default_batch_size
        self.options = dict(options or {})
        # own_phase: folders of the removal lists ({task:05d}.parquet) of the dedup stages before us, to skip
        self.own_phase, self.removed_before = own_phase, list(removed_before or ())

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
        scorer = load_scorer(self.scorer_type, self.model, self.label, **self.options)
        rows = {"index": [], "id": [], "score": [], "error": []}
        skip = set()
        for folder in self.removed_before if self.own_phase else ():
            skip.update(pq.read_table(os.path.join(folder, f"{rank:05d}.parquet"), columns=["index"])["index"].to_pylist())
        position = 0
        batch: list[Document] = []

        def flush():
            nonlocal position
            if not batch:
                return
            with self.track_time():
                self._score(scorer, batch)
            for doc in batch:
                index = doc.metadata.pop(ROW_KEY) if self.own_phase else position
                position += 1
                s = doc.metadata[FIELD]
                if s is not None or self.own_phase:
                    rows["index"].append(index)
                    rows["id"].append(doc.id)
                    rows["score"].append(s)
                    rows["error"].append(doc.metadata.get(FAILED))
            self.stat_update("scored", value=len(batch))
            if not self.own_phase:
                yield from batch
            batch.clear()

        for doc in data:
            if self.own_phase and doc.metadata.get(ROW_KEY) in skip:
                self.stat_update("skipped_duplicates")
                continue
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
        table = pq.read_table(self.paths.scores(task), columns=["index", "id", "score"])
        table = table.filter(pc.is_valid(table["score"]))  # a document the scorer failed on is dropped as `error`
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
def _batch_help() -> str:
    return "documents scored at once; null: the type's default (" + ", ".join(
        f"{name} {cls.default_batch_size}" for name, cls in SCORERS.items()) + ")"


@dataclass
class QualityClassifierParams:
    type: str = key("fasttext", choices=tuple(SCORERS),
                    help="model type: fasttext (any fastText supervised model) or transformers (a local Hugging Face "
                         "sequence-classification model folder, e.g. FineWeb-Edu's classifier)")
    model: str | None = key(None, help="the model (required): a fastText file, e.g. DCLM's "
                                       "openhermes_reddit_eli5_vs_rw_v2_bigram_200k_train.bin, or a transformers "
                                       "model folder")
    label: str | None = key(None, help="the positive label; score = its probability (fasttext: default hq; hq and "
                                       "__label__hq are the same; transformers: the softmax probability of this label "
                                       "of a model with several outputs; unset for one output, whose value is the "
                                       "score)")
    mode: str = key("filter", choices=("filter", "annotate"),
                    help="filter: drop by threshold or keep_fraction; annotate: store the score, drop nothing")
    threshold: float | None = key(None, help="filter: keep documents whose score >= threshold (any real number; "
                                             "FineWeb-Edu's int_score >= 3 is 2.5)")
    keep_fraction: float | None = key(None, min=0, max=1, min_exclusive=True,
                                      help="filter: keep the ceil(f x N) highest-scoring documents of the whole run "
                                           "(score desc, id asc)")
    batch_size: int | None = key(None, min=1, help=_batch_help())
    max_length: int | None = key(None, min=1, help="transformers: tokens read of each document (the rest is cut "
                                                   "off); null: what the model reads (FineWeb-Edu's: 512)")
    device: str = key("auto", choices=("auto", "cpu", "cuda"),
                      help="transformers: auto (cuda when torch sees a GPU, else cpu), cpu, or cuda (bf16)")
    phase: str = key("curate", choices=("curate", SCORE_PHASE),
                     help="where scores are computed: curate (in the curation tasks) or quality_score (a phase of its "
                          "own after dedup, skipping duplicates, that a cluster can run on GPU nodes: "
                          "executor.<type>.phases.quality_score)")

    def problems(self) -> list:
        out = []
        if not self.model:
            out.append(("model", "required: the path of a model " + ("folder" if self.type == "transformers"
                                                                      else "file")))
        chosen = [k for k in ("threshold", "keep_fraction") if getattr(self, k) is not None]
        if self.mode == "filter" and len(chosen) != 1:
            both = ", got both" if len(chosen) == 2 else ""
            out.append(("threshold", f"mode filter needs exactly one of threshold and keep_fraction{both}"))
        if self.mode == "annotate" and chosen:
            out.append((chosen[0], "mode annotate drops nothing: leave threshold and keep_fraction unset "
                                   "(apply a threshold later with `refinery filter --where`)"))
        if self.type != "transformers":
            for k, default in (("max_length", None), ("device", "auto")):
                if getattr(self, k) != default:
                    out.append((k, f"only for type transformers (type is {self.type})"))
        return out

    def scorer_options(self) -> dict:
        return {"max_length": self.max_length, "device": self.device}


class QualityClassifierStage(RefineryStage):
    name = "quality_classifier"
    order = 85
    summary = ("a model's score as quality_score (fastText: the probability of `label`, text prepared as DCLM's "
               "filter does; transformers: a regression output as FineWeb-Edu's classifier, or a label's "
               "probability, CPU or GPU); keeps score >= threshold, or the best keep_fraction of the whole run, or "
               "(annotate) all")
    Params = QualityClassifierParams
    reasons = ("low_quality_score",)
    inspect_metrics = ("chars", FIELD)
    fields = ((FIELD, pa.float64()),)
    preflight_label = "quality_classifier (the model)"
    needs_user_file = "model"  # no model ships with refinery: the bundled sample runs without this stage
    thresholds = (Threshold("threshold", FIELD, ">=", "low_quality_score", document_field=FIELD),)

    @classmethod
    def preflight(cls, params):
        """The packages of the type, the model and its label; on the CPU (a GPU phase may be submitted from a
        node without one: device cuda is checked where the phase runs)."""
        import importlib.util

        missing = [dist for module, dist in SCORERS[params.type].requires if importlib.util.find_spec(module) is None]
        if missing:
            raise ImportError(f"type {params.type} needs {' and '.join(missing)}, not installed: "
                              f"pip install -e '.[classifiers]'")
        options = {**params.scorer_options(), "device": "cpu"}
        scorer = load_scorer(params.type, params.model, params.label, **options)
        scorer.score(["A sentence to check that the model scores text."])

    @classmethod
    def build(cls, params, ctx):
        paths = QualityPaths(ctx.layout.quality)
        fraction = params.keep_fraction if params.mode == "filter" else None
        # the finalize drops of the dedup stages come before ours: N counts what dedup keeps, and the scoring phase
        # of its own skips them
        from stages.key_dedup import remove_dir
        from stages.minhash_dedup import MinhashConfig

        removed_before = [remove_dir(ctx.layout, name) for name in ("url_dedup", "exact_dedup") if name in ctx.params]
        if "minhash_dedup" in ctx.params:
            removed_before.append(os.path.dirname(MinhashConfig(ctx.layout.minhash).remove_path(0)))
        own = params.phase == SCORE_PHASE
        scorer = (params.type, params.model, params.label)
        if own:  # after dedup_clusters (30), before quality_cutoff (35) and finalize (40)
            ctx.add_phase(SCORE_PHASE, rank=33, tasks=ctx.tasks)
            ctx.add(SCORE_PHASE, 0, DocumentReader(ctx.layout.filtered))
            ctx.add(SCORE_PHASE, cls.order, QualityScoreStep(*scorer, paths, params.batch_size,
                                                             params.scorer_options(), True, removed_before))
        else:
            ctx.add("curate", cls.order, QualityScoreStep(*scorer, paths if fraction is not None else None,
                                                          params.batch_size, params.scorer_options()))
        if fraction is not None:
            ctx.add_phase("quality_cutoff", rank=35, tasks=1)
            ctx.add("quality_cutoff", cls.order, QualityCutoffStep(paths, fraction, ctx.tasks,
                                                                   () if own else removed_before))
        threshold = params.threshold if params.mode == "filter" else None
        ctx.add("finalize", cls.order, cls(threshold=threshold, cutoff=paths.cutoff if fraction is not None else None,
                                           scores=paths if own else None, output=ctx.output))

    def __init__(self, threshold: float | None = None, cutoff: str | None = None, scores: QualityPaths | None = None,
                 output=None):
        super().__init__(output)
        self.threshold, self.cutoff_path, self.scores = threshold, cutoff, scores
        self._cutoff = None
        self._scored = None  # row -> (id, score, error): the phase quality_score's scores of this task

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if self.cutoff_path is not None:
            with open(self.cutoff_path) as f:
                self._cutoff = json.load(f)
        if self.scores is not None:
            t = pq.read_table(self.scores.scores(rank)).to_pydict()
            self._scored = {i: (d, s, e) for i, d, s, e in zip(t["index"], t["id"], t["score"], t["error"])}
        yield from super().run(data, rank, world_size)

    def metrics(self, doc, text_in, verdict):
        return {"chars": len(text_in or ""), FIELD: doc.metadata.get(FIELD)}

    def _take_score(self, doc: Document):
        """The score the phase quality_score wrote for this document's row (the same id, or the run is broken)."""
        row = self._scored.get(doc.metadata.get(ROW_KEY))
        if row is None or row[0] != doc.id:
            raise RunIntegrityError(f"quality_classifier: no score for document {doc.id} (row "
                                    f"{doc.metadata.get(ROW_KEY)}) in {self.scores.work_dir}")
        doc.metadata[FIELD] = row[1]
        if row[2] is not None:
            doc.metadata[FAILED] = row[2]

    def safe_process(self, doc: Document) -> Drop | None:
        if self._scored is not None:
            self._take_score(doc)  # outside process(): a missing score fails the task instead of dropping
        return super().safe_process(doc)

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
