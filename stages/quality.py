"""What the four quality stages share: a datatrove filter makes the decision, exactly as in datatrove (and
FineWeb); for a dropped document the stage also measures the value that decided it, for `removed/`."""


from datatrove.data import Document
from datatrove.utils.logging import logger

from stages.base import Drop, RefineryStage
from stages.compat import filter_verdict, use_word_tokenizer
from stages.profiles import DEFAULT, Profile, profile_for
from stages.registry import key
from stages.word_tokens import word_tokenizer


def ratio(default, help: str):
    return key(default, min=0, max=1, help=help)


def profiles_key():
    return key(False, help="per-language parameters from the profile of each document's `language` "
                           "(stages/profiles.py, README \"Languages\"); false: every document as English")


def ngram_problems(pairs, key_name: str) -> list[str]:
    for n, fraction in pairs or []:
        if n < 1 or not 0 <= fraction <= 1:
            return [(key_name, f"entries must be [n >= 1, fraction between 0 and 1], got {[n, fraction]!r}")]
    return []


class DatatroveFilterStage(RefineryStage):
    filter_class: type = None
    preflight_label = "quality filters (spaCy word tokenizer)"

    @classmethod
    def preflight(cls, params):
        if len(word_tokenizer("en").word_tokenize("two words")) < 2:
            raise RuntimeError("spaCy word tokenizer returned nothing")
        if getattr(params, "profiles", False):
            from stages.profiles import check_tokenizers

            check_tokenizers()

    def __init__(self, output=None, profiles: bool = False, **params):
        super().__init__(output)
        self.params = params
        self.profiles = profiles
        self._filters: dict[str, object] = {}  # profile language -> its datatrove filter, built on first use
        self.inner = self.filter_for(DEFAULT)  # the filter deciding the current document

    def make_filter(self, params: dict, profile: Profile):
        """The datatrove filter with these parameters, splitting words with the profile's tokenizer."""
        inner = self.filter_class(**params)
        # the filters only use `language` to pick a word tokenizer; this one is datatrove's, doing less work
        use_word_tokenizer(inner, word_tokenizer(profile.tokenizer))
        return inner

    def filter_for(self, profile: Profile):
        inner = self._filters.get(profile.language)
        if inner is None:
            inner = self._filters[profile.language] = self.make_filter(
                {**self.params, **profile.overrides(self.name)}, profile)
        return inner

    def use_profile_of(self, doc: Document):
        """Makes `inner` the filter for the document's language (with profiles off: always the configured one)."""
        if self.profiles:
            self.inner = self.filter_for(profile_for(doc.metadata.get("language")))

    def rules(self, text: str):
        """A stage may decide itself, with the same outcome as datatrove's filter: then this yields (reason, value,
        drops) for the filter's rules in datatrove's order, each rule's value the one datatrove compares and `drops`
        its verdict, raising where datatrove's filter raises. tests/test_fast_filters.py checks it against datatrove."""
        raise NotImplementedError

    decides_itself = False  # True where `rules` decides instead of datatrove's filter

    def process(self, doc: Document) -> Drop | None:
        self.use_profile_of(doc)
        text = doc.text  # C4 rewrites doc.text of the documents it keeps
        if self.decides_itself:
            for reason, value, drops in self.rules(text):
                if drops:
                    return Drop(reason, value=value)
            return None
        keep, reason = filter_verdict(self.inner.filter(doc))
        if keep:
            return None
        try:
            value = self.measures(text).get(reason)
        except Exception as e:  # noqa: BLE001 - the verdict is datatrove's: a measure that fails must not make it `error`
            logger.warning(f"[{self.name}] could not measure document {doc.id}: {e!r}")
            value = None
        return Drop(reason, value=value)

    def metrics(self, doc, text_in, verdict):
        self.use_profile_of(doc)
        return {"chars": len(text_in or ""), **self.measures(text_in or "")}

    def measures(self, text: str) -> dict[str, float]:
        """The value each of the stage's rules thresholds, keyed by the reason it drops for, computed in one pass
        over the text (for removed/ rows and the inspection sample only, never for the decision itself).
        Yes/no rules, and rules datatrove would not evaluate on this text, have no entry.
        tests/test_measure_parity.py checks these values against datatrove's decisions."""
        return {}
