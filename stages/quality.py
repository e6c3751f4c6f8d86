"""What the four quality stages share: a datatrove filter makes the decision, exactly as in datatrove (and
FineWeb); for a dropped document the stage also measures the value that decided it, for `removed/`."""

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import get_filter_result

from stages.base import Drop, RefineryStage


class DatatroveFilterStage(RefineryStage):
    filter_class: type = None

    def __init__(self, removed_dir=None, removed_text_chars=10000, **params):
        super().__init__(removed_dir, removed_text_chars)
        self.inner = self.filter_class(**params)

    def process(self, doc: Document) -> Drop | None:
        text = doc.text  # C4 rewrites doc.text of the documents it keeps
        keep, reason = get_filter_result(self.inner.filter(doc))
        if keep:
            return None
        return Drop(reason, value=self.measure(reason, text))

    def measure(self, reason: str, text: str) -> float | None:
        """The metric behind `reason` for this text (only computed for dropped documents)."""
        return None
