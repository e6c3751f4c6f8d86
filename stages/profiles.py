"""Per-language profiles of the quality stages: the one place that says, for a document's `language` (the lid.176
code the language stage stores), which word tokenizer, stop words and thresholds the quality stages and MinHash
use for it.

A quality stage with `profiles: true` (a key of gopher_repetition, gopher_quality, c4_quality, fineweb_quality and
minhash_dedup) looks up the profile of each document's `language`: the keys the profile sets replace the stage's
configured values for that document; every key it does not set keeps the configured value. A document whose
language has no profile here (or that has no `language`) gets DEFAULT, which sets nothing and tokenizes as
English: exactly what the stage does with `profiles: false`, today's (FineWeb's) English behaviour.

Where the values come from (FINEWEB2_COMMIT of github.com/huggingface/fineweb-2, Apache-2.0): its per-language
filter configs, configs/<iso639-3>_<script>.yml, which fineweb-2-pipeline.py passes to datatrove's filters:
  gopher_repetition   dup_line_frac, top_n_grams, dup_n_grams
  gopher_quality      stopwords (-> stop_words, with min_stop_words 2 as FineWeb-2 runs it), min_avg_word_length,
                      max_avg_word_length, max_non_alpha_words_ratio
  fineweb_quality     line_punct_thr, new_line_ratio
and its `language=<iso639-3>_<script>` for the word tokenizer, which datatrove's tokenizer assignment
(assets/tokenizer_assignment.csv, `load_word_tokenizer`) maps to spaCy, jieba (via spaCy), Sudachi (via spaCy),
Kiwi, PyThaiNLP, IndicNLP, ... (stages/word_tokens.py `word_tokenizer`). The one value changed (ALPHA_WORDS_CAP
below, measured) is recorded beside FineWeb-2's own. FineWeb-2's pipeline-wide changes (no C4 filter, short-line and
paragraph rules off, char_duplicates_ratio 0.1) are not per language and not taken: the config decides those for
every language.

refinery's own per-script facts, not FineWeb-2's (`spaced` below):
  c4_quality          C4 counts a line's words by whitespace (min_words_per_line): a Chinese, Japanese or Thai line
                      has one or two such "words", so for a script written without spaces between words the rule is
                      off (-1) and every kept line's sentences count;
  minhash_dedup       shingles are word n-grams (the configured `ngram`) of the tokenizer's words where words are
                      spaced, and character n-grams (CHAR_NGRAM characters, whitespace and punctuation removed) where
                      they are not: a clause written without spaces is otherwise one "word".
Sentence and line-end punctuation need no profile: datatrove's TERMINAL_PUNCTUATION (FineWebQualityFilter's
stop_chars) and spaCy's sentencizer both list the sentence ends of every script (。 ！ ？ । ۔ ؟ ...).

Adding a language: add its lid.176 code, FineWeb-2 config name and spacing to LANGUAGES, then
  python -m stages.profiles PATH/TO/fineweb-2 > stages/profiles.json
(a checkout of huggingface/fineweb-2), and check its tokenizer installs and works offline (tests/test_profiles.py).
Urdu has no profile: datatrove's tokenizer for it (IndicNLP) splits sentences with urduhack, which needs TensorFlow.
"""

import functools
import json
import os
import sys
from dataclasses import dataclass, fields

FINEWEB2_COMMIT = "d0defb24f193bb9a5a11b8b14524a03c4858e1b6"
TABLE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profiles.json")

# lid.176 code -> (FineWeb-2 config name, words separated by spaces). The FineWeb-2 name is also the key of
# datatrove's tokenizer assignment the profile tokenizes with: "cmn_Hani" gets spaCy with jieba, where the bare "zh"
# gets spaCy's multi-language "xx" (datatrove maps a two-letter code to the first row it reads for it).
LANGUAGES = {
    "ar": ("arb_Arab", True), "bg": ("bul_Cyrl", True), "bn": ("ben_Beng", True), "cs": ("ces_Latn", True),
    "da": ("dan_Latn", True), "de": ("deu_Latn", True), "el": ("ell_Grek", True), "es": ("spa_Latn", True),
    "fa": ("fas_Arab", True), "fi": ("fin_Latn", True), "fr": ("fra_Latn", True), "he": ("heb_Hebr", True),
    "hi": ("hin_Deva", True), "hu": ("hun_Latn", True), "id": ("ind_Latn", True), "it": ("ita_Latn", True),
    "ja": ("jpn_Jpan", False), "ko": ("kor_Hang", True), "mr": ("mar_Deva", True), "nl": ("nld_Latn", True),
    "pl": ("pol_Latn", True), "pt": ("por_Latn", True), "ro": ("ron_Latn", True), "ru": ("rus_Cyrl", True),
    "sv": ("swe_Latn", True), "th": ("tha_Thai", False), "tr": ("tur_Latn", True), "uk": ("ukr_Cyrl", True),
    "vi": ("vie_Latn", True), "zh": ("cmn_Hani", False),
}

# refinery's one change to FineWeb-2's values: the share of words holding a letter that gopher_quality requires
# (max_non_alpha_words_ratio, datatrove's name) is at most this. The word tokenizers make every punctuation mark and
# number a word, and FineWeb-2's values (0.69 to 0.9 for these languages, fitted to its own GlotLID-filtered web text)
# dropped 1 to 4 of the 8 clean pages of bench/multilingual_quality.py in 16 of 24 languages (news sentences with
# dates, numbers and punctuation: the lowest clean page is at 0.73). 0.7 is about FineWeb-2's lowest value among
# them (ukr_Cyrl 0.694); English keeps FineWeb's 0.8 (no profile). The FineWeb-2 value stays in profiles.json.
ALPHA_WORDS_CAP = 0.7

# characters per MinHash shingle for a script without spaces: about as much text as FineWeb's 5 words elsewhere
# would be too long (a Chinese word is 1-2 characters): 5 characters are 2-4 Chinese or Japanese words
CHAR_NGRAM = 5

# what each stage takes from a profile: its config key -> the Profile field holding the value
STAGE_KEYS = {
    "gopher_repetition": {"dup_line_frac": "dup_line_frac", "top_n_grams": "top_n_grams",
                          "dup_n_grams": "dup_n_grams"},
    "gopher_quality": {"stop_words": "stop_words", "min_stop_words": "min_stop_words",
                       "min_avg_word_length": "min_avg_word_length", "max_avg_word_length": "max_avg_word_length",
                       "max_non_alpha_words_ratio": "max_non_alpha_words_ratio"},
    "c4_quality": {"min_words_per_line": "min_words_per_line"},
    "fineweb_quality": {"line_punct_thr": "line_punct_thr", "new_line_ratio": "new_line_ratio"},
}


@dataclass(frozen=True)
class Profile:
    """What the quality stages use for one language; None: the stage's configured value."""

    language: str  # lid.176 code; "default" for DEFAULT
    source: str = ""  # the FineWeb-2 config the values are from ("deu_Latn"); "" for DEFAULT
    tokenizer: str = "en"  # key of datatrove's tokenizer assignment (stages/word_tokens.py word_tokenizer)
    spaced: bool = True  # words separated by spaces (False: Han, Japanese, Thai, ...)
    stop_words: tuple[str, ...] | None = None
    min_stop_words: int | None = None
    min_avg_word_length: float | None = None
    max_avg_word_length: float | None = None
    max_non_alpha_words_ratio: float | None = None
    dup_line_frac: float | None = None
    top_n_grams: tuple | None = None
    dup_n_grams: tuple | None = None
    line_punct_thr: float | None = None
    new_line_ratio: float | None = None

    @property
    def min_words_per_line(self) -> int | None:
        return None if self.spaced else -1

    def overrides(self, stage: str) -> dict:
        """The config keys of `stage` this profile sets, with its values (an empty dict: none)."""
        out = {}
        for key, attr in STAGE_KEYS.get(stage, {}).items():
            value = getattr(self, attr)
            if value is not None:
                out[key] = [list(v) for v in value] if key in ("top_n_grams", "dup_n_grams") else (
                    list(value) if isinstance(value, tuple) else value)
        return out

    def shingle(self) -> str:
        """MinHash shingles for this language: "words" (the tokenizer's, for a profile) or "chars"."""
        return "words" if self.spaced else "chars"


DEFAULT = Profile("default")

_TABLE: dict[str, Profile] | None = None


def table() -> dict[str, Profile]:
    """lid.176 code -> Profile, from stages/profiles.json."""
    global _TABLE
    if _TABLE is None:
        with open(TABLE_PATH, encoding="utf-8") as f:
            raw = json.load(f)
        names = {f.name for f in fields(Profile)}
        _TABLE = {}
        for code, values in raw["profiles"].items():
            values = {k: (tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v)
                      for k, v in values.items()}
            _TABLE[code] = Profile(language=code, **{k: v for k, v in values.items() if k in names})
    return _TABLE


def profile_for(language: str | None) -> Profile:
    """The profile of a lid.176 code (a document's `language`); DEFAULT for a language without one."""
    if not language:
        return DEFAULT
    return table().get(language, DEFAULT)


def import_fineweb2(repo: str, languages: dict = LANGUAGES) -> dict:
    """stages/profiles.json's content, read from a checkout of huggingface/fineweb-2 (its configs/*.yml)."""
    import yaml

    profiles = {}
    for code, (name, spaced) in sorted(languages.items()):
        with open(os.path.join(repo, "configs", f"{name}.yml"), encoding="utf-8") as f:
            c = yaml.safe_load(f)
        profiles[code] = {
            "source": name, "tokenizer": name, "spaced": spaced,
            "stop_words": c["stopwords"], "min_stop_words": 2,
            "min_avg_word_length": c["min_avg_word_length"], "max_avg_word_length": c["max_avg_word_length"],
            "max_non_alpha_words_ratio": min(c["max_non_alpha_words_ratio"], ALPHA_WORDS_CAP),
            "fineweb2_max_non_alpha_words_ratio": c["max_non_alpha_words_ratio"],
            "dup_line_frac": c["dup_line_frac"], "top_n_grams": c["top_n_grams"], "dup_n_grams": c["dup_n_grams"],
            "line_punct_thr": c["line_punct_thr"], "new_line_ratio": c["new_line_ratio"],
        }
    return {"source": f"https://github.com/huggingface/fineweb-2 @ {FINEWEB2_COMMIT}, configs/<name>.yml "
                      f"(Apache-2.0); written by `python -m stages.profiles PATH/TO/fineweb-2`",
            "profiles": profiles}


@functools.cache
def check_tokenizers():
    """Raises RuntimeError naming the first language whose word tokenizer (datatrove's, for its profile's key) does
    not load: the preflight of every stage with `profiles: true` (once per process)."""
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    for profile in table().values():
        try:  # datatrove's constructors check that the tokenizer's package imports
            load_word_tokenizer(profile.tokenizer)
        except ImportError as e:
            raise RuntimeError(f"the word tokenizer of language {profile.language!r} ({profile.tokenizer}) "
                               f"is not installed: pip install 'refinery[multilingual]' ({e})") from None


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m stages.profiles PATH/TO/fineweb-2 > stages/profiles.json")
    json.dump(import_fineweb2(sys.argv[1]), sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")

