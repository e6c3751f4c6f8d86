"""Stage `pii`: replaces e-mail addresses, public IP addresses (FineWeb) and phone numbers with placeholder
tokens, counting replacements by type. It rewrites text and drops nothing.

Look-alikes are left alone: version strings ("v1.2.3.4", "version 2.0.1.7"), private, reserved and multicast
IPs, dates, times, prices, ISBNs and image names ("logo@2x.png") do not match the patterns and checks below.
Phone numbers: international ("+CC ...", "+CCNNNNNNNN"), North American, and the national forms of the UK,
Australia, Japan and Brazil; other national forms (French "01 23 45 67 89", German "030 1234567") are left
alone, as they are hard to tell from lottery draws, reference numbers and the like without context.
`python bench/pii_quality.py` measures precision and recall on a labelled set.
"""

import ipaddress
import re
from dataclasses import dataclass
import string
from urllib.parse import quote, unquote, unquote_plus, urlsplit, urlunsplit

from datatrove.data import Document
from datatrove.pipeline.formatters.pii import PIIFormatter

from stages.base import Drop, RefineryStage
from stages.registry import key

# datatrove's (FineWeb's) e-mail pattern, reused rather than rewritten
EMAIL_RE = PIIFormatter().emails_replacer.regex

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
    # Japanese national (10 or 11 digits): 03-1234-5678, 090-1234-5678, 0120-12-3456
    r"|0(?:\d-\d{4}|\d{2}-\d{3,4}|\d{3}-\d{2}|\d{4}-\d)-\d{4}"
    # Brazilian national mobile: (11) 91234-5678 (not landlines: "(12) 2019-2020" is a note and a year range)
    r"|\(\d{2}\) ?9\d{4}-\d{4}"
    r")(?![\w-])"
)


# a URL inside free text (a drop's detail): up to the first character that cannot be part of one
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")
# left as they are when a percent-decoded part of a URL is encoded again: all but what would change the URL's
# structure or meaning, so placeholders ("<EMAIL>", or any a config sets) stay readable
_URL_SAFE = "".join(c for c in string.punctuation if c not in "%&=#?/+")


# cheap necessary conditions, checked before a pattern runs over the whole text (most pages have none)
_IPV4_HINT = re.compile(r"\.\d{1,3}\.\d{1,3}\.")
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]*:")


def _is_public_ip(s: str) -> bool:
    """A global unicast address: not private, reserved, documentation or multicast (a group, not a host)."""
    try:
        a = ipaddress.ip_address(s.split("%")[0])
    except ValueError:
        return False
    return a.is_global and not a.is_multicast and not a.is_reserved


def _is_email(m: re.Match) -> bool:
    return m.group(0).rsplit(".", 1)[-1].lower() not in _NOT_A_TLD


def _is_phone(m: re.Match) -> bool:
    digits = re.sub(r"\D", "", m.group(0))
    if m.group("trunk") and len(digits) not in (10, 11):
        return False
    return 7 <= len(digits) <= 15 and len(set(digits)) > 2


@dataclass
class PIIParams:
    emails: bool = key(True, help="replace e-mail addresses")
    ips: bool = key(True, help="replace public IPv4 and IPv6 addresses")
    phones: bool = key(True, help="replace phone numbers")
    email_replacement: str = key("<EMAIL>", help="what an e-mail address becomes")
    ip_replacement: str = key("<IP_ADDRESS>", help="what an IP address becomes")
    phone_replacement: str = key("<PHONE_NUMBER>", help="what a phone number becomes")


class PIIStage(RefineryStage):
    name = "pii"
    order = 90
    phase = "finalize"
    summary = "replaces PII with placeholder tokens and counts replacements by type; drops nothing"
    Params = PIIParams
    reasons = ()
    scrubs_text = True

    def __init__(
        self,
        emails: bool = True,
        ips: bool = True,
        phones: bool = True,
        email_replacement: str = "<EMAIL>",
        ip_replacement: str = "<IP_ADDRESS>",
        phone_replacement: str = "<PHONE_NUMBER>",
        output=None,
    ):
        super().__init__(output)
        self.rules = []
        if emails:
            self.rules.append(("email", EMAIL_RE, _is_email, email_replacement, lambda t: "@" in t))
        if ips:
            self.rules.append(("ip", IPV4_RE, self._ipv4_ok, ip_replacement, _IPV4_HINT.search))
            self.rules.append(("ip", IPV6_RE, lambda m: _is_public_ip(m.group(0)), ip_replacement, _IPV6_HINT.search))
        if phones:
            self.rules.append(("phone", PHONE_RE, _is_phone, phone_replacement, None))

    @staticmethod
    def _ipv4_ok(m: re.Match) -> bool:
        before = m.string[max(0, m.start() - 12) : m.start()]
        return _is_public_ip(m.group(0)) and not _VERSION_BEFORE.search(before)

    def scrub(self, text: str) -> tuple[str, dict[str, int]]:
        counts: dict[str, int] = {}
        for kind, regex, valid, replacement, hint in self.rules:
            if hint is not None and not hint(text):
                continue

            def sub(m, kind=kind, valid=valid, replacement=replacement):
                if valid is not None and not valid(m):
                    return m.group(0)
                counts[kind] = counts.get(kind, 0) + 1
                return replacement

            text = regex.sub(sub, text)
        return text, counts

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
