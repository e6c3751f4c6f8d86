"""The accounting every refinery stage shares.

Each stage is a datatrove PipelineStep whose `name` is its fixed stage name. For every document that enters it
counts `in`, then either `kept` or `dropped/<reason>`, and writes one row per dropped document to
`removed/<stage>/<task>.parquet`. A document on which the stage's own code raises is dropped with reason
`error` and logged: one bad page never ends a run, and none is lost without a count.

When the run has a `pii` stage, what these writers keep of a document (text, url, detail) goes through that
stage's scrubber first, with its switches: a document dropped before `pii`, or sampled on its way in, must not
keep in removed/ or inspect/ what the curated documents would not hold.
"""

import contextlib
import hashlib
import os
from dataclasses import dataclass

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.logging import logger

from refinery.atomic import AtomicParquetWriter
from stages.registry import (ERROR, STAT_DROPPED_PREFIX, STAT_IN, STAT_KEPT, STAT_KEPT_BYTES, Stage, allowed_reasons,
                             language_stat)
from refinery.schema import INSPECT_SCHEMA, KEPT, REMOVED_SCHEMA


def utf8_size(text: str) -> int:
    """Bytes of text in UTF-8, as the funnel's `kept_bytes` counts them (a lone surrogate, which no file can hold,
    as the one byte of its replacement)."""
    return len(text.encode("utf-8", "replace"))


@dataclass
class Drop:
    reason: str
    value: float | None = None
    detail: str = ""


class RunIntegrityError(RuntimeError):
    """The run's own intermediate data is inconsistent: the task must fail (and be rerun), not drop a document."""


@dataclass
class StageOutput:
    """Where a stage writes what it removed (removed/) and its inspection sample (inspect/)."""

    removed_dir: str | None = None
    removed_text_chars: int | None = 10000
    inspect_dir: str | None = None
    inspect_rate: float = 0.0  # share of documents (by id hash) whose metrics are recorded
    inspect_text_chars: int = 500
    # (stage class, params) of the stage that scrubs the curated documents (pii), when the rows written here are
    # scrubbed as the documents are; None: raw
    scrub: tuple[type, dict] | None = None

    def scrubber(self):
        if self.scrub is None:
            return None
        cls, params = self.scrub
        return cls(**params)


# beyond the characters kept, scrubbed too: a match crossing the cut is seen whole (PII is far shorter)
_SCRUB_MARGIN = 1000


def scrubbed_head(text: str, chars: int | None, scrubber) -> str:
    """The first `chars` characters (None: all) of the text as the scrubber leaves it. Only a window a little
    longer than that is scrubbed, not a whole page of HTML; the window grows while replacements shorten it so
    much that its last, possibly cut, characters could slide into the head."""
    text = text or ""
    if scrubber is None:
        return text if chars is None else text[:chars]
    if chars is None:
        return scrubber.scrub(text)[0]
    window = chars + _SCRUB_MARGIN
    while True:
        out = scrubber.scrub(text[:window])[0]
        if window >= len(text) or len(out) >= chars + _SCRUB_MARGIN // 2:
            return out[:chars]
        window *= 2


def id_hash(doc_id: str, purpose: str = "") -> int:
    """A 64-bit hash of a document's id, salted by `purpose` (the first 8 bytes of sha256(purpose + id))."""
    return int.from_bytes(hashlib.sha256((purpose + (doc_id or "")).encode()).digest()[:8], "big")


def id_fraction(doc_id: str, purpose: str = "") -> float:
    """A document's fixed place in [0, 1) from a hash of its id: every by-id choice (val split, inspection
    sample, report examples) uses it, so none depends on how files were split between tasks; `purpose` salts
    the hash so different choices pick independent documents."""
    return id_hash(doc_id, purpose) / 2**64


class InspectWriter:
    def __init__(self, output: StageOutput, stage: str, rank: int, scrubber=None):
        self.output = output
        self.scrubber = scrubber
        self._writer = (
            AtomicParquetWriter(os.path.join(output.inspect_dir, stage, f"{rank:05d}.parquet"), INSPECT_SCHEMA, 1000)
            if output.inspect_dir and output.inspect_rate > 0
            else None
        )

    def __enter__(self):
        if self._writer:
            self._writer.__enter__()
        return self

    def wants(self, doc: Document) -> bool:
        return self._writer is not None and id_fraction(doc.id, "inspect") < self.output.inspect_rate

    def write(self, doc: Document, outcome: str, metrics: dict, text: str):
        url = doc.metadata.get("url")
        self._writer.write({
            "id": doc.id,
            "url": self.scrubber.scrub_url(url) if self.scrubber else url,
            "outcome": outcome,
            "metrics": [(k, float(v)) for k, v in metrics.items() if v is not None],
            "text": scrubbed_head(text, self.output.inspect_text_chars, self.scrubber),
            "bytes": None if text is None else utf8_size(text),
        })

    def __exit__(self, *exc):
        if self._writer:
            return self._writer.__exit__(*exc)
        return False


class RemovedWriter:
    """Writes the dropped documents of one stage and task; a no-op when the run keeps no removed/ folder."""

    def __init__(self, removed_dir: str | None, stage: str, rank: int, text_chars: int | None, scrubber=None):
        self.text_chars = text_chars
        self.scrubber = scrubber
        self._writer = (
            AtomicParquetWriter(os.path.join(removed_dir, stage, f"{rank:05d}.parquet"), REMOVED_SCHEMA, 1000)
            if removed_dir
            else None
        )

    def __enter__(self):
        if self._writer:
            self._writer.__enter__()
        return self

    def write(self, doc: Document, drop: Drop):
        if not self._writer:
            return
        url, detail = doc.metadata.get("url"), drop.detail
        if self.scrubber:
            url, detail = self.scrubber.scrub_url(url), self.scrubber.scrub_with_urls(detail)
        self._writer.write(
            {
                "id": doc.id,
                "url": url,
                "reason": drop.reason,
                "value": None if drop.value is None else float(drop.value),
                "detail": detail,
                "text": scrubbed_head(doc.text, self.text_chars, self.scrubber),
                "language": doc.metadata.get("language"),
            }
        )

    def __exit__(self, *exc):
        if self._writer:
            return self._writer.__exit__(*exc)
        return False


class RefineryStage(PipelineStep, Stage):
    """Base of every funnel stage: subclasses make the declaration of stages.registry.Stage and implement
    `process`."""

    type = "refinery"
    name: str = None

    def __init__(self, output: StageOutput | None = None):
        super().__init__()
        self.output = output or StageOutput()
        self._reasons = set(allowed_reasons(type(self)))

    def process(self, doc: Document) -> Drop | None:
        """Inspect (and possibly rewrite) one document; return None to keep it or a Drop to remove it."""
        raise NotImplementedError

    def session(self):
        """Context held open while the stage runs over a task's documents (e.g. an extraction sandbox)."""
        return contextlib.nullcontext()

    def count_in(self):
        self.stat_update(STAT_IN)

    def metrics(self, doc: Document, text_in: str, verdict: Drop | None) -> dict[str, float | None]:
        """What the inspection sample records for a document (text_in: its text as it entered the stage)."""
        return {"chars": len(text_in or "")}

    # A document that has a language (from the language stage on: it labels every document it sees) is counted
    # under it too, as lang/<language>/<key> beside each key above; its `in` with its verdict, as the language stage
    # only knows the language once it has decided.
    def keep(self, doc: Document):
        size = utf8_size(doc.text or "")
        self.stat_update(STAT_KEPT)
        self.stat_update(STAT_KEPT_BYTES, value=size, unit="doc")
        lang = doc.metadata.get("language")
        if lang:
            self.stat_update(language_stat(lang, STAT_IN), language_stat(lang, STAT_KEPT))
            self.stat_update(language_stat(lang, STAT_KEPT_BYTES), value=size, unit="doc")

    def drop(self, removed: RemovedWriter, doc: Document, drop: Drop):
        if drop.reason not in self._reasons:
            raise ValueError(f"stage {self.name!r} dropped with unknown reason {drop.reason!r}")
        self.stat_update(STAT_DROPPED_PREFIX + drop.reason)
        lang = doc.metadata.get("language")
        if lang:
            self.stat_update(language_stat(lang, STAT_IN), language_stat(lang, STAT_DROPPED_PREFIX + drop.reason))
        removed.write(doc, drop)

    def safe_process(self, doc: Document) -> Drop | None:
        try:
            return self.process(doc)
        except RunIntegrityError:
            raise
        except Exception as e:  # noqa: BLE001 - a stage bug on one document must not end the run
            return self.error_drop(doc, e)

    def error_drop(self, doc: Document, e: Exception) -> Drop:
        """Call from an except block: logs the traceback and drops the document as `error`."""
        logger.opt(exception=True).warning(f"[{self.name}] error on document {doc.id}: {e!r}")
        return Drop(ERROR, detail=f"{type(e).__name__}: {e}"[:500])

    def writers(self, rank: int):
        o = self.output
        scrubber = o.scrubber()
        return (RemovedWriter(o.removed_dir, self.name, rank, o.removed_text_chars, scrubber),
                InspectWriter(o, self.name, rank, scrubber))

    def account(self, doc: Document, verdict: Drop | None, text_in: str, removed, inspect) -> bool:
        """Counts the verdict, records it; True when the document is kept."""
        if inspect.wants(doc):
            try:
                metrics = self.metrics(doc, text_in, verdict)
            except Exception as e:  # noqa: BLE001 - measuring for the report must not drop or crash anything
                logger.warning(f"[{self.name}] could not measure document {doc.id}: {e!r}")
                metrics = {}
            inspect.write(doc, KEPT if verdict is None else verdict.reason, metrics, text_in)
        if verdict is None:
            self.keep(doc)
            return True
        self.drop(removed, doc, verdict)
        return False

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        removed, inspect = self.writers(rank)
        with removed, inspect, self.session():
            for doc in data:
                self.count_in()
                text_in = doc.text
                with self.track_time():
                    verdict = self.safe_process(doc)
                if self.account(doc, verdict, text_in, removed, inspect):
                    yield doc
