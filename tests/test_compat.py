"""The hooks into datatrove's internals (stages/compat.py), each against the datatrove installed: when an upgrade
changes what a hook relies on, these fail naming the hook."""

import glob
import hashlib
import importlib
import inspect
import json
import os
import pickle
import re
import time

import datatrove.executor.base
import datatrove.executor.ray
import pytest
from datatrove.data import Document
from datatrove.io import get_datafolder
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    LanguageFilter,
    URLFilter,
)
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.readers import JsonlReader
from datatrove.utils.lid import FastTextLID, FT176LID
from datatrove.utils.logging import close_task_logger, logger, setup_default_logger
from datatrove.utils.word_tokenizers import SpaCyTokenizer, load_word_tokenizer

from stages.compat import (
    ASSETS_PATH,
    COPIES,
    SPACY_CONFIGURED,
    URL_LISTS_TAR,
    LocalExecutor,
    LocalFT176LID,
    OfflineURLFilter,
    RayExecutor,
    SpacyTokenizerBase,
    TaskProgress,
    c4_sentence_count,
    datatrove_console,
    extraction_sandbox,
    filter_verdict,
    find_all_duplicate,
    find_duplicates,
    find_top_duplicate,
    get_n_grams,
    offline_tldextract,
    quiet_task_logger,
    read_progress,
    repetition_parts,
    spacy_assigned,
    strip_strings,
    use_lid,
    use_word_tokenizer,
)
from stages.documents import DocumentWriter, read_documents


@pytest.fixture(autouse=True)
def datatrove_default_logger():
    yield
    setup_default_logger()  # the hooks under test reconfigure the process-wide loguru logger


def test_hook_run_for_rank_signature_and_globals_are_what_the_hooks_wrap():
    # TaskConsole._run_for_rank overrides datatrove's per-task entry point, and quiet_task_logger swaps the
    # add_task_logger that entry point looks up as a global of its module
    for module, cls in ((datatrove.executor.base, datatrove.executor.base.PipelineExecutor),
                        (datatrove.executor.ray, datatrove.executor.ray.RayPipelineExecutor)):
        method = cls.__dict__.get("_run_for_rank")
        assert method is not None, f"stages.compat.TaskConsole: {cls.__name__}._run_for_rank is gone from datatrove"
        assert list(inspect.signature(method).parameters) == ["self", "rank", "local_rank", "node_rank"], \
            f"stages.compat.TaskConsole: the signature of {cls.__name__}._run_for_rank changed"
        for name in ("add_task_logger", "close_task_logger"):
            assert name in method.__code__.co_names and callable(getattr(module, name, None)), \
                f"stages.compat.quiet_task_logger: {cls.__name__}._run_for_rank no longer calls {module.__name__}.{name}"


@pytest.mark.parametrize("executor_cls,module", [(LocalExecutor, datatrove.executor.base),
                                                 (RayExecutor, datatrove.executor.ray)])
def test_hook_quiet_task_logger_keeps_a_task_log_off_the_console(executor_cls, module, tmp_path, capfd):
    folder = get_datafolder(str(tmp_path))
    progress = TaskProgress(folder, 7)
    with quiet_task_logger(executor_cls, progress):
        logfile = module.add_task_logger(folder, 7)
        logger.info("probe-info")
        logger.warning("probe-warning")
        logger.error("probe-error")
        close_task_logger(logfile)
    console = capfd.readouterr()
    for probe in ("probe-info", "probe-warning", "probe-error", "Launching pipeline"):
        assert probe not in console.err + console.out, \
            f"stages.compat.quiet_task_logger: datatrove's add_task_logger no longer sends its console sink to " \
            f"sys.stderr; a task's {probe!r} reached the console"
    with open(tmp_path / "logs" / "task_00007.log") as f:
        log = f.read()
    assert "probe-info" in log and "probe-warning" in log and "probe-error" in log, \
        "stages.compat.quiet_task_logger: the task log file lost lines"
    assert progress.warnings == 2, "stages.compat.quiet_task_logger: the warning counter missed the task's warnings"
    assert module.add_task_logger.__module__ == "datatrove.utils.logging"  # put back after the task

    # without the hook, the same lines do reach the console: the check above can fail
    logfile = module.add_task_logger(folder, 8)
    logger.info("probe-unhooked")
    close_task_logger(logfile)
    assert "probe-unhooked" in capfd.readouterr().err


def _jsonl_inputs(folder, sizes):
    os.makedirs(folder)
    for i, n in enumerate(sizes):
        with open(os.path.join(folder, f"part-{i}.jsonl"), "w") as f:
            f.writelines(json.dumps({"text": f"document {j} of file {i}", "id": f"{i}-{j}"}) + "\n" for j in range(n))
    return folder


@pytest.mark.parametrize("workers", [1, 2])  # 1: in this process; 2: datatrove's forkserver pool of processes
def test_hook_task_console_counts_documents_and_keeps_tasks_quiet(workers, tmp_path, capfd):
    inputs = _jsonl_inputs(str(tmp_path / "in"), [30, 20])
    logs = str(tmp_path / "logs")
    executor = LocalExecutor(pipeline=[JsonlReader(inputs), DocumentWriter(str(tmp_path / "out"))], tasks=2,
                             workers=workers, logging_dir=logs, quiet_tasks=True)
    executor.run()
    assert executor.get_incomplete_ranks() == []
    assert len(read_documents(str(tmp_path / "out"))) == 50
    # every task's count, from the worker process that ran it
    assert {os.path.basename(p): read_progress(p) for p in glob.glob(os.path.join(logs, "progress", "*"))} == \
        {"00000": (30, 0), "00001": (20, 0)}, "stages.compat.TaskConsole: documents were not counted per task"
    # the counter is no stage: datatrove's stats (and the funnel) list the two steps only
    with open(os.path.join(logs, "stats", "00000.json")) as f:
        assert [s["name"] for s in json.load(f)] == ["📖 - READER: 🐿 Jsonl", "refinery-io: write_documents"]
    console = capfd.readouterr()
    assert "PIPELINE" not in console.err and "Processing done" not in console.err, \
        "stages.compat.TaskConsole: a quiet task's log reached the console"
    with open(os.path.join(logs, "logs", "task_00001.log")) as f:
        assert "Processing done" in f.read()
    # after tasks ran in this process, datatrove's console logger is the quiet one again
    logger.info("probe-after-info")
    logger.warning("probe-after-warning")
    assert "probe-after-info" not in capfd.readouterr().err, \
        "stages.compat.TaskConsole: close_task_logger's default console logger was left in place"


def test_hook_datatrove_console_shows_each_warning_once_then_gives_datatrove_its_logger_back(capfd):
    with datatrove_console(quiet=True):
        logger.info("probe-info")
        logger.warning("probe-warning")
        logger.warning("probe-warning")
    logger.info("probe-default")
    err = capfd.readouterr().err
    assert "probe-info" not in err, "stages.compat.datatrove_console: datatrove's info messages reach the console"
    assert err.count("probe-warning") == 1 and "refinery: warning (datatrove): probe-warning" in err
    assert "probe-default" in err, "stages.compat.datatrove_console: datatrove's default logger was not put back"


# -- hooks into the filters, tokenizers, language id and extraction ------------------------------------------------
def test_internal_lookup_names_the_hook_when_datatrove_drops_a_name():
    from stages.compat import _internal

    with pytest.raises(ImportError, match=r"stages\.compat\.some_hook: datatrove\.io\.no_such_name is gone"):
        _internal("some_hook", "datatrove.io", "no_such_name")


@pytest.mark.parametrize("copy", sorted(COPIES))
def test_hook_copies_of_datatrove_code_are_of_the_installed_datatrove(copy):
    original, fingerprint = COPIES[copy]
    module, _, qualname = original.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        assert obj is not None, f"stages.compat.{copy}: {original} is gone from datatrove"
    now = hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[: len(fingerprint)]
    assert now == fingerprint, \
        f"stages.compat.{copy}: datatrove changed {original} (fingerprint {now}, copied from {fingerprint}): " \
        f"compare it with the copy in stages/compat.py, then update COPIES"


def test_hook_filter_verdict_reads_a_filter_result_as_datatrove_does():
    assert "get_filter_result" in BaseFilter.run.__code__.co_names, \
        "stages.compat.filter_verdict: BaseFilter.run no longer reads filter results with get_filter_result"
    for result, expected in ((True, (True, None)), (False, (False, None)), ((False, "why"), (False, "why"))):
        got = filter_verdict(result)
        assert got == expected, f"stages.compat.filter_verdict: {result!r} reads as {got!r}"


class _Recording(SpaCyTokenizer):
    """datatrove's own spaCy tokenizer, noting the texts it is given."""

    def __init__(self):
        super().__init__("en")
        self.texts = []

    def word_tokenize(self, text):
        self.texts.append(text)
        return super().word_tokenize(text)

    def span_tokenize(self, text):
        self.texts.append(text)
        return super().span_tokenize(text)


GOOD_TEXT = "\n".join(
    f"Line {i} of a plain article says that the weather was fine, and the town was busy with visitors all day."
    for i in range(12)
)


@pytest.mark.parametrize("filter_cls", [GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter, FineWebQualityFilter])
def test_hook_use_word_tokenizer_makes_the_filter_split_with_it(filter_cls):
    f, tokenizer = filter_cls(), _Recording()
    use_word_tokenizer(f, tokenizer)
    f.filter(Document(text=GOOD_TEXT, id="x"))
    assert tokenizer.texts, f"stages.compat.use_word_tokenizer: {filter_cls.__name__} no longer splits with its " \
                            f"`language` attribute (or load_word_tokenizer no longer takes a WordTokenizer)"
    assert all(t in GOOD_TEXT for t in tokenizer.texts)


def test_hook_spacy_tokenizer_base_sees_datatrove_spacy_internals():
    tok = SpacyTokenizerBase("en")
    assert not tok.pipeline_built, \
        "stages.compat.SpacyTokenizerBase: SpaCyTokenizer no longer builds its pipeline on first use"
    nlp = tok.tokenizer
    assert tok.pipeline_built and tok._tokenizer is nlp, \
        "stages.compat.SpacyTokenizerBase: SpaCyTokenizer no longer keeps its spaCy pipeline in `_tokenizer`"
    assert nlp.pipe_names == ["sentencizer"] and "." in tok.sentence_end_chars(), \
        f"stages.compat.SpacyTokenizerBase: datatrove's spaCy pipeline is {nlp.pipe_names}, not a sentencizer alone"
    # its words are spaCy's tokens, stripped, empty ones left out
    text = "  Two words ,  and   more!  "
    words = ["Two", "words", ",", "and", "more", "!"]
    assert tok.word_tokenize(text) == strip_strings([t.text for t in nlp.make_doc(text)]) == words, \
        "stages.compat.SpacyTokenizerBase: SpaCyTokenizer's words are no longer strip_strings of spaCy's tokens"
    assert pickle.loads(pickle.dumps(tok)).pipeline_built is False
    tok.forget_pipeline()
    assert not tok.pipeline_built and tok.tokenizer is not nlp
    assert '"IS_ALPHA" in text' in inspect.getsource(SpaCyTokenizer._do_tokenize) and tok.left_to_datatrove("x IS_ALPHA"), \
        "stages.compat.SpacyTokenizerBase: datatrove changed the text its _do_tokenize treats apart"


def test_hook_spacy_assigned_matches_datatrove_tokenizer_assignment():
    assert spacy_assigned("en") and type(load_word_tokenizer("en")) is SpaCyTokenizer, \
        "stages.compat.spacy_assigned: datatrove no longer assigns its SpaCyTokenizer to English"
    configured = set(re.findall(r'language == "(\w+)"', inspect.getsource(SpaCyTokenizer.__init__)))
    assert configured == set(SPACY_CONFIGURED), \
        f"stages.compat.spacy_assigned: SpaCyTokenizer now sets up its own segmenter for {sorted(configured)}"
    # keys assigned one of those codes are left to datatrove's own tokenizer; the bare "zh" is assigned "xx", plain
    assert not any(spacy_assigned(key) for key in ("cmn_Hani", "jpn_Jpan", "vie_Latn", "ja", "vi"))
    assert spacy_assigned("zh") == load_word_tokenizer("zh").language == "xx"


def test_hook_repetition_parts_split_as_the_filter_does():
    f = GopherRepetitionFilter()
    for name in ("paragraph_exp", "_line_splitter"):
        assert hasattr(f, name), f"stages.compat.repetition_parts: GopherRepetitionFilter has no `{name}` any more"
    text = "a\n\n\nb\nc\n\nd\n"
    assert repetition_parts(f, text) == (["a", "b\nc", "d"], ["a", "b", "c", "d", ""]), \
        "stages.compat.repetition_parts: GopherRepetitionFilter splits paragraphs or lines differently"
    source = inspect.getsource(GopherRepetitionFilter.filter)
    assert "self.paragraph_exp.split(text.strip())" in source and "self._line_splitter.split(text)" in source, \
        "stages.compat.repetition_parts: GopherRepetitionFilter.filter no longer splits with its two expressions"


def test_hook_repetition_counters_count_as_before():
    expected = {
        "find_duplicates": (find_duplicates(["ab", "c", "ab", "ab"]), (2, 4)),
        "find_top_duplicate": (find_top_duplicate(["ab", "ab", "c"]), 4),
        "find_all_duplicate": (find_all_duplicate(["a", "b", "a", "b", "a", "b"], 2), 4),
        "get_n_grams": (get_n_grams(["a", "b", "c"], 2), ["a b", "b c"]),
    }
    for name, (got, want) in expected.items():
        assert got == want, f"stages.compat.{name}: datatrove's {name} now gives {got!r}, not {want!r}"


def test_hook_c4_sentence_count_is_the_count_c4_compares():
    texts = ["The bridge was built in 1901.[1]\nIt was rebuilt twice.[2]\nIt ended...", "Yes. No. A sentence of words.",
             "Please enable JavaScript now. Our privacy policy. The rest is fine here, really."]
    options = [{}, {"split_paragraph": False}, {"filter_no_terminal_punct": True}, {"remove_citations": False,
               "filter_no_terminal_punct": True}, {"min_words_per_line": 5, "max_word_length": 4}]
    for text in texts:
        for option in options:
            n = c4_sentence_count(C4QualityFilter(**option), text)
            keeps = C4QualityFilter(**option, min_num_sentences=n).filter(Document(text=text, id="x"))
            drops = C4QualityFilter(**option, min_num_sentences=n + 1).filter(Document(text=text, id="x"))
            assert keeps is True and drops == (False, "too_few_sentences"), \
                f"stages.compat.c4_sentence_count: counts {n} where C4QualityFilter({option}) counts otherwise on {text!r}"


def test_hook_offline_url_filter_loads_the_lists_datatrove_loads():
    stock = URLFilter()
    for name in ("_downloaded", "use_integrated_lists", "block_listed_domains", "block_listed_url", "banned_words",
                 "banned_subwords", "soft_banned_words", "banned_subwords_automaton"):
        assert hasattr(stock, name), f"stages.compat.OfflineURLFilter: URLFilter has no `{name}` any more"
    for name in (URL_LISTS_TAR, "banned_words.txt", "banned_subwords.txt", "soft_banned_words.txt"):
        assert os.path.isfile(os.path.join(ASSETS_PATH, name)), f"stages.compat.OfflineURLFilter: datatrove ships no {name}"
    ours = OfflineURLFilter(extra_domains=["spam-site.com"])
    # small stand-ins for the two big lists (tests/test_stages.py decides on the real ones against datatrove)
    listed = {"domains": {"listed-domain.com"}, "urls": {"https://listed-url.com/page"}}
    ours.big_list = lambda path, extra: listed[os.path.basename(path)] | set(extra)
    ours.download_data()
    probes = {"https://www.example-news.org/a": True, "https://www.spam-site.com/page": (False, "domain"),
              "https://listed-domain.com/x": (False, "domain"), "https://listed-url.com/page": (False, "url"),
              "http://www.18abused-videos.example.com/x": (False, "hard_blacklisted")}
    for url, expected in probes.items():
        got = ours.filter(Document(text="x", id="x", metadata={"url": url}))
        assert got == expected, f"stages.compat.OfflineURLFilter: {url} gave {got!r}, not {expected!r}"


def test_hook_offline_tldextract_is_what_the_filter_asks():
    f = URLFilter()
    assert "tldextractor" in URLFilter.filter.__code__.co_names, \
        "stages.compat.offline_tldextract: URLFilter.filter no longer reads its `tldextractor`"
    offline_tldextract(f)
    assert f.tldextractor("http://a.b.example.co.uk/").suffix == "co.uk"
    assert f.tldextractor.suffix_list_urls == (), "stages.compat.offline_tldextract: the suffix list is fetched"


def test_hook_local_ft176_lid_loads_the_local_model():
    from stages.language import lid176_path

    assert FT176LID(["en"])._model is None and "model" in FastTextLID.predict.__code__.co_names, \
        "stages.compat.LocalFT176LID: FastTextLID no longer predicts through a lazily loaded `model` in `_model`"
    lid = LocalFT176LID(["en", "fr"], lid176_path())
    (lang, score), wanted = lid.predict(Document(text="This is an English sentence about the weather.", id="x"))
    assert lang == "en" and set(wanted) == {"en", "fr"} and wanted["en"] == score > 0.5, \
        f"stages.compat.LocalFT176LID: predict() now answers {(lang, score)}, {wanted}"
    assert lid._model is not None


def test_hook_use_lid_makes_language_filter_predict_with_it():
    from stages.language import lid176_path

    f = LanguageFilter(languages=["en"])
    assert "model" in LanguageFilter.filter.__code__.co_names, \
        "stages.compat.use_lid: LanguageFilter.filter no longer predicts with its `model`"
    use_lid(f, LocalFT176LID(["en"], lid176_path()))
    doc = Document(text="This is an English sentence about the weather.", id="x")
    assert f.filter(doc) and doc.metadata["language"] == "en"


def _echo(text):
    return text.upper()


def _slow(text):
    if text:  # the sandbox warms its child up with "": that must be quick
        time.sleep(30)
    return text


def _dies(text):
    if text:
        os._exit(3)
    return text


def _fails(text):
    if text:
        raise ValueError("bad page")
    return text


def test_hook_extraction_sandbox_runs_in_a_child_and_reports_how_it_ended():
    # a child runs the function it was started with: one sandbox per function
    with extraction_sandbox(timeout=2.0) as sandbox:
        assert sandbox.process_document("page", _echo) == "PAGE", "stages.compat.extraction_sandbox: wrong result"
    with extraction_sandbox(timeout=1.0) as sandbox:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            sandbox.process_document("page", _slow)
        assert time.monotonic() - started < 10, "stages.compat.extraction_sandbox: the timeout was not kept"
    with extraction_sandbox(timeout=2.0) as sandbox:
        with pytest.raises(EOFError):
            sandbox.process_document("page", _dies)
    # the child does not send an exception back: it dies of it (stages/extract.py counts such a page process_died)
    with extraction_sandbox(timeout=2.0) as sandbox:
        with pytest.raises(EOFError):
            sandbox.process_document("page", _fails)
        assert sandbox.process_document("", _fails) == "", "stages.compat.extraction_sandbox: no fresh child after one died"


def test_dependency_check_reads_the_installed_distributions_once_with_datatrove_answers():
    """stages.compat replaces datatrove's per-name scan of every installed distribution's metadata with one scan per
    process: the same answers (True for an installed distribution, given lowercase as datatrove's steps give it;
    None otherwise), and a step needing a missing one still refuses to be built."""
    import importlib.metadata

    from datatrove.utils import _import_utils

    import stages.compat

    assert _import_utils._is_distribution_available is stages.compat._is_distribution_available
    installed = {(d.metadata.get("Name") or "").lower() for d in importlib.metadata.distributions()}
    for name in ("trafilatura", "fasttext-numpy2-wheel", "pyahocorasick", "warcio", "not-a-distribution-x",
                 "Trafilatura"):
        expected = True if name in installed and name == name.lower() else None
        assert _import_utils._is_distribution_available(name) is expected, name
    assert _import_utils._is_distribution_available("trafilatura") is True

    from datatrove.pipeline.base import PipelineStep

    class NeedsMissing(PipelineStep):
        _requires_dependencies = [("json", "not-a-distribution-x")]

        def run(self, data, rank=0, world_size=1):
            yield from data

    with pytest.raises(ImportError, match="not-a-distribution-x"):
        NeedsMissing()
