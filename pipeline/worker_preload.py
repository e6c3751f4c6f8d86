"""Imported once by the forkserver that local task processes are forked from (stages/compat.py LocalExecutor):
every task process of every phase then starts with these modules in memory instead of importing them again
(5% less CPU time for configs/fast.yaml on 800 pages with 4 tasks and 2 workers, 3 alternating runs each), and with
what nearly every run's tasks build first already built (warm, below). No Python thread is started here (the
forkserver forks; the native threads numpy's OpenBLAS and pyarrow's jemalloc start at import handle a fork
themselves, as they did before this preload)."""

import importlib

from stages.word_tokens import import_spacy_without_torch

import_spacy_without_torch()  # first: anything importing spaCy later finds it imported without torch

from stages.registry import BUILTIN  # noqa: E402

for _entry in BUILTIN:
    importlib.import_module(_entry.split(":")[0])
for _module in ("pyarrow.parquet", "trafilatura", "resiliparse.extract.html2text", "fasttext", "datasketch",
                "spacy.lang.en"):
    try:
        importlib.import_module(_module)
    except ImportError:  # a stage that needs it fails in its own preflight, with its own message
        pass


def warm():
    """Builds, once, what each task process would otherwise build for itself: the names of the installed
    distributions (datatrove checks a step's dependencies whenever one is unpickled), pandas (pyarrow imports it on the
    first table made from Python data, in every phase), the URL filter's offline suffix list and the lookup structure
    it builds on first use (~0.5 s), lid.176 (the language stage's and the preflight's, ~0.06 s), trafilatura's
    lazy parts (jusText's stop lists, ~0.2 s) and the English word tokenizer's spaCy pipeline (~0.3 s), the one of
    FineWeb's filters. Anything that fails here is left for the stage's own preflight to report."""
    steps = (
        lambda: importlib.import_module("stages.compat")._installed_distribution_names(),
        lambda: importlib.import_module("pandas"),
        lambda: importlib.import_module("stages.compat")._process_tldextract()("example.com"),
        lambda: importlib.import_module("stages.compat").process_fasttext_model(
            importlib.import_module("stages.language").lid176_path()),
        lambda: importlib.import_module("trafilatura").extract("<html><body><p>warm up</p></body></html>"),
        lambda: importlib.import_module("stages.word_tokens").word_tokenizer("en").word_tokenize("warm up"),
    )
    for step in steps:
        try:
            step()
        except Exception:  # noqa: BLE001 - see the docstring
            pass


warm()
