"""trafilatura, faster, with the same output: refinery's extract stage runs this once in each task process before it
extracts (configs/fineweb.yaml's whole extraction, fast.yaml's trafilatura fallback). Nothing here changes what
trafilatura extracts; tests/test_trafilatura_speed.py checks that on every real page in ../shared/data, for every
expression touched and for extract() as FineWeb and as fast.yaml call it.

Where trafilatura's time went (cProfile, FineWeb's settings, the 480 distinct real pages of bench/scaled_warcs.py):
~40% in its module-level XPath expressions, most of it in the EXSLT `re:test(@class, '...')` calls, which lxml
answers with a Python callback per element tested, and ~10% in lxml.html's element class lookup, a Python method
called for every element proxy lxml makes (the callbacks' own arguments among them). Four changes:

- `re:test(@a, 'P')` (or `@a|@b`, with or without flags) becomes `((@a) and re:test(@a, 'P'))` when P cannot match
  the empty string: an element without the attribute is answered by libxml2 itself instead of by a callback given
  "" (lxml hands an empty node-set to the callback as ""), with the same truth value.
- Those expressions are compiled with smart_strings=False, so the callback's attribute values come as plain strings
  instead of strings that carry (and make) a proxy of their element. They select elements (checked when patched:
  an expression that could return strings keeps smart strings), whose results smart_strings does not touch.
- `[@*]` goes before each predicate that no element without attributes can satisfy (an `or` of attribute tests of a
  few shapes: `@a='x'`, `contains(@a, 'x')`, the guarded re:test above, ...): libxml2 skips such elements before
  evaluating the predicate, and the step selects the same elements in the same order.
- trafilatura's HTML parser gets the C-level class lookup that maps every element name, comment, processing
  instruction and entity to the class lxml.html's Python lookup maps it to (the HTML parser gives lower-case element
  names, which lxml.html lower-cases again before its look-up).

bench/extraction_quality.py measures it (rows refinery and trafilatura-fineweb: the same call, with and without this
module)."""

import contextlib
import itertools
import re
import sys

REGEXP_NS = "http://exslt.org/regular-expressions"
# re:test(@attr[|@attr...], 'pattern'[, 'flags']) (XPath literals in single quotes cannot contain a quote), or a string
# literal, which is left as it is (a literal's text is no call)
_RE_TEST_OR_LITERAL = re.compile(
    r"(?<![\w:.-])re:test\((?P<attrs>@[\w-]+(?:\s*\|\s*@[\w-]+)*)\s*,\s*'(?P<pattern>[^']*)'"
    r"(?:\s*,\s*'(?P<flags>[^']*)')?\)"
    r"|'[^']*'|\"[^\"]*\"")
# what an expression may hold outside its predicates to select elements only: names, *, /, //, ., |, axes
_ELEMENT_STEPS = re.compile(r"[\s\w./|*:-]*")
_NON_ELEMENT_AXES = ("attribute::", "namespace::")

_patches: list[tuple] = []  # (owner, key, original, replacement); key "lookup": the parser's class lookup
_applied = False


def guard_regex_tests(path: str) -> str:
    """The expression with each re:test on attributes that cannot match "" behind a test that the attribute
    exists (libxml2's `and` does not evaluate its right side when the left is false)."""
    def guarded(m: re.Match) -> str:
        if m.group("attrs") is None:  # a string literal
            return m.group(0)
        attrs, pattern, flags = m.group("attrs"), m.group("pattern"), m.group("flags") or ""
        try:
            matches_empty = re.search(pattern, "", re.IGNORECASE if "i" in flags else 0) is not None
        except re.error:
            return m.group(0)  # left to lxml, which raises its own error as before
        return m.group(0) if matches_empty else f"(({attrs}) and {m.group(0)})"
    return _RE_TEST_OR_LITERAL.sub(guarded, path)


def selects_only_elements(path: str) -> bool:
    """Whether the expression's result is made of elements only: outside its predicates nothing but element steps
    (no text(), node(), function, attribute or namespace step), so smart_strings cannot change it. When unsure: no."""
    outside = "".join(c for _, c, depth in _outside_literals(path) if depth == 0 and c not in "[]")
    return _ELEMENT_STEPS.fullmatch(outside) is not None and not any(axis in outside for axis in _NON_ELEMENT_AXES)


# terms of an `or` that are false for an element without attributes (guard_regex_tests' output among them)
_ATTRS = r"@[\w-]+(?:\s*\|\s*@[\w-]+)*"
_LITERAL = r"(?:'[^']*'|\"[^\"]*\")"
_TERMS_FALSE_WITHOUT_ATTRIBUTES = [re.compile(p, re.S) for p in (
    _ATTRS,  # @a, @a|@b: exists
    rf"@[\w-]+\s*=\s*{_LITERAL}",  # @a='x': an empty node-set equals nothing
    rf"(?:contains|starts-with)\(\s*(?:{_ATTRS}|translate\(\s*@[\w-]+\s*,\s*{_LITERAL}\s*,\s*{_LITERAL}\s*\))\s*,"
    r"\s*(?:'[^']+'|\"[^\"]+\")\s*\)",  # contains(@a, 'x'), x not empty: "" holds no x
    rf"\(\({_ATTRS}\) and re:test\({_ATTRS}\s*,\s*'[^']*'(?:\s*,\s*'[^']*')?\)\)",  # ((@a) and re:test(@a, ...))
)]


def _outside_literals(expr: str):
    """(index, character, bracket depth) of each character of expr outside its string literals; stops at an
    unterminated literal."""
    depth, i = 0, 0
    while i < len(expr):
        c = expr[i]
        if c in "'\"":
            end = expr.find(c, i + 1)
            if end < 0:
                return
            i = end + 1
            continue
        if c in ")]":
            depth -= 1
        yield i, c, depth
        if c in "([":
            depth += 1
        i += 1


def _or_terms(predicate: str) -> list[str]:
    """The predicate split on its top-level `or`s."""
    terms, start = [], 0
    for i, c, depth in _outside_literals(predicate):
        if (depth == 0 and predicate.startswith("or", i) and 0 < i < len(predicate) - 2
                and predicate[i - 1].isspace() and predicate[i + 2].isspace()):
            terms.append(predicate[start:i])
            start = i + 2
    terms.append(predicate[start:])
    return [t.strip() for t in terms]


def false_without_attributes(predicate: str) -> bool:
    """Whether no element without attributes can satisfy the predicate: an `or` of terms that each read an
    attribute in one of a few shapes (anything else: no)."""
    return all(any(shape.fullmatch(term) for shape in _TERMS_FALSE_WITHOUT_ATTRIBUTES) for term in _or_terms(predicate))


def prefilter_attributeless(path: str) -> str:
    """The expression with `[@*]` (libxml2 answers it without evaluating anything) before each top-level predicate
    that no element without attributes can satisfy: the step then selects the same elements in the same order, so
    later predicates, positional ones included, see what they saw. Not before a bare attribute test (as cheap)."""
    out, last, opened = [], 0, None
    for i, c, depth in _outside_literals(path):
        if c == "[" and depth == 0:
            opened = i
        elif c == "]" and depth == 0 and opened is not None:
            inner = path[opened + 1:i]
            if (false_without_attributes(inner) and not re.fullmatch(_ATTRS, inner.strip())
                    and not path[:opened].rstrip().endswith("[@*]")):
                out += [path[last:opened], "[@*]"]
                last = opened
            opened = None
    out.append(path[last:])
    return "".join(out)


def _faster(xpath):
    """A faster XPath for one of trafilatura's, or None when this module leaves it as it is."""
    from lxml.etree import XPath

    path = prefilter_attributeless(guard_regex_tests(xpath.path))
    if path == xpath.path:
        return None
    return XPath(path, namespaces={"re": REGEXP_NS}, smart_strings=not selects_only_elements(xpath.path))


def html_class_lookup():
    """lxml.html's element class lookup (HtmlElementClassLookup: a Python method per element proxy) as lxml's
    C-level lookups: the same class for every element name, comment, processing instruction and entity. One
    difference, which nothing trafilatura does reaches: lxml.html ignores an element's namespace, so code that creates
    `{some namespace}form` in an HTML document gets a FormElement from it and an HtmlElement here (the HTML parser
    itself puts no element in a namespace)."""
    from lxml import etree
    from lxml.html import (HtmlComment, HtmlElement, HtmlElementClassLookup, HtmlEntity,
                           HtmlProcessingInstruction)

    fallback = etree.ElementDefaultClassLookup(element=HtmlElement, comment=HtmlComment,
                                               pi=HtmlProcessingInstruction, entity=HtmlEntity)
    lookup = etree.ElementNamespaceClassLookup(fallback)
    by_name = lookup.get_namespace(None)
    for name, cls in HtmlElementClassLookup._default_element_classes.items():
        # lxml.html lower-cases a name before its look-up: every spelling of these few names (form, input, label,
        # select, textarea: ~400) maps to their class, for elements code creates with an upper-case name
        for spelling in itertools.product(*((c.lower(), c.upper()) for c in name)):
            by_name["".join(spelling)] = cls
    return lookup


def _trafilatura_modules() -> list:
    return [m for name, m in sorted(sys.modules.items())
            if m is not None and (name == "trafilatura" or name.startswith("trafilatura."))]


def _build_patches() -> None:
    import trafilatura  # noqa: F401 - imports the modules whose expressions are replaced
    import trafilatura.utils
    from lxml.etree import XPath
    from lxml.html import HtmlElementClassLookup

    replaced: dict[int, object] = {}  # id(original XPath) -> its replacement, the same object everywhere
    for module in _trafilatura_modules():
        for name, value in list(vars(module).items()):
            if isinstance(value, XPath):
                if id(value) not in replaced:
                    replaced[id(value)] = _faster(value)
                if replaced[id(value)] is not None:
                    _patches.append((module, name, value, replaced[id(value)]))
            elif isinstance(value, list) and value and all(isinstance(x, XPath) for x in value):
                # the lists are imported by name into other modules: replaced in place, seen by all of them
                if any(owner is value for owner, *_ in _patches):
                    continue
                for i, x in enumerate(value):
                    if id(x) not in replaced:
                        replaced[id(x)] = _faster(x)
                    if replaced[id(x)] is not None:
                        _patches.append((value, i, x, replaced[id(x)]))
    _patches.append((trafilatura.utils.HTML_PARSER, "lookup", HtmlElementClassLookup(), html_class_lookup()))


def _set(use_replacement: bool) -> None:
    global _applied
    for owner, key, original, replacement in _patches:
        value = replacement if use_replacement else original
        if key == "lookup":
            owner.set_element_class_lookup(value)
        elif isinstance(owner, list):
            owner[key] = value
        else:
            setattr(owner, key, value)
    _applied = use_replacement


def speed_up_trafilatura() -> bool:
    """Applies the four changes in this process (the expressions are compiled on the first call only). False, with
    trafilatura left as installed, when they cannot be prepared (a trafilatura or lxml whose internals moved): a
    speed-up, not a reason to stop a run."""
    if not _patches:
        try:
            _build_patches()
        except Exception:  # noqa: BLE001 - see the docstring
            _patches.clear()
            return False
    if not _applied:
        _set(True)
    return True


def restore_trafilatura() -> None:
    """Undoes speed_up_trafilatura: trafilatura as installed (for the parity tests and the extraction benchmark,
    which compare both in one process)."""
    if _applied:
        _set(False)


@contextlib.contextmanager
def trafilatura_as_installed():
    """trafilatura without this module's changes inside the block, as it was after it."""
    was = _applied
    restore_trafilatura()
    try:
        yield
    finally:
        if was:
            speed_up_trafilatura()
        else:
            restore_trafilatura()
