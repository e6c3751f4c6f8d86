"""A stage defined outside refinery, as a user would write one, loaded with `plugins: ["tests.plugin_stage:KeepShort"]`:
one class is the whole stage (tests/test_registry.py)."""

from dataclasses import dataclass

import pyarrow as pa

from stages.base import Drop, RefineryStage
from stages.registry import key


@dataclass
class KeepShortParams:
    max_chars: int = key(5000, min=1, help="longer documents are dropped as too_long")
    # a score threshold on no 0..1 scale (as FineWeb-Edu's 3): declared ranges, not guessed from the key's name
    min_score: float = key(0.0, help="documents scoring below this are dropped as low_score")


class KeepShort(RefineryStage):
    name = "keep_short"
    order = 35  # after language, before the quality filters
    summary = "drops documents longer than max_chars (a test plugin)"
    Params = KeepShortParams
    reasons = ("too_long", "low_score")
    inspect_metrics = ("chars",)
    fields = (("char_count", pa.int64()),)

    def __init__(self, max_chars: int, min_score: float, output=None):
        super().__init__(output)
        self.max_chars, self.min_score = max_chars, min_score

    def process(self, doc):
        doc.metadata["char_count"] = len(doc.text)
        if len(doc.text) > self.max_chars:
            return Drop("too_long", value=float(len(doc.text)))
        if len(doc.text) / 1000 < self.min_score:
            return Drop("low_score", value=len(doc.text) / 1000)
        return None


@dataclass
class KeepShortParamsV2(KeepShortParams):
    # what an upgrade looks like: a new key whose default keeps the old behaviour
    min_chars: int = key(0, min=0, help="shorter documents are dropped as too_long too")


class KeepShortV2(KeepShort):
    Params = KeepShortParamsV2

    def __init__(self, max_chars: int, min_score: float, min_chars: int, output=None):
        super().__init__(max_chars, min_score, output)
        self.min_chars = min_chars


class KeepShortV3(KeepShortV2):
    version = 2  # its results changed: runs made with version 1 are not continued


class CollidesWithWiring(KeepShort):
    @dataclass
    class Params:
        output: str = key("x", help="a key named like the pipeline's wiring")
