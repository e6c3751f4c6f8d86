"""What the four quality stages share: a datatrove filter makes the decision, exactly as in datatrove (and
FineWeb); for a dropped document the stage also measures the value that decided it, for `removed/`."""

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import get_filter_result

from stages.base import Drop, RefineryStage


class DatatroveFilterStage(RefineryStage):
    filter_class: type = None

    def __init__(self, output=None, **params):
        super().__init__(output)
        self.inner = self.filter_class(**params)

    def process(self, doc: Document) -> Drop | None:
        text = doc.text  # C4 rewrites doc.text of the documents it keeps
        keep, reason = get_filter_result(self.inner.filter(doc))
        if keep:
            return None
        return Drop(reason, value=self.measure(reason, text))

    def metrics(self, doc, text_in, verdict):
        # every metric the stage's rules threshold, one per reason, so the report can show where each cut falls
        out = {"chars": len(text_in or "")}
        for reason in sorted(self._reasons):
            if verdict is not None and verdict.reason == reason and verdict.value is not None:
                out[reason] = verdict.value
            else:
                out[reason] = self.measure(reason, text_in or "")
        return out

    def measure(self, reason: str, text: str) -> float | None:
        """The metric behind `reason` for this text (only computed for dropped documents)."""
        return None
