"""Stage `pii`: replaces e-mail addresses, public IP addresses (FineWeb), phone numbers, payment card numbers and
US social security numbers with placeholder tokens, counting replacements by type (`replaced/<type>` stats,
`pii_<type>` metadata). It rewrites text and drops nothing. Each type has its switch: emails, ips, phones,
cards, ssns.

- E-mails: name@domain.tld, and the obfuscated forms "name [at] domain [dot] com", "name(at)domain.com",
  "name{at}domain{dot}com", "name AT domain DOT com". The bare form "name at domain dot com" reads like prose
  ("shop at amazon dot com"), so it is replaced only when the text itself says an address comes: an e-mail
  word ("mail", "contact", "write", "send", "reach") shortly before it, an opening ':' '(' '<' right before it,
  or an obviously made-up local part ("j.smith", "info2"); and never when the name or domain is a function word
  ("us at home dot com") or the last label is not a common top-level domain.
- IPs: public IPv4 and IPv6 addresses; private, reserved, documentation and multicast ones are left alone.
- Phones: international ("+CC ...", "+CCNNNNNNNN"), North American, and the national forms of the UK,
  Australia, Japan, Brazil, France (01 23 45 67 89), Germany (030 1234567), the Netherlands (06-12345678),
  Spain (91 123 45 67) and India (98765 43210). National forms were left alone before, as hard to tell from
  lottery draws and reference numbers; each form's exact shape (trunk prefix, group sizes, digit count) and a
  guard against neighbouring digit groups ("1800 245 310 1100" is a table row, not a number) keep them apart
  on the labelled set. Still left alone: a bare "555 123 4567", which reads the same as three numbers in a row.
- Cards: 13 to 19 digits, unbroken or grouped 4-4-4-4(-3) / 4-6-5 / 4-6-4 with spaces or dashes, that pass the
  Luhn check and start with a card network's prefix at a length that network issues (Visa 4, 13/16/19 digits;
  Amex 34/37, 15 ...): ISBN-13s (978/979...) and the one-in-ten random numbers that pass Luhn by chance
  mostly do not.
- SSNs: 123-45-6789 without the numbers the SSA never issues (area 000, 666 or 900-999, group 00, serial 0000).

Look-alikes are left alone: version strings ("v1.2.3.4", "version 2.0.1.7"), dates, times, prices, ISBNs,
order and tracking numbers, image names ("logo@2x.png"), "at" in prose. `python bench/pii_quality.py` measures
precision and recall on a labelled set. What no pattern can tell apart without reading the page: a zero-padded
lottery draw "07 12 23 34 45" (a French number's shape), an account or product number written exactly like a
national phone number ("0800-123456"), a 16-digit reference that happens to pass the Luhn check with a card prefix.

Why not presidio-analyzer: its default engine loads a spaCy model that is not installed here and would be
downloaded at run time; its card, SSN, e-mail and phone recognizers are regular expressions of the same kind
(phones through the `phonenumbers` library, over a fixed list of countries), run one by one with
no guard on their time; and it would add a heavy dependency to every curation worker for checks that are a few
lines here (Luhn, the SSA's ranges).

Every pattern runs in time linear in the text (tests/test_linear_time.py): from any position it looks at a
bounded number of characters, and patterns that could read a long run of their characters (an e-mail's local
part) only start where such a run starts. datatrove's e-mail pattern, used before, rescanned the rest of a
run of local-part characters from every position in it: quadratic, about 5 s on 16 KB of "a-" and an "@".
"""

import ipaddress
import re
from dataclasses import dataclass
import string
from urllib.parse import quote, unquote, unquote_plus, urlsplit, urlunsplit

from datatrove.data import Document

from stages.base import Drop, RefineryStage
from stages.registry import key

_LOCAL = "A-Za-z0-9_%+-"  # the local-part characters people use (RFC 5322 allows more: "'", "/", "=" ... )
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# starts only where a run of local-part characters starts and looks ahead at most 64 of them (the RFC's limit);
# not glued to more domain ("a@b.com.x1" is not an address ending in .com)
EMAIL_RE = re.compile(
    rf"(?<![{_LOCAL}])(?=[.{_LOCAL}]{{1,64}}@)[{_LOCAL}]+(?:\.[{_LOCAL}]+)*"
    rf"@(?:{_LABEL}\.){{1,10}}(?P<tld>[A-Za-z]{{2,24}}|xn--[A-Za-z0-9-]{{1,59}})(?![A-Za-z0-9_-]|\.[A-Za-z0-9])"
)

# obfuscated e-mails: [at] (at) {at} <at> [@], [dot] (dot) {dot}; bare "at"/"dot" words need the checks below
_AT_BRACKET = r"[ \t]{0,3}[\[({<][ \t]{0,2}(?:[Aa][Tt]|@)[ \t]{0,2}[\])}>][ \t]{0,3}"
_AT_WORD = r"[ \t]{1,3}(?:at|AT|At)[ \t]{1,3}"
_DOT_BRACKET = r"[ \t]{0,3}[\[({<][ \t]{0,2}(?:[Dd][Oo][Tt]|\.)[ \t]{0,2}[\])}>][ \t]{0,3}"
_DOT_WORD = r"[ \t]{1,3}(?:dot|DOT|Dot)[ \t]{1,3}"
_DOMAIN_SEP = re.compile(rf"{_DOT_BRACKET}|{_DOT_WORD}|\.")
OBFUSCATED_EMAIL_RE = re.compile(
    rf"(?<![.@{_LOCAL}])(?P<local>[{_LOCAL}]{{1,64}}(?:(?:\.|{_DOT_BRACKET})[{_LOCAL}]{{1,64}}){{0,3}})"
    rf"(?:(?P<at_bracket>{_AT_BRACKET})|(?P<at_word>{_AT_WORD}))"
    rf"(?P<domain>{_LABEL}(?:(?:{_DOT_BRACKET}|{_DOT_WORD}|\.){_LABEL}){{1,6}})"
    r"(?![A-Za-z0-9_-]|\.[A-Za-z0-9])"
)
# the bare "name at domain dot com" form: a cue that an address follows ...
_EMAIL_CUE = re.compile(r"(?i)(?:mail|contact|write|send|reach)[^\n]{0,40}$|[:(<\[][ \t]*$")
# ... and top-level domains common enough that "X at Y dot Z" with another Z is prose, not an address
_COMMON_TLDS = frozenset(
    "com org net edu gov mil int info biz io co me tv app dev ai eu uk de fr nl es it ch at be se no dk fi pl pt "
    "ie cz ru ua in jp cn kr tw hk sg au nz ca us mx br ar cl za".split()
)
# words that make "X at Y dot Z" a sentence: "look at this dot", "us at home dot com", "the dot com era"
_PROSE_WORDS = frozenset(
    "a an the this that these those my your our their his her its me us you him them it we they i he she who "
    "what which where when how here there home work school least most all any some one no not is are was were be "
    "been look looked looking arrive arrived stay stayed meet met live lived available sold shop buy bought "
    "find found see seen visit visited go went online".split()
)

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# not glued to other digits, dots or letters: "1.2.3.4.5", "v1.2.3.4" and "10.0.0.1a" are not addresses
IPV4_RE = re.compile(rf"(?=\d)(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\.?\d)(?![\w])")
# candidates with two or more colons; ipaddress decides (times like 12:30:45 are not addresses)
IPV6_RE = re.compile(r"(?<![\w:.])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{3,39}(?![\w:])")
# a whole word: "server 93.184.216.34" is an address ("ver" ends "server")
_VERSION_BEFORE = re.compile(r"(?i)\b(?:version|ver\.?|release|build|rev\.?|firmware|v)\s*$")
# image names written like addresses ("logo@2x.png"): no top-level domain is an image extension
_NOT_A_TLD = frozenset("png jpg jpeg gif svg webp bmp ico tif tiff avif heic".split())
PHONE_RE = re.compile(
    r"(?=[+(\d])(?<![\w+])(?:"  # the lookahead first: a quick exit for positions that cannot start a number
    # international: +CC then 2 to 5 groups, optional (0) and area code in parentheses
    r"\+\d{1,3}(?:[ .-]?\(0\))?(?:[ .-]?\(?\d{1,4}\)?)(?:[ .-]\d{2,8}){1,4}"
    # international without separators (E.164): +14155552671
    r"|\+[1-9]\d{7,14}"
    # North American (area codes start with 2-9), optional leading 1: (555) 123-4567, 555-123-4567,
    # 555.123.4567, 1-800-555-0199 (not "555 123 4567": three numbers in a table row read the same)
    r"|(?:1[ .-])?(?:\([2-9]\d{2}\)\s?|[2-9]\d{2}[.-])\d{3}[.-]\d{4}"
    # national forms with spaces, not inside a longer run of numbers ("1800 245 310 1100" is a table row;
    # "18001 0800 107 2149" is the UK text relay prefix, then a number):
    # trunk 0 and 10 or 11 digits (UK, Australia ...): 020 7946 0958, 0161 496 0000, 0203 031 9331,
    # 0800 0277 347, 01632 960123, 07700 900123, 0412 345 678 (the count is checked in _is_phone);
    # Australia (02) 9876 5432, 02 9876 5432, 1300 123 456
    r"|(?:(?<=18001 )|(?<!\d ))(?:"
    r"(?P<trunk>0\d{2,4} \d{3,4} \d{3,4}|0\d{4} \d{5,6})"
    r"|\(0[2378]\) ?\d{4} ?\d{4}|0[2378] \d{4} \d{4}|1[38]00 \d{3} \d{3}"
    r")(?! \d)"
    # more national forms, neither inside a run of numbers nor continuing one ("12-06-12345678", "0612.345"):
    r"|(?<![./-])(?<!\d )(?:"
    # France, pairs after a trunk 0, one separator throughout: 01 23 45 67 89, 06.12.34.56.78
    r"0[1-9](?P<fr_sep>[ .-])\d\d(?:(?P=fr_sep)\d\d){3}"
    # Germany and the Netherlands, area code then subscriber: 030 1234567, 030/1234567, (030) 1234567,
    # 0151 12345678, 06-12345678, 020-1234567 (10 to 12 digits, checked in _is_phone)
    r"|(?P<area>0[1-9]\d{0,4}[ /-]\d{3,8}|\(0[1-9]\d{0,4}\) ?\d{3,8})"
    # Spain, 9 digits: 91 123 45 67, 612 34 56 78
    r"|[89]\d \d{3} \d{2} \d{2}|[6-9]\d{2} \d{2} \d{2} \d{2}"
    # India, mobile: 98765 43210
    r"|[6-9]\d{4} \d{5}"
    r")(?![ ./-]\d)"
    # Japanese national (10 or 11 digits): 03-1234-5678, 090-1234-5678, 0120-12-3456
    r"|0(?:\d-\d{4}|\d{2}-\d{3,4}|\d{3}-\d{2}|\d{4}-\d)-\d{4}"
    # Brazilian national mobile: (11) 91234-5678 (not landlines: "(12) 2019-2020" is a note and a year range)
    r"|\(\d{2}\) ?9\d{4}-\d{4}"
    r")(?![\w-])"
)
# payment cards: unbroken, or in the groups card issuers print (4-4-4-4, 4-4-4-4-3, Amex 4-6-5, Diners 4-6-4;
# not 4-4-4-2, a British IBAN's tail); not part of a longer run of digit groups (a table row, an IBAN's tail)
CARD_RE = re.compile(
    r"(?=\d)(?<![\w.,+/-])(?<!\d )(?:"
    r"\d{13,19}"
    r"|\d{4}(?P<sep>[ -])\d{4}(?P=sep)\d{4}(?P=sep)\d{4}(?:(?P=sep)\d{1,3})?"
    r"|\d{4}(?P<amex_sep>[ -])\d{6}(?P=amex_sep)\d{4,5}"
    r")(?![\w-]|[.,/]\d|[ -]\d)",
    re.ASCII,  # digits the Luhn check can read
)
# US social security numbers, without the numbers never issued (area 000, 666, 900-999; group 00; serial 0000)
SSN_RE = re.compile(
    r"(?=\d)(?<![\w.,+/-])(?<!\d )(?!000|666|9)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-]|[.,/]\d|[ -]\d)",
    re.ASCII,
)


# a URL inside free text (a drop's detail): up to the first character that cannot be part of one
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")
# left as they are when a percent-decoded part of a URL is encoded again: all but what would change the URL's
# structure or meaning, so placeholders ("<EMAIL>", or any a config sets) stay readable
_URL_SAFE = "".join(c for c in string.punctuation if c not in "%&=#?/+")


# cheap necessary conditions, checked before a pattern runs over the whole text (most pages have none); substring
# tests and patterns that start with a character class, which the regex engine skips through in C
_IPV4_HINT = re.compile(r"\.\d{1,3}\.\d{1,3}\.")
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]*:")
_BRACKET_HINT = re.compile(r"[\[({<][ \t]{0,2}(?:[Aa][Tt]|@|[Dd][Oo][Tt]|\.)[ \t]{0,2}[\])}>]")
_CARD_HINT = re.compile(r"[0-9][0-9][0-9][0-9][ -]?[0-9]")
_SSN_HINT = re.compile(r"[0-9]-[0-9][0-9]-[0-9]")


def _obfuscated_hint(text: str) -> bool:
    # what _is_obfuscated_email accepts has a bracketed "at", or a bare "AT", or an obfuscated dot
    return (
        "dot" in text or "DOT" in text or "Dot" in text or " AT" in text or "\tAT" in text
        or _BRACKET_HINT.search(text) is not None
    )


def _ssn_hint(text: str) -> bool:
    return "-" in text and _SSN_HINT.search(text) is not None


def _is_public_ip(s: str) -> bool:
    """A global unicast address: not private, reserved, documentation or multicast (a group, not a host)."""
    try:
        a = ipaddress.ip_address(s.split("%")[0])
    except ValueError:
        return False
    return a.is_global and not a.is_multicast and not a.is_reserved


def _is_email(m: re.Match) -> bool:
    return m.group("tld").lower() not in _NOT_A_TLD


def _is_obfuscated_email(m: re.Match) -> bool:
    local, domain, at_word = m.group("local"), m.group("domain"), m.group("at_word")
    labels = _DOMAIN_SEP.split(domain)
    tld = labels[-1].lower()
    if not tld.isalpha() or len(tld) < 2 or tld in _NOT_A_TLD:
        return False
    if at_word is None:  # [at], (at), {at}: nobody writes that in prose
        return True
    if tld not in _COMMON_TLDS or any(w.lower() in _PROSE_WORDS for w in [local, *labels[:-1]]):
        return False
    shouted = at_word.strip() == "AT" and not local.isupper()  # "john AT example DOT com"
    dot_obfuscated = any(sep != "." for sep in _DOMAIN_SEP.findall(domain))
    if not (dot_obfuscated or shouted):  # "sales at acme.com" is a shop's website as often as an address
        return False
    made_up = not local.isalpha()  # "j.smith", "info2", "first_last"
    before = m.string[max(0, m.start() - 48) : m.start()]
    return shouted or made_up or _EMAIL_CUE.search(before) is not None


def _is_phone(m: re.Match) -> bool:
    digits = re.sub(r"\D", "", m.group(0))
    if m.group("trunk") and len(digits) not in (10, 11):
        return False
    if m.group("area") and not 10 <= len(digits) <= 12:
        return False
    return 7 <= len(digits) <= 15 and len(set(digits)) > 2


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_network_ok(d: str) -> bool:
    """The number starts with a card network's prefix and has a length that network issues."""
    n, p2, p3, p4, p6 = len(d), int(d[:2]), int(d[:3]), int(d[:4]), int(d[:6])
    if d[0] == "4":
        return n in (13, 16, 19)  # Visa
    if p2 in (34, 37):
        return n == 15  # American Express
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16  # Mastercard
    if p4 == 6011 or 644 <= p3 <= 649 or p2 in (62, 65) or 622126 <= p6 <= 622925:
        return 16 <= n <= 19  # Discover, UnionPay
    if 3528 <= p4 <= 3589:
        return 16 <= n <= 19  # JCB
    if 300 <= p3 <= 305 or p2 in (36, 38, 39):
        return 14 <= n <= 19  # Diners Club
    if p2 == 50 or 56 <= p2 <= 69:
        return 12 <= n <= 19  # Maestro
    return False


def _is_card(m: re.Match) -> bool:
    digits = re.sub(r"\D", "", m.group(0))
    return 13 <= len(digits) <= 19 and card_network_ok(digits) and luhn_ok(digits) and len(set(digits)) > 1


def _merge(kept: list, new: list) -> list:
    """`kept` plus the spans of `new` that overlap none of it; both sorted and free of overlaps (one sweep: a
    span inserted into a list one at a time would make a page full of matches quadratic)."""
    out, i = [], 0
    for start, end, kind in new:
        while i < len(kept) and kept[i][1] <= start:
            out.append(kept[i])
            i += 1
        if i < len(kept) and kept[i][0] < end:
            continue
        out.append((start, end, kind))
    out += kept[i:]
    return out


@dataclass
class PIIParams:
    emails: bool = key(True, help="replace e-mail addresses, obfuscated ones too (name [at] domain [dot] com ...)")
    ips: bool = key(True, help="replace public IPv4 and IPv6 addresses")
    phones: bool = key(True, help="replace phone numbers (international, North American, national forms)")
    cards: bool = key(True, help="replace payment card numbers (Luhn-valid, a network's prefix and length)")
    ssns: bool = key(True, help="replace US social security numbers (never-issued ranges excluded)")
    email_replacement: str = key("<EMAIL>", help="what an e-mail address becomes")
    ip_replacement: str = key("<IP_ADDRESS>", help="what an IP address becomes")
    phone_replacement: str = key("<PHONE_NUMBER>", help="what a phone number becomes")
    card_replacement: str = key("<CREDIT_CARD>", help="what a card number becomes")
    ssn_replacement: str = key("<SSN>", help="what a social security number becomes")


class PIIStage(RefineryStage):
    name = "pii"
    order = 90
    phase = "finalize"
    summary = ("replaces e-mails (obfuscated ones too), public IPs, phone numbers, payment card numbers and US SSNs "
               "with placeholder tokens; counts replacements by type; drops nothing")
    Params = PIIParams
    reasons = ()
    scrubs_text = True

    def __init__(
        self,
        emails: bool = True,
        ips: bool = True,
        phones: bool = True,
        cards: bool = True,
        ssns: bool = True,
        email_replacement: str = "<EMAIL>",
        ip_replacement: str = "<IP_ADDRESS>",
        phone_replacement: str = "<PHONE_NUMBER>",
        card_replacement: str = "<CREDIT_CARD>",
        ssn_replacement: str = "<SSN>",
        output=None,
    ):
        super().__init__(output)
        self.rules = []
        if emails:
            self.rules.append(("email", EMAIL_RE, _is_email, email_replacement, lambda t: "@" in t))
            self.rules.append(
                ("email", OBFUSCATED_EMAIL_RE, _is_obfuscated_email, email_replacement, _obfuscated_hint)
            )
        if ips:
            self.rules.append(("ip", IPV4_RE, self._ipv4_ok, ip_replacement, _IPV4_HINT.search))
            self.rules.append(("ip", IPV6_RE, lambda m: _is_public_ip(m.group(0)), ip_replacement, _IPV6_HINT.search))
        # before phones: a phone pattern must not take a piece of a card or social security number
        if cards:
            self.rules.append(("card", CARD_RE, _is_card, card_replacement, _CARD_HINT.search))
        if ssns:
            self.rules.append(("ssn", SSN_RE, None, ssn_replacement, _ssn_hint))
        if phones:
            self.rules.append(("phone", PHONE_RE, _is_phone, phone_replacement, None))
        self.replacement = {kind: replacement for kind, _, _, replacement, _ in self.rules}

    @staticmethod
    def _ipv4_ok(m: re.Match) -> bool:
        before = m.string[max(0, m.start() - 12) : m.start()]
        return _is_public_ip(m.group(0)) and not _VERSION_BEFORE.search(before)

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """The spans to replace, (start, end, type), in order and not overlapping; where two rules' matches
        overlap, the rule added first in __init__ wins."""
        spans: list[tuple[int, int, str]] = []
        for kind, regex, valid, _, hint in self.rules:
            if hint is not None and not hint(text):
                continue
            new = [(m.start(), m.end(), kind) for m in regex.finditer(text) if valid is None or valid(m)]
            if new:
                spans = _merge(spans, new)
        return spans

    def scrub(self, text: str) -> tuple[str, dict[str, int]]:
        parts, pos, counts = [], 0, {}
        for start, end, kind in self.find(text):
            parts += (text[pos:start], self.replacement[kind])
            pos = end
            counts[kind] = counts.get(kind, 0) + 1
        parts.append(text[pos:])
        return "".join(parts), counts

    def _scrub_url_part(self, part: str, plus: bool = False) -> str:
        """One piece of a URL (a path segment, a query key or value): as text, then percent-decoded
        ("jane%40example.com"), encoded again only if the decoded form held PII."""
        out = self.scrub(part)[0]
        decoded = (unquote_plus if plus else unquote)(out)
        if decoded == out:
            return out
        clean = self.scrub(decoded)[0]
        return out if clean == decoded else quote(clean, safe=_URL_SAFE)

    def scrub_url(self, url: str | None) -> str | None:
        """The URL with what scrub() replaces in text replaced in its user info, path, query and fragment, each
        piece also looked at percent-decoded. The host is kept: it names the site (a server's address, not a
        person's), and the URL filter, dedup checks and people reading the output go by it."""
        if not url:
            return url
        try:
            parts = urlsplit(url)
        except ValueError:  # not parseable as a URL (a broken IPv6 host): scrubbed whole, as text
            return self._scrub_url_part(url)
        user, at, host = parts.netloc.rpartition("@")
        netloc = (self._scrub_url_part(user) + at if at else "") + host
        path = "/".join(self._scrub_url_part(p) for p in parts.path.split("/"))
        query = "&".join(
            "=".join(self._scrub_url_part(x, plus=True) for x in pair.split("=", 1)) for pair in parts.query.split("&")
        )
        fragment = self._scrub_url_part(parts.fragment)
        if (netloc, path, query, fragment) == (parts.netloc, parts.path, parts.query, parts.fragment):
            return url  # untouched, not re-assembled (urlunsplit drops an empty "?" or "#")
        return urlunsplit((parts.scheme, netloc, path, query, fragment))

    def scrub_with_urls(self, text: str | None) -> str | None:
        """Free text that may quote URLs (a drop's detail): each URL as by scrub_url, the rest as by scrub."""
        if not text:
            return text
        out, last = [], 0
        for m in _URL_IN_TEXT.finditer(text):
            out += [self.scrub(text[last : m.start()])[0], self.scrub_url(m.group(0))]
            last = m.end()
        out.append(self.scrub(text[last:])[0])
        return "".join(out)

    def process(self, doc: Document) -> Drop | None:
        doc.text, counts = self.scrub(doc.text)
        if doc.metadata.get("url"):
            doc.metadata["url"] = self.scrub_url(doc.metadata["url"])
        for kind, n in counts.items():
            self.stat_update(f"replaced/{kind}", value=n)
            doc.metadata[f"pii_{kind}"] = n
        return None
