"""Stage `pii`: replaces e-mail addresses, public IP addresses (FineWeb) and phone numbers with placeholder
tokens, counting replacements by type. It rewrites text and drops nothing.

Look-alikes are left alone: version strings ("v1.2.3.4", "version 2.0.1.7"), private and reserved IPs,
dates, prices and ISBNs do not match the phone and IP patterns below.
"""

import ipaddress
import re

from datatrove.data import Document
from datatrove.pipeline.formatters.pii import PIIFormatter

from stages.base import Drop, RefineryStage

# datatrove's (FineWeb's) e-mail pattern, reused rather than rewritten
EMAIL_RE = PIIFormatter().emails_replacer.regex

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# not glued to other digits, dots or letters: "1.2.3.4.5", "v1.2.3.4" and "10.0.0.1a" are not addresses
IPV4_RE = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\.?\d)(?![\w])")
# candidates with two or more colons; ipaddress decides (times like 12:30:45 are not addresses)
IPV6_RE = re.compile(r"(?<![\w:.])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{3,39}(?![\w:])")
_VERSION_BEFORE = re.compile(r"(?i)(?:version|ver\.?|release|build|rev\.?|firmware|v)\s*$")
PHONE_RE = re.compile(
    r"(?<![\w+])(?:"
    # international: +CC then 2 to 5 groups, optional (0) and area code in parentheses
    r"\+\d{1,3}(?:[ .-]?\(0\))?(?:[ .-]?\(?\d{1,4}\)?)(?:[ .-]\d{2,8}){1,4}"
    r"|"
    # North American: (555) 123-4567, 555-123-4567, 555.123.4567
    r"(?:\(\d{3}\)\s?|\d{3}[.-])\d{3}[.-]\d{4}"
    r")(?![\w-])"
)


def _is_public_ip(s: str) -> bool:
    try:
        return ipaddress.ip_address(s.split("%")[0]).is_global
    except ValueError:
        return False


def _is_phone(s: str) -> bool:
    digits = re.sub(r"\D", "", s)
    return 7 <= len(digits) <= 15 and len(set(digits)) > 2


class PIIStage(RefineryStage):
    name = "pii"

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
            self.rules.append(("email", EMAIL_RE, None, email_replacement))
        if ips:
            self.rules.append(("ip", IPV4_RE, self._ipv4_ok, ip_replacement))
            self.rules.append(("ip", IPV6_RE, lambda m: _is_public_ip(m.group(0)), ip_replacement))
        if phones:
            self.rules.append(("phone", PHONE_RE, lambda m: _is_phone(m.group(0)), phone_replacement))

    @staticmethod
    def _ipv4_ok(m: re.Match) -> bool:
        before = m.string[max(0, m.start() - 12) : m.start()]
        return _is_public_ip(m.group(0)) and not _VERSION_BEFORE.search(before)

    def scrub(self, text: str) -> tuple[str, dict[str, int]]:
        counts: dict[str, int] = {}
        for kind, regex, valid, replacement in self.rules:

            def sub(m, kind=kind, valid=valid, replacement=replacement):
                if valid is not None and not valid(m):
                    return m.group(0)
                counts[kind] = counts.get(kind, 0) + 1
                return replacement

            text = regex.sub(sub, text)
        return text, counts

    def process(self, doc: Document) -> Drop | None:
        doc.text, counts = self.scrub(doc.text)
        for kind, n in counts.items():
            self.stat_update(f"replaced/{kind}", value=n)
            doc.metadata[f"pii_{kind}"] = n
        return None
