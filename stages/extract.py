"""Stage `extract`: main text from HTML with trafilatura (FineWeb's settings), under a per-document timeout.

datatrove's Trafilatura step runs extraction in a sandbox process so a pathological page cannot hang the task;
we keep that sandbox and its settings but count each outcome as a drop reason instead of a loose stat.
"""

from dataclasses import dataclass

from datatrove.data import Document
from datatrove.pipeline.extractors.trafilatura import Trafilatura

from stages.base import Drop, RefineryStage
from stages.compat import extraction_sandbox
from stages.registry import key


_PAGE = (
    "<html><head><title>t</title></head><body><nav>Home | About</nav><article><p>"
    + "Preflight checks that the extractor returns the main text of a page before any real work starts. " * 3
    + "</p></article></body></html>"
)


@dataclass
class ExtractParams:
    favour_precision: bool = key(True, help="trafilatura's favor_precision: less boilerplate, some text lost")
    deduplicate: bool = key(True, help="trafilatura drops repeated text segments")
    timeout: float = key(1.0, min=0, min_exclusive=True, help="seconds per document; slower pages are dropped as timeout")


class ExtractStage(RefineryStage):
    name = "extract"
    order = 20
    summary = "trafilatura (favour precision, no comments) in datatrove's sandbox with a per-page timeout"
    Params = ExtractParams
    reasons = ("timeout", "extraction_failed", "process_died", "empty")
    inspect_metrics = ("html_chars", "text_chars")
    mirrors = Trafilatura
    preflight_label = "extract (trafilatura; it needs lxml_html_clean)"

    @classmethod
    def preflight(cls, params):
        import trafilatura

        if not trafilatura.extract(_PAGE, favor_precision=True, include_comments=False):
            raise RuntimeError("trafilatura returned no text for a simple page")

    def __init__(self, output=None, timeout: float = 1.0, **params):
        super().__init__(output)
        self.timeout = timeout
        self.inner = Trafilatura(timeout=timeout, **params)
        self._sandbox = None

    def session(self):
        # import and warm trafilatura here: the sandbox forks from this process, and a child that had to
        # import it first would miss its start-up deadline (= timeout) and cost the task's first page
        self.inner.extract("<html><body><p>warm up</p></body></html>")
        self._sandbox = extraction_sandbox(self.timeout)
        return self._sandbox

    def metrics(self, doc, text_in, verdict):
        return {"html_chars": len(text_in or ""), "text_chars": len(doc.text or "") if verdict is None else None}

    def process(self, doc: Document) -> Drop | None:
        html_chars = len(doc.text)
        try:
            if self._sandbox is None:  # called outside run(): extract in-process
                text = self.inner.extract(doc.text)
            else:
                text = self._sandbox.process_document(doc.text, self.inner.extract)
        except TimeoutError:
            return Drop("timeout", value=float(html_chars), detail=f"> {self.timeout}s")
        except EOFError:
            return Drop("process_died", value=float(html_chars))
        except Exception as e:  # noqa: BLE001 - trafilatura raised on this page
            return Drop("extraction_failed", value=float(html_chars), detail=f"{type(e).__name__}: {e}"[:300])
        if not text or not text.strip():
            return Drop("empty", value=float(html_chars))
        doc.metadata["html_chars"] = html_chars
        doc.text = text
        return None
