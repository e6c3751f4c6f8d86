"""Per-language profiles (stages/profiles.py): each quality stage and MinHash take a document's language's word
tokenizer, stop words and thresholds; English, and a language without a profile, exactly as before."""

import collections
import dataclasses
import glob
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
import yaml
from datatrove.data import Document

from stages.c4_quality import C4QualityStage
from stages.fineweb_quality import FineWebQualityStage
from stages.gopher_quality import GopherQualityStage
from stages.gopher_repetition import GopherRepetitionStage
from stages.profiles import DEFAULT, profile_for, table
from tests.conftest import ROOT, no_network_env, refinery, shared_path, write_warc

QUALITY = (GopherRepetitionStage, GopherQualityStage, C4QualityStage, FineWebQualityStage)
MULTILINGUAL = os.path.join(ROOT, "configs", "multilingual.yaml")


def sentences(lang: str) -> list[str]:
    with open(os.path.join(shared_path("langid", "lingua-sentences"), f"{lang}.txt"), encoding="utf-8") as f:
        return [line.strip() for line in f.read().split("\n") if line.strip()]


def clean_text(lang: str, k: int = 0) -> str:
    """Page k of bench/multilingual_quality.py as extraction leaves it: 4 paragraphs of 3 sentences."""
    lines = sentences(lang)
    return "\n".join(" ".join(lines[12 * k + 3 * j: 12 * k + 3 * j + 3]) for j in range(4))


def stages(profiles: bool):
    return [cls(**{**dataclasses.asdict(cls.Params()), "profiles": profiles}) for cls in QUALITY]


def verdicts(stage_list, text: str, language: str | None):
    out = []
    for stage in stage_list:
        drop = stage.process(Document(text=text, id="d", metadata={"language": language} if language else {}))
        out.append(None if drop is None else (drop.reason, drop.value))
    return out


def test_the_profile_table_is_fineweb2_s_values_and_english_is_the_default():
    de = profile_for("de")
    assert de.source == "deu_Latn" and de.tokenizer == "deu_Latn" and "und" in de.stop_words
    assert de.min_stop_words == 2 and de.overrides("gopher_quality")["stop_words"] == list(de.stop_words)
    assert profile_for("zh").tokenizer == "cmn_Hani" and not profile_for("zh").spaced
    assert profile_for("zh").overrides("c4_quality") == {"min_words_per_line": -1}
    assert profile_for("de").overrides("c4_quality") == {}
    for code in ("en", "xx", None, ""):
        assert profile_for(code) is DEFAULT
    assert all(DEFAULT.overrides(name) == {} for name in ("gopher_repetition", "gopher_quality", "c4_quality",
                                                         "fineweb_quality"))
    assert len(table()) >= 20


def test_a_clean_page_in_another_language_passes_with_its_profile_and_fails_as_english():
    for lang in ("de", "zh", "ja", "ko", "th", "hi", "ar", "ru"):
        text = clean_text(lang)
        as_english = verdicts(stages(False), text, lang)
        with_profile = verdicts(stages(True), text, lang)
        assert with_profile == [None] * 4, (lang, with_profile)
        assert any(v is not None for v in as_english), lang


def test_english_and_languages_without_a_profile_are_filtered_as_before():
    # the bundled sample's extracted pages (the documents of tests/test_fast_filters.py): every verdict and value
    from tests.test_fast_filters import extracted_sample_texts

    off, on = stages(False), stages(True)
    texts = extracted_sample_texts()
    assert len(texts) > 20
    for text in texts:
        before = verdicts(off, text, "en")
        assert verdicts(on, text, "en") == before
        assert verdicts(on, text, None) == before
        assert verdicts(on, text, "sw") == before  # lid.176 code without a profile: the default one


def test_fineweb_yaml_leaves_profiles_off_and_multilingual_yaml_turns_them_on():
    from pipeline.config import load_config

    fineweb = load_config(os.path.join(ROOT, "configs", "fineweb.yaml")).stages
    multi = load_config(MULTILINGUAL).stages
    for name in ("gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality", "minhash_dedup"):
        assert fineweb[name]["profiles"] is False and multi[name]["profiles"] is True
        # the same thresholds otherwise: English is filtered as in fineweb.yaml
        assert {k: v for k, v in multi[name].items() if k != "profiles"} == \
            {k: v for k, v in fineweb[name].items() if k != "profiles"}
    languages = multi["language"]["languages"]
    assert len(languages) >= 20 and set(languages) - {"en"} <= set(table())


def test_each_tokenizer_family_of_the_profiles_works_offline(tmp_path):
    # a profile of each tokenizer family (spaCy, jieba and Sudachi through spaCy, Kiwi, PyThaiNLP, IndicNLP, pyvi
    # through spaCy) in a process that cannot reach the network: nothing downloads at run time
    env = no_network_env(str(tmp_path / "net"))
    env["PYTHONPATH"] = f"{env['PYTHONPATH']}{os.pathsep}{ROOT}"
    code = ("import json, sys\n"
            "from stages.profiles import table\n"
            "from stages.word_tokens import word_tokenizer\n"
            "texts = json.loads(sys.stdin.read())\n"
            "for lang in texts:\n"
            "    p = table()[lang]\n"
            "    tok = word_tokenizer(p.tokenizer)\n"
            "    words, spans = tok.word_tokenize(texts[lang]), tok.span_tokenize(texts[lang])\n"
            "    assert len(words) >= 5 and spans, lang\n"
            "    print(lang, len(words))\n")
    import json

    texts = {lang: " ".join(sentences(lang)[:2]) for lang in ("de", "zh", "ja", "ko", "th", "hi", "vi")}
    proc = subprocess.run([sys.executable, "-c", code], input=json.dumps(texts), capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(proc.stdout.split("\n")) > len(texts)
    with open(env["REFINERY_TEST_NET_LOG"]) as f:
        assert f.read() == ""


# -- word tokenizers: datatrove's words, sentences and spans, key by key ---------------------------------------------
TOKENIZER_TEXTS = [
    "Frodo. Ceci est une phrase, n'est-ce pas? Das ist gut. (Hello) 3.14 — ok…",
    "Это предложение. Bu bir cümledir?  قال فرودو. هذه جملة!\tΑυτή είναι μια πρόταση.",
    "आज मैं दिल्ली गया। मौसम बहुत अच्छा था। আমি বাজারে গেলাম।",
    "我们今天去北京。天气很好，我们很开心！今日は東京に行きました。天気がとても良かったです。",
    "오늘은 서울에 갔습니다. 날씨가 아주 좋았어요. วันนี้ฉันไปกรุงเทพ อากาศดีมาก",
    "ខ្ញុំទៅផ្សារ។ ຂ້ອຍໄປຕະຫຼາດ. ကျွန်တော် ဈေးသွားတယ်။",
    "line one\nline two. Still two\n\nthree",
]


def _assignments():
    from datatrove.utils.word_tokenizers import load_tokenizer_assignments

    return {key: (factory.args[0], factory.args[1]) for key, factory in load_tokenizer_assignments().items()}


def _same_as_datatrove(ours, theirs, key):
    from datatrove.utils.text import split_into_parts

    for text in TOKENIZER_TEXTS:
        assert ours.word_tokenize(text) == theirs.word_tokenize(text), (key, text)
        assert ours.sent_tokenize(text) == theirs.sent_tokenize(text), (key, text)
        assert ours.span_tokenize(text) == theirs.span_tokenize(text), (key, text)
        assert split_into_parts(text, "SENTENCE", ours) == split_into_parts(text, "SENTENCE", theirs), (key, text)


@pytest.mark.slow
def test_word_tokenizer_gives_datatrove_s_words_for_every_key_whose_tokenizer_installs():
    """Every key of datatrove's tokenizer assignment (4,343): spaCy keys map to datatrove's spaCy code (every key
    checked) and each of the 60 codes is compared on every text; every key of the other families (IndicNLP, PyThaiNLP,
    Kiwi, Khmer, Lao, Burmese, whitespace) is compared whole. Left out: Stanza (models download at run time), botok
    (downloads its dialect pack) and IndicNLP's Urdu (its sentence splitter imports urduhack, which needs
    TensorFlow), whose keys must then be all that is left out."""
    from datatrove.utils.word_tokenizers import SpaCyTokenizer, load_word_tokenizer

    from stages.compat import SPACY_CONFIGURED
    from stages.word_tokens import AlignedSpans, FastSpacyTokenizer, word_tokenizer

    assignments = _assignments()
    compared_codes, compared_keys, left_out = set(), collections.Counter(), collections.Counter()
    for key, (family, code) in sorted(assignments.items()):
        if family in ("StanzaTokenizer", "TibetanTokenizer"):
            left_out[family] += 1
            continue
        ours = word_tokenizer(key)
        if family == "SpaCyTokenizer":
            if code in SPACY_CONFIGURED:  # jieba, Sudachi, pyvi through spaCy: datatrove's own tokenizer
                assert type(ours) is SpaCyTokenizer and ours.language == code, key
            else:
                assert isinstance(ours, FastSpacyTokenizer) and ours.language == code, key
            if code not in compared_codes:
                compared_codes.add(code)
                _same_as_datatrove(ours, SpaCyTokenizer(code), key)
        else:
            theirs = load_word_tokenizer(key)
            assert type(getattr(ours, "inner", ours)) is type(theirs), key
            assert isinstance(ours, AlignedSpans) or ours is theirs, key
            try:
                theirs.sent_tokenize("ok. ok.")
            except ImportError:  # IndicNLP splits Urdu sentences with urduhack (and TensorFlow): not installed
                left_out[(family, code)] += 1
                continue
            _same_as_datatrove(ours, theirs, key)
        compared_keys[family] += 1
    assert set(left_out) == {"StanzaTokenizer", "TibetanTokenizer", ("IndicNLPTokenizer", "ur")}
    assert sum(compared_keys.values()) + sum(left_out.values()) == len(assignments)
    assert len(compared_codes) == len({c for f, c in assignments.values() if f == "SpaCyTokenizer"})
    assert {"IndicNLPTokenizer", "ThaiTokenizer", "KiwiTokenizer", "KhmerTokenizer", "LaoTokenizer",
            "BurmeseTokenizer", "WhitespaceTokenizer", "SpaCyTokenizer"} <= set(compared_keys)


def test_spans_are_found_where_datatrove_s_lookup_fails():
    # IndicNLP rewrites ".." as ". ." in its sentences: datatrove's span lookup raises, and C4 failed the document
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    from stages.word_tokens import word_tokenizer

    text = "वृत्ती अन्.. अप्पाकाकांच्या देहत्यागाच्या वेळची पातळी सांगणे पू. अब्दुल्लाला या"
    with pytest.raises(ValueError):
        load_word_tokenizer("mar_Deva").span_tokenize(text)
    spans = word_tokenizer("mar_Deva").span_tokenize(text)
    assert [text[a:b] for a, b in spans] == [text[: text.index(" अब्दु")], "अब्दुल्लाला या"]
    assert word_tokenizer("mar_Deva").span_tokenize("एक वाक्य. दुसरे वाक्य.") == \
        load_word_tokenizer("mar_Deva").span_tokenize("एक वाक्य. दुसरे वाक्य.")


# -- MinHash: character n-grams where words are not spaced ----------------------------------------------------------
def _edited(text: str, every: int, replacement: str) -> str:
    """The text with one character of every `every`-th sentence-like clause replaced (a light edit, spread out)."""
    out = list(text)
    step = max(len(text) // 40, 1)
    for i in range(step // 2, len(out), step * every):
        if not out[i].isspace():
            out[i] = replacement
    return "".join(out)


@pytest.mark.parametrize("lang,replacement", [("zh", "的"), ("th", "ก")])
def test_minhash_finds_near_duplicate_chinese_and_thai_pages(tmp_path, lang, replacement):
    from tests.test_dedup import run_dedup

    lines = sentences(lang)
    originals = [" ".join(lines[12 * k: 12 * k + 12]) for k in range(4)]
    found = {}
    for profiles in (True, False):
        docs = []
        for k, text in enumerate(originals):
            docs.append(Document(text=text, id=f"<p{k}-a>", metadata={"language": lang}))
            docs.append(Document(text=_edited(text, 2, replacement), id=f"<p{k}-b>", metadata={"language": lang}))
        kept, removed = run_dedup([docs[:4], docs[4:]], str(tmp_path / str(profiles)), profiles=profiles)
        found[profiles] = {r["id"] for r in removed}
    assert found[True] == {f"<p{k}-b>" for k in range(4)}  # every edited copy, and nothing else
    # whitespace-free clauses as FineWeb's words: each edit changes five-clause shingles, the copies go unseen
    assert len(found[False]) < 4


def test_english_minhash_shingles_are_unchanged_with_profiles():
    from stages.minhash_dedup import MinhashConfig, shingles

    text = "The quick brown fox jumps over the lazy dog. It was, in fact, very quick: 3.14 times!"
    assert shingles(text, 5, profile_for("en")) == shingles(text, 5) == shingles(text, 5, None)
    on, off = MinhashConfig("/tmp/x", profiles=True), MinhashConfig("/tmp/x")
    assert on.band_hashes(text, "en") == off.band_hashes(text, "en") == off.band_hashes(text)


# -- a run of configs/multilingual.yaml ------------------------------------------------------------------------------
RUN_LANGUAGES = ("en", "de", "fr", "es", "pl", "tr", "vi", "ru", "uk", "el", "ar", "fa", "he", "hi", "mr", "zh",
                 "ja", "ko", "th", "sv")


def _page(paragraphs):
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<html><head><meta charset='utf-8'></head><body><nav><a href='/'>1</a> <a href='/2'>2</a></nav>"
            f"<article>{body}</article><footer>&copy; 2024</footer></body></html>")


@pytest.mark.slow
def test_a_multilingual_run_keeps_each_language_s_clean_pages_and_tags_them(tmp_path):
    records = []
    for lang in RUN_LANGUAGES:
        lines = sentences(lang)
        for k in range(2):
            records.append({"url": f"https://{lang}.example.org/clean/{k}",
                            "body": _page([" ".join(lines[12 * k + 3 * j: 12 * k + 3 * j + 3]) for j in range(4)])})
        records.append({"url": f"https://{lang}.example.org/repeated",
                        "body": _page([lines[96]] * 30)})
    warc = write_warc(str(tmp_path / "pages.warc.gz"), records)
    with open(MULTILINGUAL) as f:
        cfg = yaml.safe_load(f)
    cfg["input"]["paths"] = [warc]
    cfg["executor"] = {"type": "local", "tasks": 1, "workers": 1}
    for name in ("tokenizer", "shards"):  # a tokenizer and shards of 40 pages tell nothing here
        cfg["stages"].pop(name)
    config = str(tmp_path / "multilingual.yaml")
    with open(config, "w") as f:
        yaml.safe_dump(cfg, f, allow_unicode=True)
    out = str(tmp_path / "run")
    refinery("run", config, "--output", out, env=no_network_env(str(tmp_path / "net")))
    rows = [r for path in sorted(glob.glob(os.path.join(out, "documents", "*.parquet")))
            for r in pq.read_table(path, columns=["url", "language"]).to_pylist()]
    kept = {r["url"]: r["language"] for r in rows}
    for lang in RUN_LANGUAGES:
        for k in range(2):
            assert kept.get(f"https://{lang}.example.org/clean/{k}") == lang, (lang, k, kept.get(
                f"https://{lang}.example.org/clean/{k}"))
        assert f"https://{lang}.example.org/repeated" not in kept, lang


def test_signatures_stored_before_profiles_existed_count_as_profiles_off(tmp_path):
    # `against:` an earlier run: its minhash.json, written before the key existed, has no "profiles"
    import json

    from refinery.layout import RunLayout
    from stages.minhash_dedup import INDEX_META, MinhashConfig, earlier_minhash_runs

    run = str(tmp_path / "earlier")
    index = RunLayout(run).minhash_index
    os.makedirs(index)
    params = MinhashConfig(str(tmp_path / "w")).params()
    with open(os.path.join(index, INDEX_META), "w") as f:
        json.dump({k: v for k, v in params.items() if k != "profiles"} | {"tasks": 2}, f)
    assert earlier_minhash_runs([run], params) == [(run, index, 2)]
    with pytest.raises(ValueError, match="profiles False there, True here"):
        earlier_minhash_runs([run], params | {"profiles": True})
