"""The writing system of a text: its ISO 15924 script code (Latn, Cyrl, Grek, Arab, Deva, Hani, Jpan, Hang, Thai ...),
from the Unicode blocks of its characters.

Cheap and bounded: only the first SCRIPT_SAMPLE_CHARS characters are read; their code points (one UTF-32 encode) are
placed in the blocks below by one numpy searchsorted, and the script with the most characters wins. Inside a script's
blocks every character counts (a Devanagari danda or an Arabic comma too); ASCII counts by its letters only, so digits,
punctuation and markup of any page are left out. Two rules on top of the blocks:
- Japanese mixes Han with kana: a text whose Han/kana characters include more than KANA_SHARE kana is `Jpan` (plain
  Chinese has next to none), else `Hani`; kana alone is `Jpan` too.
- Korean is `Hang` even where it quotes Han characters (ISO 15924's `Kore` is not used).
A text with no character of these blocks is `Zzzz` (unknown) when it has letters (a script not listed here), else
`Zyyy` (undetermined/common: empty, digits, punctuation, emoji).
"""

import numpy as np

SCRIPT_SAMPLE_CHARS = 4000
KANA_SHARE = 0.05
UNDETERMINED = "Zyyy"
UNKNOWN = "Zzzz"

_BLOCKS = (
    (0x0041, 0x005A, "Latn"), (0x0061, 0x007A, "Latn"), (0x00C0, 0x024F, "Latn"), (0x0250, 0x02AF, "Latn"),
    (0x1D00, 0x1DBF, "Latn"), (0x1E00, 0x1EFF, "Latn"), (0x2C60, 0x2C7F, "Latn"), (0xA720, 0xA7FF, "Latn"),
    (0xAB30, 0xAB6F, "Latn"), (0xFF21, 0xFF3A, "Latn"), (0xFF41, 0xFF5A, "Latn"),
    (0x0370, 0x03FF, "Grek"), (0x1F00, 0x1FFF, "Grek"),
    (0x0400, 0x052F, "Cyrl"), (0x1C80, 0x1C8F, "Cyrl"), (0x2DE0, 0x2DFF, "Cyrl"), (0xA640, 0xA69F, "Cyrl"),
    (0x0530, 0x058F, "Armn"), (0x0590, 0x05FF, "Hebr"), (0xFB1D, 0xFB4F, "Hebr"),
    (0x0600, 0x06FF, "Arab"), (0x0750, 0x077F, "Arab"), (0x08A0, 0x08FF, "Arab"), (0xFB50, 0xFDFF, "Arab"),
    (0xFE70, 0xFEFF, "Arab"), (0x0700, 0x074F, "Syrc"), (0x0780, 0x07BF, "Thaa"),
    (0x0900, 0x097F, "Deva"), (0xA8E0, 0xA8FF, "Deva"), (0x0980, 0x09FF, "Beng"), (0x0A00, 0x0A7F, "Guru"),
    (0x0A80, 0x0AFF, "Gujr"), (0x0B00, 0x0B7F, "Orya"), (0x0B80, 0x0BFF, "Taml"), (0x0C00, 0x0C7F, "Telu"),
    (0x0C80, 0x0CFF, "Knda"), (0x0D00, 0x0D7F, "Mlym"), (0x0D80, 0x0DFF, "Sinh"),
    (0x0E00, 0x0E7F, "Thai"), (0x0E80, 0x0EFF, "Laoo"), (0x0F00, 0x0FFF, "Tibt"), (0x1000, 0x109F, "Mymr"),
    (0x10A0, 0x10FF, "Geor"), (0x1C90, 0x1CBF, "Geor"), (0x2D00, 0x2D2F, "Geor"),
    (0x1100, 0x11FF, "Hang"), (0x3130, 0x318F, "Hang"), (0xA960, 0xA97F, "Hang"), (0xAC00, 0xD7AF, "Hang"),
    (0xD7B0, 0xD7FF, "Hang"), (0xFFA0, 0xFFDC, "Hang"),
    (0x1200, 0x139F, "Ethi"), (0x2D80, 0x2DDF, "Ethi"), (0x13A0, 0x13FF, "Cher"), (0x1780, 0x17FF, "Khmr"),
    (0x1800, 0x18AF, "Mong"),
    (0x3040, 0x309F, "Hira"), (0x30A0, 0x30FF, "Kana"), (0x31F0, 0x31FF, "Kana"), (0xFF66, 0xFF9D, "Kana"),
    (0x2E80, 0x2FDF, "Hani"), (0x3005, 0x3007, "Hani"), (0x3021, 0x3029, "Hani"), (0x3038, 0x303B, "Hani"),
    (0x3400, 0x4DBF, "Hani"), (0x4E00, 0x9FFF, "Hani"), (0xF900, 0xFAFF, "Hani"), (0x20000, 0x3134F, "Hani"),
)
_ORDERED = sorted(_BLOCKS)
assert all(a[1] < b[0] for a, b in zip(_ORDERED, _ORDERED[1:])), "script blocks overlap"
_SCRIPTS = tuple(sorted({s for _, _, s in _BLOCKS}))
_FIRST = np.array([b[0] for b in _ORDERED], dtype=np.int64)
_LAST = np.array([b[1] for b in _ORDERED], dtype=np.int64)
_SCRIPT_OF_BLOCK = np.array([_SCRIPTS.index(b[2]) for b in _ORDERED], dtype=np.int64)


def script_counts(text: str) -> dict[str, int]:
    """Characters per script in the first SCRIPT_SAMPLE_CHARS characters ({"Latn": 812, "Cyrl": 3, ...})."""
    sample = (text or "")[:SCRIPT_SAMPLE_CHARS]
    if not sample:
        return {}
    points = np.frombuffer(sample.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
    block = np.searchsorted(_FIRST, points, side="right") - 1
    inside = (block >= 0) & (points <= _LAST[np.maximum(block, 0)])
    counts = np.bincount(_SCRIPT_OF_BLOCK[block[inside]], minlength=len(_SCRIPTS))
    return {_SCRIPTS[i]: int(counts[i]) for i in np.flatnonzero(counts)}


def text_script(text: str) -> str:
    """The ISO 15924 code of the script most of the text's characters are written in (see the module docstring)."""
    counts = script_counts(text)
    kana = counts.pop("Hira", 0) + counts.pop("Kana", 0)
    if kana:
        han = counts.pop("Hani", 0)
        counts["Jpan" if kana > KANA_SHARE * (kana + han) else "Hani"] = kana + han
    if not counts:
        return UNKNOWN if any(ch.isalpha() for ch in (text or "")[:SCRIPT_SAMPLE_CHARS]) else UNDETERMINED
    return max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0]
