"""Stage `extract`: main text from HTML, under a per-document timeout, with one of two engines.

  trafilatura  FineWeb's settings (datatrove's Trafilatura step): the default, configs/fineweb.yaml
  resiliparse  resiliparse's extract_plain_text (C++, about ten times faster) with DCLM-Baseline's settings, and
               optionally refinery's line filter on its output and a trafilatura fallback for pages it misses

Both run in datatrove's ExtractorSandbox, a child process killed when a page takes longer than `timeout`:
resiliparse is fast on ordinary pages but its main-content pass is quadratic in nesting depth (10,000 nested
<div>s take about 6 s, the 100,000 of tests/malformed.py many minutes), so it needs the bound as much as
trafilatura does. Each outcome is counted as a drop reason instead of a loose stat.
"""

import dataclasses
import html as html_lib
import itertools
import re
from dataclasses import dataclass

from datatrove.data import Document
from datatrove.pipeline.extractors.trafilatura import Trafilatura
from datatrove.utils.logging import logger

from stages.base import Drop, RefineryStage
from stages.compat import extraction_sandbox
from stages.registry import key
from stages.trafilatura_speed import speed_up_trafilatura

ENGINES = ("trafilatura", "resiliparse")
FALLBACK_ENGINES = ("trafilatura", "baseline")

_PAGE = (
    "<html><head><title>t</title></head><body><nav>Home | About</nav><article><p>"
    + "Preflight checks that the extractor returns the main text of a page before any real work starts. " * 3
    + "</p></article></body></html>"
)


@dataclass
class ExtractParams:
    engine: str = key("trafilatura", choices=ENGINES, help=(
        "trafilatura: FineWeb's extractor and settings; resiliparse: extract_plain_text as DCLM-Baseline ran it "
        "(main_content, no alt texts; list bullets, comments and post metadata kept, links, form fields and "
        "noscript left out), far faster"))
    favour_precision: bool = key(True, help="trafilatura's favor_precision: less boilerplate, some text lost")
    deduplicate: bool = key(True, help="trafilatura drops repeated text segments")
    trafilatura_fast: bool = key(False, help=(
        "trafilatura's fast: no second opinion from its own fallback extractors (readability, jusText); about 45% "
        "less time per page (bench/extraction_quality.py), FineWeb ran without it"))
    line_filter: bool = key(False, help=(
        "resiliparse only: leave out comments, post metadata and captions, then drop link-heavy, very short and "
        "boilerplate lines and the title of a dropped link list (refinery's filter, stages/extract.py)"))
    fallback_chars: int = key(0, min=0, help=(
        "resiliparse only: a page whose resiliparse text is shorter than this goes to the fallback (fallback_engine) "
        "in the same sandbox and timeout; 0: never"))
    fallback_engine: str = key("trafilatura", choices=FALLBACK_ENGINES, help=(
        "resiliparse only, what the fallback runs: trafilatura (extract, the settings above) or baseline "
        "(trafilatura's baseline(): an article's JSON-LD body, <article> or paragraph text, else the page's text; "
        "about a sixth of extract's time, evaldata F1 0.012 lower: BENCHMARKS.md section 7)"))
    fallback_min_language_score: float = key(0.0, min=0, max=1, help=(
        "resiliparse only: before the fallback, lid.176 reads the page's whole visible text; when no language the "
        "language stage keeps scores this much there, trafilatura is skipped and the page goes on with that text, "
        "which the language stage drops as wrong_language; 0: always fall back"))
    timeout: float = key(1.0, min=0, min_exclusive=True, help="seconds per document; slower pages are dropped as timeout")

    def problems(self) -> list[str]:
        if self.engine == "trafilatura" and (self.line_filter or self.fallback_chars
                                             or self.fallback_min_language_score
                                             or self.fallback_engine != "trafilatura"):
            return ["line_filter, fallback_chars, fallback_engine and fallback_min_language_score apply to engine: "
                    "resiliparse only"]
        return []


# -- resiliparse and refinery's line filter ----------------------------------------------------------------------------
# DCLM-Baseline's call; every other argument is resiliparse's default (which DCLM's resiliparse 0.14 shared)
DCLM_SETTINGS = {"main_content": True, "alt_texts": False}
# With the line filter resiliparse writes minimal HTML instead of text: each block on its own line with its <a>
# elements, so a line's link density can be measured; comments, post metadata and captions are not main text
_FILTER_SETTINGS = {**DCLM_SETTINGS, "preserve_formatting": "minimal_html", "links": True, "comments": False,
                    "post_meta": False, "skip_elements": ["figcaption", "[class*=caption]"]}
_TAG = re.compile(r"<[^>]*>")
_LINK = re.compile(r"<a\b[^>]*>(.*?)</a>", re.DOTALL)
_HEADING = re.compile(r"\s*<h[1-6]\b")
_SENTENCE_END = re.compile(r"[.!?\"”»…)。！？」』]$")
_BOILERPLATE = re.compile(
    r"(?i)^\W*(advertisement|advertising|anzeige|read more|share( this)?|shares?|reply|comments?|newsletter|"
    r"subscribe|sign up|log ?in|related|explore further|more from .*|you may also like.*|read next|©.*|"
    r"copyright.*|all rights reserved.*|\d+ (shares|comments|views)|tags?:.*)\W*$")
# thresholds measured on bench/extraction_quality.py's two sets (the report in the commit that added them)
MAX_LINK_DENSITY = 0.3  # share of a line's characters inside links above which a line under 30 words is navigation
SHORT_WORDS = 3  # a line of this many words or fewer without a sentence end, and not a heading, is a label
SHORT_CHARS = 40  # ... when it is also this short (a CJK sentence is one "word")
TITLE_WORDS = 6  # a line this short without a sentence end, right before a dropped line: that list's title


def _text(line: str) -> str:
    return html_lib.unescape(_TAG.sub("", line)).strip()


def filter_lines(minimal_html: str) -> str:
    """Main text from resiliparse's minimal-HTML output, less the lines that read as navigation or boilerplate."""
    blocks = []
    for line in minimal_html.split("\n"):
        text = _text(line)
        if not text:
            continue
        linked = sum(len(_text(a)) for a in _LINK.findall(line))
        words = len(text.split())
        drop = (linked / len(text) > MAX_LINK_DENSITY and words < 30
                or words <= 8 and _BOILERPLATE.match(text) is not None
                or words <= SHORT_WORDS and len(text) <= SHORT_CHARS and not _SENTENCE_END.search(text)
                and not _HEADING.match(line))
        blocks.append([text, drop])
    for block, after in itertools.pairwise(blocks):
        text = block[0]
        if after[1] and len(text.split()) <= TITLE_WORDS and not _SENTENCE_END.search(text):
            block[1] = True
    return "\n".join(text for text, drop in blocks if not drop)


def trafilatura_baseline(html: str) -> str:
    """trafilatura's baseline extractor: the text of an article's JSON-LD articleBody, else of its <article>
    elements, else of its paragraph-like elements, else of the whole page (trafilatura's own last resort)."""
    from trafilatura import baseline

    return baseline(html)[1]


# how a page's text was found (ResiliparseExtractor.routed), counted as the extract stage's `route/<name>` stats
RESILIPARSE, FALLBACK, FALLBACK_SKIPPED = "resiliparse", "fallback", "fallback_skipped"


class ResiliparseExtractor:
    """resiliparse with DCLM's settings, or refinery's variant of it (line filter, trafilatura fallback, skipped for
    a page whose visible text is in none of the languages kept)."""

    def __init__(self, line_filter: bool = False, fallback_chars: int = 0, fallback=None,
                 fallback_languages: list[str] | None = None, fallback_min_language_score: float = 0.0):
        self.line_filter = line_filter
        self.fallback_chars = fallback_chars
        self.fallback = fallback  # trafilatura's extract, used when fallback_chars > 0
        self.fallback_languages = list(fallback_languages or ())
        self.fallback_min_language_score = fallback_min_language_score if self.fallback_languages else 0.0
        self._lid = None

    def warm_up(self):
        """Loads what the fallback's language check needs, before a sandbox forks from this process."""
        if self.fallback_min_language_score:
            self._wanted_score("warm up")

    def _wanted_score(self, text: str) -> float:
        """The best score of a kept language, as the language stage scores it (its `no`/`nb` and group rules)."""
        from stages.language import label_scores, lid176_path, wanted_score

        if self._lid is None:
            from stages.compat import LocalFT176LID

            self._lid = LocalFT176LID(None, lid176_path())
        from datatrove.data import Document

        _, pairs = self._lid.predict(Document(text=text, id=""))
        return wanted_score(label_scores(pairs), self.fallback_languages)

    def main_text(self, html: str) -> str:
        from resiliparse.extract.html2text import extract_plain_text

        if self.line_filter:
            return filter_lines(extract_plain_text(html, **_FILTER_SETTINGS))
        return extract_plain_text(html, **DCLM_SETTINGS)

    def _skip_text(self, html: str) -> str | None:
        """The page's whole visible text when no language kept scores fallback_min_language_score there, else None.
        trafilatura costs ten times resiliparse, and the pages it would rescue for a run that keeps English are
        mostly not English (README, "Extraction"); such a page goes on with that text, which the language stage
        drops as wrong_language with the very scores measured here."""
        if not self.fallback_min_language_score:
            return None
        from resiliparse.extract.html2text import extract_plain_text

        visible = extract_plain_text(html, main_content=False, alt_texts=False)
        if visible.strip() and self._wanted_score(visible) < self.fallback_min_language_score:
            return visible
        return None

    def route(self, html: str) -> str:
        """Which of RESILIPARSE, FALLBACK, FALLBACK_SKIPPED gives the page's text (without running the fallback)."""
        if len(self.main_text(html)) >= self.fallback_chars:
            return RESILIPARSE
        return FALLBACK if self._skip_text(html) is None else FALLBACK_SKIPPED

    def routed(self, html: str) -> tuple[str, str]:
        """(text, route): the page's text and which route gave it."""
        text = self.main_text(html)
        if len(text) >= self.fallback_chars:
            return text, RESILIPARSE
        visible = self._skip_text(html)
        if visible is not None:
            return visible, FALLBACK_SKIPPED
        # resiliparse's main-content heuristics miss the article of some pages entirely (an empty or few-line
        # result); trafilatura often finds it there, and only those pages pay for it
        return self.fallback(html) or text, FALLBACK

    def __call__(self, html: str) -> str:
        return self.routed(html)[0]


class ExtractStage(RefineryStage):
    name = "extract"
    order = 20
    summary = ("main text with trafilatura (FineWeb's settings) or resiliparse (DCLM's, optionally filtered), "
               "in datatrove's sandbox with a per-page timeout")
    Params = ExtractParams
    reasons = ("timeout", "extraction_failed", "process_died", "empty")
    inspect_metrics = ("html_chars", "text_chars")
    mirrors = Trafilatura
    preflight_label = "extract (trafilatura needs lxml_html_clean; resiliparse its wheel)"

    @classmethod
    def preflight(cls, params):
        if params.engine == "resiliparse" and "Preflight checks" not in ResiliparseExtractor(params.line_filter)(_PAGE):
            raise RuntimeError("resiliparse returned no text for a simple page")
        if params.engine == "trafilatura" or params.fallback_chars:
            import trafilatura

            if not trafilatura.extract(_PAGE, favor_precision=True, include_comments=False):
                raise RuntimeError("trafilatura returned no text for a simple page")
            if params.fallback_engine == "baseline" and "Preflight checks" not in trafilatura_baseline(_PAGE):
                raise RuntimeError("trafilatura's baseline returned no text for a simple page")

    @classmethod
    def build(cls, params, ctx):
        # the fallback's language check asks for the languages the language stage keeps (none: no check)
        language = ctx.params.get("language")
        ctx.add(cls.phase, cls.order, cls(**dataclasses.asdict(params), output=ctx.output,
                                          fallback_languages=language.languages if language else None))

    def __init__(self, output=None, timeout: float = 1.0, engine: str = "trafilatura", line_filter: bool = False,
                 fallback_chars: int = 0, fallback_min_language_score: float = 0.0,
                 fallback_languages: list[str] | None = None, trafilatura_fast: bool = False,
                 fallback_engine: str = "trafilatura", **params):
        super().__init__(output)
        self.timeout = timeout
        self.engine = engine
        # datatrove's Trafilatura step holds FineWeb's settings (and hands trafilatura what it does not know, `fast`
        # among them); the resiliparse engine calls it for its fallback
        self.trafilatura = Trafilatura(timeout=timeout, fast=trafilatura_fast, **params)
        if engine == "resiliparse":
            fallback = self.trafilatura.extract if fallback_engine == "trafilatura" else trafilatura_baseline
            self.extract = ResiliparseExtractor(line_filter, fallback_chars, fallback,
                                                fallback_languages, fallback_min_language_score)
            self._routed = self.extract.routed
        else:
            self.extract = self.trafilatura.extract
            self._routed = None
        self._sandbox = None

    def session(self):
        # import and warm the extractors here: the sandbox forks from this process, and a child that had to
        # import them first would miss its start-up deadline (= timeout) and cost the task's first page
        if not speed_up_trafilatura():  # the same text, ~20% less of trafilatura's time (stages/trafilatura_speed.py)
            logger.warning("extract: trafilatura runs as installed (stages/trafilatura_speed.py could not prepare its "
                           "faster expressions for this trafilatura/lxml): the same text, more time")
        self.extract("<html><body><p>warm up</p></body></html>")
        if self.engine == "resiliparse" and self.extract.fallback_chars:
            self.trafilatura.extract("<html><body><p>warm up</p></body></html>")
            self.extract.warm_up()
        self._sandbox = extraction_sandbox(self.timeout)
        return self._sandbox

    def metrics(self, doc, text_in, verdict):
        return {"html_chars": len(text_in or ""), "text_chars": len(doc.text or "") if verdict is None else None}

    def process(self, doc: Document) -> Drop | None:
        html_chars = len(doc.text)
        extract = self._routed or self.extract
        try:
            if self._sandbox is None:  # called outside run(): extract in-process
                text = extract(doc.text)
            else:
                text = self._sandbox.process_document(doc.text, extract)
        except TimeoutError:
            return Drop("timeout", value=float(html_chars), detail=f"> {self.timeout}s")
        except EOFError:
            return Drop("process_died", value=float(html_chars))
        except Exception as e:  # noqa: BLE001 - the extractor raised on this page
            return Drop("extraction_failed", value=float(html_chars), detail=f"{type(e).__name__}: {e}"[:300])
        if self._routed is not None:
            text, route = text
            self.stat_update(f"route/{route}")
        if not text or not text.strip():
            return Drop("empty", value=float(html_chars))
        doc.metadata["html_chars"] = html_chars
        doc.text = text
        return None
