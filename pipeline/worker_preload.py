"""Imported once by the forkserver that local task processes are forked from (stages/compat.py LocalExecutor):
every task process of every phase then starts with these modules in memory instead of importing them again
(5% less CPU time for configs/fast.yaml on 800 pages with 4 tasks and 2 workers, 3 alternating runs each). Only
imports: no model is loaded, no thread started, no file read."""

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
