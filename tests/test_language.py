"""The language stage beyond English: thresholds per language (a mapping, one number, the measured defaults),
`languages: null`, lid.176's quirks (nb/no, bs/hr/sr, ms/id), the script column, the per-language stat keys every
stage from the language stage on writes, and the language of removed/ rows. Real sentences from
../shared/data/langid/lingua-sentences/ (skipped when absent)."""

import dataclasses
import json
import os

import pyarrow.parquet as pq
import pytest
from datatrove.data import Document

from conftest import refinery, shared_path, tiny_config
from pipeline.config import ConfigError, load_config
from refinery.schema import REMOVED_SCHEMA, document_schema
from stages.base import StageOutput
from stages.gopher_quality import GopherQualityStage
from stages.language import DEFAULT_THRESHOLD, LID176_THRESHOLDS, LanguageStage
from stages.registry import builtin
from stages.scripts import text_script
from stages.url_filter import URLFilterStage


def sentences(lang: str) -> list[str]:
    with open(shared_path("langid", "lingua-sentences", f"{lang}.txt"), encoding="utf-8") as f:
        return [line.strip() for line in f.read().split("\n") if line.strip()]


def paragraph(lang: str, start: int = 0, n: int = 4) -> str:
    return " ".join(sentences(lang)[start : start + n])


def doc(text: str, i: int = 0, **meta) -> Document:
    return Document(text=text, id=f"<{i}:{abs(hash(text)) % 10**8}>", metadata={"url": f"https://x.org/{i}", **meta})


def stage(tmp_path, **params) -> LanguageStage:
    params = {**dataclasses.asdict(LanguageStage.Params()), **params}
    return LanguageStage(output=StageOutput(removed_dir=str(tmp_path)), **params)


def run(s, docs, tmp_path):
    kept = list(s.run(iter(docs), rank=0, world_size=1))
    path = tmp_path / s.name / "00000.parquet"
    removed = pq.read_table(path).to_pylist() if path.exists() else []
    return kept, removed


def score_of(text: str, lang: str, tmp_path) -> float:
    """The score the stage, configured with `lang` alone and no threshold, gives the text."""
    kept, _ = run(stage(tmp_path / f"probe-{lang}", languages=[lang], threshold=0.0), [doc(text)],
                  tmp_path / f"probe-{lang}")
    assert kept, f"lid.176 does not find {lang} in {text[:80]!r}"
    return kept[0].metadata["language_score"]


def test_a_threshold_mapping_sets_each_language_apart_and_one_number_sets_all(tmp_path):
    de, fr = paragraph("de"), paragraph("fr")
    s_de, s_fr = score_of(de, "de", tmp_path), score_of(fr, "fr", tmp_path)
    # mapping: German just under its score (kept), French just over its own (dropped as low_score)
    kept, removed = run(stage(tmp_path / "map", languages=["de", "fr"], threshold={"de": s_de - 0.01, "fr": s_fr}),
                        [doc(de, 1), doc(fr, 2)], tmp_path / "map")
    assert [d.metadata["language"] for d in kept] == ["de"]
    assert [(r["reason"], r["detail"]) for r in removed] == [("low_score", "fr")]
    # one number for both: the stricter language's score drops the other too
    one = min(s_de, s_fr)
    kept, removed = run(stage(tmp_path / "one", languages=["de", "fr"], threshold=one), [doc(de, 1), doc(fr, 2)],
                        tmp_path / "one")
    assert len(kept) + len(removed) == 2 and all(r["reason"] == "low_score" for r in removed)
    assert {d.metadata["language"] for d in kept} == {"de", "fr"} - {r["detail"] for r in removed}
    assert len(removed) == 1


def test_the_measured_default_keeps_a_welsh_page_that_englishs_065_drops(tmp_path):
    """The table's threshold for cy (0.40, from bench/language_thresholds.py) is used when `threshold` leaves cy out."""
    lines = sentences("cy")
    candidates = [" ".join(lines[i : i + 3]) for i in range(0, 200, 3)]
    probe = stage(tmp_path / "probe", languages=["cy"], threshold=0.0)
    kept, _ = run(probe, [doc(t, i) for i, t in enumerate(candidates)], tmp_path / "probe")
    middling = [d.text for d in kept if LID176_THRESHOLDS["cy"] < d.metadata["language_score"] <= DEFAULT_THRESHOLD]
    assert middling, "no Welsh paragraph scores between the table's threshold and 0.65"
    text = middling[0]
    kept, _ = run(stage(tmp_path / "table", languages=["cy"]), [doc(text)], tmp_path / "table")
    assert [d.metadata["language"] for d in kept] == ["cy"]
    kept, _ = run(stage(tmp_path / "mapped", languages=["cy"], threshold={"en": 0.9}), [doc(text)], tmp_path / "mapped")
    assert len(kept) == 1  # a mapping without cy leaves cy at its table value
    kept, removed = run(stage(tmp_path / "flat", languages=["cy"], threshold=DEFAULT_THRESHOLD), [doc(text)],
                        tmp_path / "flat")
    assert not kept and removed[0]["reason"] == "low_score"


def test_null_languages_keep_every_language_with_its_own_threshold(tmp_path):
    texts = {lang: paragraph(lang) for lang in ("en", "fr", "ru", "zh", "cy")}
    s_fr = score_of(texts["fr"], "fr", tmp_path)
    docs = [doc(t, i) for i, t in enumerate(texts.values())]
    kept, removed = run(stage(tmp_path / "all", languages=None, threshold={"fr": s_fr}), docs, tmp_path / "all")
    assert sorted(d.metadata["language"] for d in kept) == ["cy", "en", "ru", "zh"]
    assert [(r["reason"], r["detail"], r["language"]) for r in removed] == [("low_score", "fr", "fr")]
    # and with no threshold given, each its table value: all five kept
    kept, _ = run(stage(tmp_path / "table", languages=None), docs, tmp_path / "table")
    assert sorted(d.metadata["language"] for d in kept) == ["cy", "en", "fr", "ru", "zh"]


def test_norwegian_bokmal_is_nb_and_no_means_the_same(tmp_path):
    text = paragraph("nb", 0, 6)
    for configured in (["nb"], ["no"]):
        kept, _ = run(stage(tmp_path / configured[0], languages=configured), [doc(text)], tmp_path / configured[0])
        assert [d.metadata["language"] for d in kept] == ["nb"]
    # a threshold given for `no` is nb's
    kept, removed = run(stage(tmp_path / "strict", languages=["nb"], threshold={"no": 0.999}), [doc(text)],
                        tmp_path / "strict")
    assert not kept and removed[0]["reason"] == "low_score" and removed[0]["language"] == "nb"
    # Nynorsk stays apart: not kept for nb
    kept, removed = run(stage(tmp_path / "nn", languages=["nb"]), [doc(paragraph("nn", 0, 6))], tmp_path / "nn")
    assert not kept and removed[0]["detail"] == "nn"


def test_bosnian_croatian_serbian_are_scored_as_one_group(tmp_path):
    bosnian = [" ".join(sentences("bs")[i : i + 4]) for i in range(0, 40, 4)]
    # lid.176 almost never says bs: a configured bs keeps these pages all the same, labelled bs
    kept, removed = run(stage(tmp_path / "bs", languages=["bs"]), [doc(t, i) for i, t in enumerate(bosnian)],
                        tmp_path / "bs")
    assert len(kept) >= 9 and {d.metadata["language"] for d in kept} == {"bs"}, removed
    # configured with hr alone, the same pages are hr; with hr and sr, each goes to the member lid.176 prefers
    kept, _ = run(stage(tmp_path / "hr", languages=["hr"]), [doc(t, i) for i, t in enumerate(bosnian)], tmp_path / "hr")
    assert len(kept) >= 9 and {d.metadata["language"] for d in kept} == {"hr"}
    croatian = paragraph("hr", 0, 4)
    kept, _ = run(stage(tmp_path / "hrsr", languages=["sr", "hr"]), [doc(croatian)], tmp_path / "hrsr")
    assert [d.metadata["language"] for d in kept] == ["hr"]
    # Slovenian is not in the group: not kept for hr
    kept, removed = run(stage(tmp_path / "sl", languages=["hr"]), [doc(paragraph("sl", 0, 6))], tmp_path / "sl")
    assert not kept and removed[0]["reason"] == "wrong_language" and removed[0]["detail"] == "sl"


def test_malay_is_kept_for_ms_although_lid176_calls_it_indonesian(tmp_path):
    malay = [" ".join(sentences("ms")[i : i + 4]) for i in range(0, 40, 4)]
    kept, _ = run(stage(tmp_path / "ms", languages=["ms"]), [doc(t, i) for i, t in enumerate(malay)], tmp_path / "ms")
    assert len(kept) >= 9 and {d.metadata["language"] for d in kept} == {"ms"}
    kept, _ = run(stage(tmp_path / "en", languages=["en"]), [doc(t, i) for i, t in enumerate(malay)], tmp_path / "en")
    assert not kept


EXPECTED_SCRIPTS = {"en": "Latn", "ru": "Cyrl", "el": "Grek", "ar": "Arab", "hi": "Deva", "zh": "Hani", "ja": "Jpan",
                    "ko": "Hang", "th": "Thai", "he": "Hebr", "ka": "Geor", "ta": "Taml", "hy": "Armn"}


def test_script_of_real_sentences_in_many_scripts(tmp_path):
    for lang, script in EXPECTED_SCRIPTS.items():
        lines = sentences(lang)[:50]
        share = sum(text_script(s) == script for s in lines) / len(lines)
        assert share >= 0.94, (lang, share)
        assert text_script(" ".join(lines)) == script
    assert text_script("") == "Zyyy" and text_script("12:30 -- 45 %") == "Zyyy"
    assert text_script("ⵜⴰⵎⴰⵣⵉⵖⵜ") == "Zzzz"  # Tifinagh: letters of a script the table leaves out
    # the stage stores it on every document, kept or dropped, and documents/ has the column
    kept, removed = run(stage(tmp_path, languages=["ja"]), [doc(paragraph("ja"), 1), doc(paragraph("ru"), 2)], tmp_path)
    assert [d.metadata["script"] for d in kept] == ["Jpan"]
    assert ("script", "string") in [(n, str(t)) for n, t in builtin().document_fields()]
    assert "script" in document_schema(builtin().document_fields()).names


def lang_totals(stats: dict, key: str) -> int:
    return sum(v for k, v in stats.items() if k.startswith("lang/") and k.split("/", 2)[2] == key)


def stat_dict(s) -> dict:
    return {k: v.total for k, v in s.stats.stats.items()}


def test_per_language_stat_keys_sum_to_the_stage_totals(tmp_path):
    docs = [doc(paragraph(lang, i * 5), 10 * j + i) for j, lang in enumerate(("en", "de", "fr", "cy", "bs", "ms"))
            for i in range(3)] + [doc("12 34 56", 99), doc(None, 100)]
    lang = stage(tmp_path / "lang", languages=["en", "de", "bs"])
    kept = list(lang.run(iter(docs), rank=0, world_size=1))
    stats = stat_dict(lang)
    assert stats["in"] == len(docs) == lang_totals(stats, "in")
    assert stats["kept"] == len(kept) == lang_totals(stats, "kept")
    assert stats["kept_bytes"] == lang_totals(stats, "kept_bytes")
    for reason in ("wrong_language", "low_score", "error"):
        assert stats.get(f"dropped/{reason}", 0) == lang_totals(stats, f"dropped/{reason}"), reason
    assert stats["lang/bs/kept"] == 3 and stats["lang/fr/dropped/wrong_language"] == 3
    assert stats["lang/und/dropped/error"] == 1  # the document the stage failed on (text None)
    # a later stage counts under the language the language stage gave
    gopher = GopherQualityStage(**dataclasses.asdict(GopherQualityStage.Params()),
                                output=StageOutput(removed_dir=str(tmp_path / "later")))
    after = list(gopher.run(iter(kept + [doc("Too short to keep.", 200, language="de")]), rank=0, world_size=1))
    stats = stat_dict(gopher)
    for key in ("in", "kept", "kept_bytes") + tuple(k for k in stats if k.startswith("dropped/")):
        assert stats.get(key, 0) == lang_totals(stats, key), key
    assert stats["lang/de/in"] == 4 and len(after) == stats["kept"]
    # a stage before the language stage sees no language: no per-language keys
    url = URLFilterStage(**dataclasses.asdict(URLFilterStage.Params()))
    list(url.run(iter([doc("text", 1)]), rank=0, world_size=1))
    assert not [k for k in stat_dict(url) if k.startswith("lang/")]


def test_removed_rows_carry_the_language_from_the_language_stage_on(tmp_path):
    assert "language" in REMOVED_SCHEMA.names
    _, removed = run(stage(tmp_path, languages=["de"]), [doc(paragraph("fr"), 1), doc(paragraph("nb"), 2)], tmp_path)
    assert sorted(r["language"] for r in removed) == ["fr", "nb"]
    gopher = GopherQualityStage(**dataclasses.asdict(GopherQualityStage.Params()),
                                output=StageOutput(removed_dir=str(tmp_path)))
    list(gopher.run(iter([doc("Zu kurz.", 3, language="de")]), rank=0, world_size=1))
    assert pq.read_table(tmp_path / gopher.name / "00000.parquet").to_pylist()[0]["language"] == "de"
    url = URLFilterStage(**dataclasses.asdict(URLFilterStage.Params()), output=StageOutput(removed_dir=str(tmp_path)))
    list(url.run(iter([doc("text", 4, url="https://pornhub.com/x")]), rank=0, world_size=1))
    rows = pq.read_table(tmp_path / url.name / "00000.parquet").to_pylist()
    assert rows and rows[0]["language"] is None


def test_config_refuses_languages_lid176_cannot_answer_and_bad_thresholds(tmp_path):
    import yaml

    def load(language):
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump({"stages": {"read": {}, "language": language}}))
        return load_config(str(path))

    load({"languages": ["no", "hr"], "threshold": {"no": 0.5, "hr": 0.6}})
    load({"languages": None, "threshold": 0.3})
    with pytest.raises(ConfigError, match=r"stages\.language\.languages.*'zu'"):
        load({"languages": ["en", "zu"]})
    with pytest.raises(ConfigError, match=r"stages\.language\.threshold.*fr: must be a number between 0 and 1"):
        load({"threshold": {"fr": 1.5}})
    with pytest.raises(ConfigError, match=r"stages\.language\.threshold.*'ger': lid.176 has no such language"):
        load({"threshold": {"ger": 0.5}})
    with pytest.raises(ConfigError, match=r"stages\.language\.threshold"):
        load({"threshold": 2})


def test_a_run_counts_per_language_as_its_funnel(tmp_path):
    """A real run (the tiny config on the bundled sample): for every stage from language on, the lang/ keys of the
    task stats sum to the stage's funnel row, and removed/ rows from there on carry a language."""
    out = str(tmp_path / "run")
    refinery("run", tiny_config(tmp_path, language={"languages": None}), "--output", out)
    funnel = {s["name"]: s for s in json.loads(refinery("stats", out, "--json").stdout)["stages"]}
    per_stage: dict[str, dict] = {}
    logs = os.path.join(out, "logs")
    for folder, _, names in os.walk(logs):
        for name in names:
            if folder.endswith("stats") and name.endswith(".json"):
                for entry in json.load(open(os.path.join(folder, name))):
                    stage_name = entry["name"].removeprefix("refinery: ")
                    acc = per_stage.setdefault(stage_name, {})
                    for k, v in entry["stats"].items():
                        acc[k] = acc.get(k, 0) + (v["total"] if isinstance(v, dict) else v)
    for name in ("language", "gopher_quality", "minhash_dedup", "pii"):
        stats, row = per_stage[name], funnel[name]
        assert lang_totals(stats, "in") == row["in"] and lang_totals(stats, "kept") == row["kept"], name
        assert lang_totals(stats, "kept_bytes") == row["kept_bytes"], name
        for reason, n in row["dropped"].items():
            assert lang_totals(stats, f"dropped/{reason}") == n, (name, reason)
    assert len({k.split("/")[1] for k in per_stage["language"] if k.startswith("lang/")}) >= 2
    removed = os.path.join(out, "removed", "gopher_quality")
    rows = [r for f in sorted(os.listdir(removed)) for r in pq.read_table(os.path.join(removed, f)).to_pylist()]
    assert rows and all(r["language"] for r in rows)
    docs = pq.read_table(os.path.join(out, "documents")).to_pylist()
    assert docs and all(d["script"] for d in docs)
    # the what-if of a threshold set per language: a curve, with no one configured value to mark
    curve = refinery("stats", out, "--what-if", "language.threshold").stdout
    assert "language.threshold" in curve and "the median (no threshold configured)" in curve


def test_the_extract_fallback_check_scores_languages_as_the_stage_does():
    """extract's fallback_min_language_score asks how much a kept language scores on a page: a Norwegian page for a
    run keeping nb (lid.176 says `no`), a Bosnian one for bs (lid.176 says hr), score as the language stage scores
    them, not 0."""
    from stages.extract import ExtractStage

    for lang, text in (("nb", paragraph("nb", 0, 6)), ("bs", paragraph("bs", 0, 6)), ("no", paragraph("nb", 0, 6))):
        stage = ExtractStage(**{**dataclasses.asdict(ExtractStage.Params()), "engine": "resiliparse",
                                "fallback_chars": 500, "fallback_min_language_score": 0.01},
                             fallback_languages=[lang])
        assert stage.extract._wanted_score(text) > 0.5, lang
