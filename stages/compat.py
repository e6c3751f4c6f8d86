"""The one place refinery reaches into datatrove's internals. Each hook names the datatrove internal it relies on,
and tests/test_compat.py fails naming the hook when an upgrade of datatrove changes that internal.

Hooks:
  TaskConsole._run_for_rank   wraps datatrove's per-task entry point (`PipelineExecutor._run_for_rank`, also
                              defined by RayPipelineExecutor) to count the documents each task reads and the
                              warnings it logs, into logs/<phase>/progress/<task>, for `refinery run`'s display.
  SlurmExecutor._run_for_rank datatrove's SlurmPipelineExecutor runs the ranks of one array job (`tasks_per_job`)
                              one after another with the same pipeline objects: each rank gets a fresh copy of the
                              pipeline here, as LocalPipelineExecutor does, so its stats file counts its own rank only
                              (tested in tests/test_scale.py, with the fake Slurm).
  quiet_task_logger           datatrove's `add_task_logger`, looked up by `_run_for_rank` as a global of the module
                              defining it, adds a console sink (sys.stderr, INFO) for every task: with it quiet, a
                              task logs only to logs/<phase>/logs/task_NNNNN.log.
  datatrove_console           the loguru logger datatrove logs to (its global `logger`), which `close_task_logger`
                              resets with `setup_default_logger` (sys.stderr, DEBUG) after every task: in a quiet
                              run the process keeps only warnings, each distinct message once.
  filter_verdict              datatrove's `get_filter_result` (filters/base_filter.py): how BaseFilter.run reads what a
                              filter's filter() returned (True, False or (False, reason)) as (keep, reason).
  use_word_tokenizer          a filter's `language` attribute: the quality filters pass it to split_into_words and
                              split_into_sentences, whose load_word_tokenizer returns a WordTokenizer given in its place
                              as it is.
  SpacyTokenizerBase          datatrove's SpaCyTokenizer: the spaCy pipeline it builds on first use of its `tokenizer`
                              property (spacy.blank(language) plus a "sentencizer" pipe) and keeps in `_tokenizer`; the
                              "IS_ALPHA" text its `_do_tokenize` retries without; `strip_strings`, which makes its words.
  spacy_assigned              datatrove's tokenizer assignment (load_word_tokenizer, from its tokenizer_assignment.csv)
                              and the languages SpaCyTokenizer.__init__ gives a configuration of their own (ja, zh, vi).
  repetition_parts            GopherRepetitionFilter's `paragraph_exp` and `_line_splitter`, which split a text into the
                              paragraphs and lines whose duplicates it counts.
  find_duplicates, find_top_duplicate, find_all_duplicate, get_n_grams
                              the counting functions of filters/gopher_repetition_filter.py (FineWebQualityFilter uses
                              find_duplicates too): the measures count with them, as the filters do.
  c4_sentence_count           a copy of C4QualityFilter.filter's line loop (fingerprint in COPIES): the sentence count it
                              compares with min_num_sentences.
  OfflineURLFilter            URLFilter.download_data, copied (fingerprint in COPIES) to load the two big lists another
                              way: its `_downloaded` flag, the list attributes and Aho-Corasick automaton it fills,
                              `get_list`, the bundled tarball under `datatrove.utils._import_utils.ASSETS_PATH`;
                              with offline_tldextract.
  offline_tldextract          URLFilter's `tldextractor` attribute (a TLDExtract() that fetches the public suffix list).
  LocalFT176LID               FastTextLID's lazily loaded model: the `model` property that predict() reads and the
                              `_model` slot it caches the fastText model in.
  use_lid                     LanguageFilter's `model` attribute (the FT176LID or GlotLID its constructor builds).
  extraction_sandbox          `ExtractorSandbox` (extractors/base.py), what BaseExtractor.run extracts in:
                              process_document(text, fn) runs fn in a child process and raises TimeoutError past the
                              timeout, EOFError when the child died (fn raising kills it too).

  (reimplementations)         stages/fast_filters.py counts as find_duplicates, get_n_grams + find_top_duplicate and
                              find_all_duplicate do, faster; GopherRepetitionStage.rules and GopherQualityStage.rules
                              decide as their filters' filter() do, with those counts. Fingerprinted in COPIES.
                              (Its OneSentenceShortcut relies on SpacyTokenizerBase's sentence_end_chars.)

COPIES lists datatrove code copied (or reimplemented) in refinery with the fingerprint of the original when it was
copied: tests/test_compat.py fails, naming the copy, as soon as datatrove changes the original, so the copy is compared
again.
"""

import contextlib
import copy
import functools
import importlib
import os
import sys
import tarfile
import time

from datatrove.executor.local import LocalPipelineExecutor
from datatrove.executor.ray import RayPipelineExecutor
from datatrove.executor.slurm import SlurmPipelineExecutor
from datatrove.io import safely_create_file
from datatrove.pipeline.filters.c4_filters import CITATION_REGEX, ELLIPSIS, END_PUNCTUATION, POLICY_SUBSTRINGS
from datatrove.pipeline.filters.url_filter import URLFilter
from datatrove.utils.lid import FT176LID
from datatrove.utils.logging import logger, setup_default_logger
from datatrove.utils.text import split_into_sentences
from datatrove.utils.word_tokenizers import SpaCyTokenizer, load_word_tokenizer


def _internal(hook: str, module: str, name: str):
    """`name` from datatrove's `module`, an internal the hook `hook` relies on: an upgrade that removes it makes the
    import of this module fail naming the hook, not some stage later with a bare ImportError."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ImportError(f"stages.compat.{hook}: {module}.{name} is gone from the installed datatrove ({e})") from None


@functools.lru_cache(maxsize=None)
def _any_of(chars: frozenset):
    import re

    return re.compile("[" + "".join(re.escape(c) for c in sorted(chars)) + "]")


# -- datatrove's dependency check, with one look at the installed distributions -------------------------------------
_IMPORT_UTILS = "datatrove.utils._import_utils"
_internal("installed_distributions", _IMPORT_UTILS, "_is_distribution_available")


@functools.lru_cache(maxsize=1)
def _installed_distribution_names() -> frozenset:
    import importlib.metadata

    return frozenset(name.lower() for dist in importlib.metadata.distributions()
                     if (name := (getattr(dist, "metadata", None) or {}).get("Name")))


def _is_distribution_available(distribution_name: str):
    """datatrove's answer (True, or None) from one reading of every installed distribution's metadata per process.
    datatrove's reads them all again for each name it checks (~0.065 s each), and it checks the names a step class
    requires each time one is built or unpickled: a task process paid ~0.4 s, the run's main process ~0.8 s."""
    return True if distribution_name in _installed_distribution_names() else None


setattr(importlib.import_module(_IMPORT_UTILS), "_is_distribution_available", _is_distribution_available)


PROGRESS_DIR = "progress"  # beside datatrove's completions/ and stats/ in each phase's logging folder
PROGRESS_EVERY_S = 1.0


# -- counting what a task does -----------------------------------------------------------------------------------
class TaskProgress:
    """A task's counts (documents read, warnings logged), rewritten at most once a second to
    progress/<task> as "DOCUMENTS WARNINGS": the process showing the progress only reads small files, and a task
    costs one clock read per document."""

    def __init__(self, logging_dir, rank: int):
        self.folder = logging_dir  # a datatrove DataFolder
        self.name = f"{PROGRESS_DIR}/{rank:05d}"  # the name of the task's completion marker, to match the two
        self.documents = 0
        self.warnings = 0
        self._next_write = 0.0
        self._failed = False

    def count_warning(self, _message):
        self.warnings += 1

    def write(self):
        if self._failed:
            return
        self._next_write = time.monotonic() + PROGRESS_EVERY_S
        try:
            with self.folder.open(self.name, "w") as f:
                f.write(f"{self.documents} {self.warnings}")
        except OSError:
            # the display is a courtesy: a full or read-only disk must fail the task where it writes data, not here
            self._failed = True


class DocumentCounter:
    """A pipeline element, put after the phase's first step (the reader): counts the documents passing. It has no
    `stats`, so datatrove's per-task stats (and refinery's funnel) never see it."""

    def __init__(self, progress: TaskProgress):
        self.progress = progress

    def __call__(self, data, rank: int = 0, world_size: int = 1):
        progress = self.progress
        for document in data:
            progress.documents += 1
            if time.monotonic() >= progress._next_write:
                progress.write()
            yield document
        progress.write()

    def __repr__(self):
        return "(progress counter for refinery's display: not a stage)"


def read_progress(path: str) -> tuple[int, int] | None:
    """(documents, warnings) from a progress file; None while it is being rewritten (or is not there)."""
    try:
        with open(path) as f:
            documents, warnings = f.read().split()
        return int(documents), int(warnings)
    except (OSError, ValueError):
        return None


# -- datatrove's console output ----------------------------------------------------------------------------------
class _Discard:
    """Where a quiet task's console sink writes: nowhere (the task log file has every line)."""

    def write(self, message):
        return len(message)

    def flush(self):
        pass

    def isatty(self):
        return False


def _module_running_tasks(executor_cls) -> dict:
    """The globals of the datatrove module whose `_run_for_rank` the executor class inherits: the namespace in
    which that method looks up `add_task_logger`."""
    for cls in executor_cls.__mro__:
        if cls.__module__.startswith("datatrove.") and "_run_for_rank" in cls.__dict__:
            return sys.modules[cls.__module__].__dict__
    raise RuntimeError(f"stages.compat: no datatrove class defining _run_for_rank in {executor_cls.__mro__}")


@contextlib.contextmanager
def quiet_task_logger(executor_cls, progress: TaskProgress | None = None, quiet: bool = True):
    """While a task of `executor_cls` runs: datatrove's add_task_logger, with its console sink writing nowhere
    (quiet) and a sink counting the task's warnings and errors into `progress`."""
    namespace = _module_running_tasks(executor_cls)
    original = namespace["add_task_logger"]

    def add_task_logger(*args, **kwargs):
        if quiet:
            # datatrove adds its console sink as `sys.stderr` at this call: give it a stream that drops lines
            console, sys.stderr = sys.stderr, _Discard()
            try:
                logfile = original(*args, **kwargs)
            finally:
                sys.stderr = console
        else:
            logfile = original(*args, **kwargs)
        if progress is not None:
            logger.add(progress.count_warning, level="WARNING", format="{message}")  # removed with the task's sinks
        return logfile

    namespace["add_task_logger"] = add_task_logger
    try:
        yield
    finally:
        namespace["add_task_logger"] = original


class _OncePerMessage:
    """A console sink that writes each distinct message once, to the sys.stderr of the moment (a progress display
    may have put a proxy there that prints above it)."""

    def __init__(self):
        self.seen = set()

    def write(self, message):
        if message not in self.seen:
            self.seen.add(message)
            sys.stderr.write(message)
            sys.stderr.flush()


_ONCE = _OncePerMessage()  # one per process: a message repeated by every phase (Ray's executor) shows once


def quiet_process_logs():
    """This process's datatrove log: warnings and errors only, each distinct one once."""
    logger.remove()
    logger.add(_ONCE.write, level="WARNING",
               format=lambda record: f"refinery: {record['level'].name.lower()} (datatrove): {{message}}\n")


@contextlib.contextmanager
def datatrove_console(quiet: bool):
    """For the life of a run: datatrove's own messages (skipped tasks, merged stats) off the console when quiet;
    datatrove's default console logger again after."""
    if not quiet:
        yield
        return
    _ONCE.seen.clear()
    quiet_process_logs()
    try:
        yield
    finally:
        setup_default_logger()


class TaskConsole:
    """Mixed into datatrove's executors: every task counts its documents and warnings (TaskProgress), and with
    quiet_tasks logs only to its log file."""

    def __init__(self, *args, quiet_tasks: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.quiet_tasks = quiet_tasks

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        if self.is_rank_completed(rank):
            return super()._run_for_rank(rank, local_rank, node_rank)
        progress = TaskProgress(self.logging_dir, rank)
        steps = self.pipeline
        if len(steps) > 1:  # a phase of one step (dedup, tokenizer, cleanup) reads no documents to count
            self.pipeline = [steps[0], DocumentCounter(progress), *steps[1:]]
        try:
            with quiet_task_logger(type(self), progress, quiet=self.quiet_tasks):
                return super()._run_for_rank(rank, local_rank, node_rank)
        finally:
            self.pipeline = steps
            progress.write()
            if self.quiet_tasks:
                quiet_process_logs()  # close_task_logger put datatrove's DEBUG console logger back


def run_in_task_process(fn, *args):
    """fn(*args) in a process forked from the forkserver the local executor's task processes fork from
    (pipeline/forkserver.py); returns what it returns, raises what it raises. A process that dies without answering
    (killed, a native crash, os._exit) raises ChildProcessError: a process Pool would wait for its answer forever."""
    from pipeline.forkserver import forkserver_context

    ctx = forkserver_context()
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_answer, args=(send, fn, args))
    process.start()
    send.close()  # the child's end alone stays open: its exit ends recv() with EOFError
    try:
        kind, value = receive.recv()
    except EOFError:
        process.join()
        raise ChildProcessError(f"the process running {getattr(fn, '__name__', fn)} exited with code "
                                f"{process.exitcode} before answering") from None
    finally:
        receive.close()
    process.join()
    if kind == "raised":
        raise value
    return value


def _answer(conn, fn, args):
    try:
        answer = ("returned", fn(*args))
    except BaseException as e:  # noqa: BLE001 - the caller re-raises it
        answer = ("raised", e)
    conn.send(answer)
    conn.close()


class LocalExecutor(TaskConsole, LocalPipelineExecutor):
    def run(self):
        if self.workers > 1 and self.start_method == "forkserver":
            from pipeline.forkserver import forkserver_context

            forkserver_context()  # its preload, in case nothing started it yet
        return super().run()


class RayExecutor(TaskConsole, RayPipelineExecutor):
    pass


class SlurmExecutor(SlurmPipelineExecutor):
    """datatrove's Slurm executor, each rank of an array job run with its own copy of the pipeline: datatrove's
    reuses the step objects for every rank of a job, whose stats (the funnel) would then add up across ranks."""

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        steps = self.pipeline
        self.pipeline = copy.deepcopy(steps)
        try:
            return super()._run_for_rank(rank, local_rank, node_rank)
        finally:
            self.pipeline = steps


# -- the quality filters -------------------------------------------------------------------------------------------
filter_verdict = _internal("filter_verdict", "datatrove.pipeline.filters.base_filter", "get_filter_result")


def use_word_tokenizer(datatrove_filter, tokenizer):
    """Makes a datatrove quality filter split its texts with `tokenizer` (a WordTokenizer) instead of the one
    datatrove would load for its language."""
    datatrove_filter.language = tokenizer


def repetition_parts(repetition_filter, text: str) -> tuple[list[str], list[str]]:
    """The paragraphs and the lines of `text` among which GopherRepetitionFilter counts duplicates, split by the
    filter's own expressions."""
    return repetition_filter.paragraph_exp.split(text.strip()), repetition_filter._line_splitter.split(text)


_REPETITION = "datatrove.pipeline.filters.gopher_repetition_filter"
find_duplicates = _internal("find_duplicates", _REPETITION, "find_duplicates")
find_top_duplicate = _internal("find_top_duplicate", _REPETITION, "find_top_duplicate")
find_all_duplicate = _internal("find_all_duplicate", _REPETITION, "find_all_duplicate")
get_n_grams = _internal("get_n_grams", _REPETITION, "get_n_grams")


def c4_sentence_count(c4_filter, text: str) -> int | None:
    """The number of sentences C4QualityFilter.filter compares with min_num_sentences; None when that rule is off.

    datatrove's line loop, copied with the filter's settings read from `c4_filter`, without its stats and without the
    early returns of its yes/no rules (lorem ipsum, curly bracket): a document those drop never reaches the count,
    and the count of every other document is the one datatrove compares."""
    f = c4_filter
    if f.min_num_sentences == -1:
        return None  # datatrove counts nothing then, and drops nothing for it
    lines = text.splitlines() if f.split_paragraph else split_into_sentences(text, f.language)
    num_sentences = 0
    for line in lines:
        line = line.strip()
        words = line.split()  # before citations are removed, as datatrove counts them
        if f.max_word_length != -1 and any(len(word) > f.max_word_length for word in words):
            continue
        if f.remove_citations:
            line = CITATION_REGEX.sub("", line)
        if f.filter_no_terminal_punct and (not line.endswith(END_PUNCTUATION) or line.endswith(ELLIPSIS)):
            continue
        if len(words) < f.min_words_per_line:
            continue
        line_l = line.lower()
        if f.filter_javascript and "javascript" in line_l:
            continue
        if f.filter_policy and any(p in line_l for p in POLICY_SUBSTRINGS):
            continue
        num_sentences += len(split_into_sentences(line, f.language)) if f.split_paragraph else 1
    return num_sentences


# -- word tokenizers -----------------------------------------------------------------------------------------------
strip_strings = _internal("SpacyTokenizerBase", "datatrove.utils.word_tokenizers", "strip_strings")


class SpacyTokenizerBase(SpaCyTokenizer):
    """datatrove's SpaCyTokenizer, with what a subclass needs of its internals as methods."""

    @property
    def pipeline_built(self) -> bool:
        return self._tokenizer is not None

    def forget_pipeline(self):
        """The next use builds the spaCy pipeline again, with a fresh vocabulary."""
        self._tokenizer = None

    def __getstate__(self):
        # a worker process builds its own spaCy pipeline
        return {**self.__dict__, "_tokenizer": None}

    def sentence_end_chars(self):
        """The characters after which datatrove's sentencizer may end a sentence."""
        return self.tokenizer.get_pipe("sentencizer").punct_chars

    def sentence_end_pattern(self):
        """A regex that finds any of sentence_end_chars (builds the spaCy pipeline if it is not built yet)."""
        return _any_of(frozenset(self.sentence_end_chars()))

    @staticmethod
    def left_to_datatrove(text: str) -> bool:
        """Text datatrove's own tokenizing treats apart (it retries without "IS_ALPHA", a string that breaks
        spaCy): a subclass must hand it to datatrove's code unchanged."""
        return "IS_ALPHA" in text


# languages for which SpaCyTokenizer.__init__ sets up a segmenter of its own (pyvi, jieba, datatrove's Japanese fix)
SPACY_CONFIGURED = ("vi", "zh", "ja")


def spacy_assigned(language: str) -> str | None:
    """The spaCy language code datatrove tokenizes the key `language` with ("fra_Latn" -> "fr", "ar" -> "xx", "nn" ->
    "nb"), when that is a plain spaCy pipeline (spacy.blank(code) and a sentencizer); None otherwise."""
    tok = load_word_tokenizer(language)  # ("zh" is assigned "xx", a plain pipeline; "cmn_Hani" is "zh", with jieba)
    if type(tok) is SpaCyTokenizer and tok.language not in SPACY_CONFIGURED:
        return tok.language
    return None


# -- the URL filter ------------------------------------------------------------------------------------------------
ASSETS_PATH = _internal("OfflineURLFilter", "datatrove.utils._import_utils", "ASSETS_PATH")
get_list = _internal("OfflineURLFilter", "datatrove.pipeline.filters.url_filter", "get_list")
URL_LISTS_TAR = "url_filterblacklistsv0_3_0.tar.gz"  # in ASSETS_PATH; also the name datatrove locks its extraction by


_TLDEXTRACT = []  # this process's offline TLDExtract


def _process_tldextract():
    """One offline TLDExtract per process, kept for every task it runs: each would parse the bundled suffix list
    again (~0.3 s)."""
    if not _TLDEXTRACT:
        from tldextract import TLDExtract

        class ProcessTLDExtract(TLDExtract):
            def __reduce__(self):  # to another process (a task's copy of the pipeline): that process's own
                return _process_tldextract, ()

        _TLDEXTRACT.append(ProcessTLDExtract(suffix_list_urls=(), cache_dir=None))
    return _TLDEXTRACT[0]


def offline_tldextract(url_filter):
    """datatrove's URLFilter builds TLDExtract(), which fetches the public suffix list on first use and stalls for
    minutes offline: the snapshot bundled with tldextract instead."""
    url_filter.tldextractor = _process_tldextract()


class OfflineURLFilter(URLFilter):
    """datatrove's URLFilter, offline (offline_tldextract), with its two big lists (domains, URLs) made by
    `big_list`, which a subclass may answer `in` another way."""

    def __init__(self, **params):
        super().__init__(**params)
        offline_tldextract(self)

    def big_list(self, path: str, extra: set):
        """What datatrove makes of the list file at `path`: a set of its stripped lines, plus `extra`."""
        return get_list(os.path.dirname(path), os.path.basename(path), extra, do_normalize=False)

    def download_data(self):
        # URLFilter.download_data (COPIES), the two big lists through big_list
        if self._downloaded or not self.use_integrated_lists:
            return
        from huggingface_hub import cached_assets_path

        folder = cached_assets_path(library_name="datatrove", namespace="filters", subfolder="url_filter")

        def extract():
            with tarfile.open(os.path.join(ASSETS_PATH, URL_LISTS_TAR), "r:gz") as tar:
                tar.extractall(folder)

        safely_create_file(os.path.join(folder, URL_LISTS_TAR), extract)
        self.block_listed_domains = self.big_list(os.path.join(folder, "domains"), self.block_listed_domains)
        self.block_listed_url = self.big_list(os.path.join(folder, "urls"), self.block_listed_url)
        self.banned_words = get_list(ASSETS_PATH, "banned_words.txt", self.banned_words)
        self.banned_subwords = get_list(ASSETS_PATH, "banned_subwords.txt", self.banned_subwords)
        self.soft_banned_words = get_list(ASSETS_PATH, "soft_banned_words.txt", self.soft_banned_words)
        for word in self.banned_subwords:
            self.banned_subwords_automaton.add_word(word, len(self.banned_subwords_automaton))
        self.banned_subwords_automaton.make_automaton()
        self._downloaded = True


# -- language identification ---------------------------------------------------------------------------------------
class LocalFT176LID(FT176LID):
    """datatrove's lid.176 wrapper, loading a local model file instead of downloading one."""

    def __init__(self, languages, model_path: str):
        super().__init__(languages)
        self.model_path = model_path

    @property
    def model(self):
        if self._model is None:
            self._model = process_fasttext_model(self.model_path)
        return self._model


@functools.cache
def process_fasttext_model(path: str):
    """One loaded fastText model per file and process (read-only: predicting does not change it); the forkserver
    loads lid.176 once (pipeline/worker_preload.py) and every task process forked from it starts with it loaded."""
    import fasttext

    return fasttext.load_model(path)


def use_lid(language_filter, lid):
    """Makes datatrove's LanguageFilter predict with `lid`: its constructor builds one that downloads its model."""
    language_filter.model = lid


# -- extraction ----------------------------------------------------------------------------------------------------
ExtractorSandbox = _internal("extraction_sandbox", "datatrove.pipeline.extractors.base", "ExtractorSandbox")


def extraction_sandbox(timeout: float):
    """datatrove's extraction sandbox, a context manager: process_document(text, fn) returns fn(text) computed in a
    child process, raises TimeoutError past `timeout` seconds (the child is killed; the next call starts another)
    and EOFError when the child died, which is also what an exception raised by fn does to it (datatrove 0.10.1
    sends none back). A child keeps the fn it was started with: one sandbox per extraction function."""
    return ExtractorSandbox(timeout=timeout, warmup_text="")


# -- copies of datatrove's code ------------------------------------------------------------------------------------
# copy here -> (datatrove's original as "module:qualified name", the first 16 hex digits of the sha256 of its source
# when it was copied, from datatrove 0.10.1)
COPIES = {
    "c4_sentence_count": ("datatrove.pipeline.filters.c4_filters:C4QualityFilter.filter", "62d59b94ad2c3fde"),
    "OfflineURLFilter.download_data": ("datatrove.pipeline.filters.url_filter:URLFilter.download_data", "4df00236ab4458f3"),
    # reimplementations (stages/fast_filters.py, and the stages' `rules`), exact: tests/test_fast_filters.py
    "fast_filters.find_duplicates": (f"{_REPETITION}:find_duplicates", "6020d331fc4e3eb1"),
    "fast_filters.NGrams.top_duplicate (n-grams)": (f"{_REPETITION}:get_n_grams", "d090349455822361"),
    "fast_filters.NGrams.top_duplicate": (f"{_REPETITION}:find_top_duplicate", "a85a42e1b73c471a"),
    "fast_filters.NGrams.all_duplicate": (f"{_REPETITION}:find_all_duplicate", "1cdd7ab596cfb84f"),
    "GopherRepetitionStage.rules": (f"{_REPETITION}:GopherRepetitionFilter.filter", "25ae4fb4334f6923"),
    "GopherQualityStage.rules": ("datatrove.pipeline.filters.gopher_quality_filter:GopherQualityFilter.filter",
                                 "0394da73df8417c7"),
}
