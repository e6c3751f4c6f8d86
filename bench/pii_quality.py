"""PII stage quality and speed: precision and recall of stages.pii.PIIStage per type, on a seeded labelled synthetic
set or on a labelled set of your own.

    python bench/pii_quality.py                # 2,000 generated documents (~40,000 lines), a few seconds
    python bench/pii_quality.py --docs 5000 --seed 3 --show 5
    python bench/pii_quality.py --labelled my_set.jsonl
    python bench/pii_quality.py --speed-docs runs/real/documents   # also docs/s on real curated pages
    python bench/pii_quality.py --tiny         # smoke test

A labelled set (--labelled FILE.jsonl): one JSON object per line,
    {"text": "Mail jane@example.org or call 030 1234567.", "spans": [[5, 21, "email"], [30, 41, "phone"]]}
where each span is [start, end, type]: character offsets into "text" (Python string indices, end exclusive) of
one item that must be replaced, and its type, one of email, ip, phone, card, ssn. Everything outside the
spans must be left alone. Blank lines are skipped; any other malformed line stops the run with its line number.

The generated set (the default): documents of 15 to 25 lines; each line is a sentence holding one item, or none:
  - PII that must be replaced: e-mail addresses, plain and obfuscated ("name [at] domain [dot] com",
    "name(at)domain.com", "name AT domain DOT com", "name at domain dot com" after an e-mail cue); public IPv4
    and IPv6 addresses; phone numbers written the ways people write them in the US, UK, Germany, France, the
    Netherlands, Spain, India, Japan, Brazil, Australia and others; Luhn-valid card numbers of each network, unbroken
    or grouped; US social security numbers;
  - look-alikes that must be left alone: software versions, dates, times, prices, ISBNs, private/reserved/
    documentation IP addresses, order and tracking numbers, IBANs, coordinates, counts, scores, lottery draws,
    MAC addresses, handles, file names, "at" and "dot" in prose, phone-like product codes and opening hours,
    card-like numbers that fail the Luhn check or have no card network's prefix, SSN-like numbers the SSA
    never issues ...;
  - plain sentences.
Each document goes through PIIStage.find (what PIIStage.run replaces) and each found span is compared with the
labelled ones:
  true positive   a labelled span found exactly (same start and end), with the right type;
  false negative  a labelled span not found exactly with its type; "partial": found in part (a found span of
                  the right type overlaps it), also counted as a false negative;
  false positive  a found span that overlaps no labelled span of its type, counted against the found type.
It prints a table per type, the formats missed, where the false positives came from, docs/s and MB/s of
PIIStage.run, and a summary line `summary: precision P recall R (micro, all types); docs/s D`.
"""

import argparse
import collections
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from datatrove.data import Document  # noqa: E402

from stages.pii import PIIStage, luhn_ok  # noqa: E402

TYPES = ("email", "ip", "phone", "card", "ssn")

WORDS = ("the team said that our office will open again next week after the long holiday and every visitor "
         "should bring a valid ticket because the museum is very busy in summer when many families travel to "
         "see old paintings new gardens and the famous river walk").split()



def digits(r: random.Random, template: str) -> str:
    """'#': any digit, 'N': 2-9 (North American area codes and exchanges start so), '9': itself."""
    return "".join(str(r.randint(0, 9)) if c == "#" else str(r.randint(2, 9)) if c == "N" else c for c in template)


FIRST = "john jane maria li wei ahmed olga pierre anna raj yuki carlos emma noah sofia lucas".split()
LAST = "smith doe garcia wang mueller dubois rossi kumar tanaka silva brown jones lee martin".split()
DOMAINS = "example gmail outlook company-mail uni-heidelberg acme shop-online newsroom city-hall bigcorp".split()
TLDS = "com org net de co.uk fr io edu gov com.br co.jp info com.au".split()


def email(r: random.Random) -> str:
    f, l = r.choice(FIRST), r.choice(LAST)
    local = r.choice([f"{f}.{l}", f"{f}{l}", f"{f[0]}.{l}{r.randint(1, 99)}", f"{f}_{l}", f"{f}-{l}", f"{f}+news",
                      "info", "contact", f"{l}{r.randint(1970, 2005)}", f"{f.capitalize()}.{l.capitalize()}"])
    domain = r.choice(DOMAINS) + "." + r.choice(TLDS)
    if r.random() < 0.2:
        domain = r.choice(["mail.", "sub.", "lists.", "cs."]) + domain
    return local + "@" + domain


def public_ipv4(r: random.Random) -> str:
    import ipaddress

    while True:
        a = ipaddress.IPv4Address(r.getrandbits(32))
        if a.is_global and not a.is_multicast and not a.is_reserved:
            return str(a)


def public_ipv6(r: random.Random) -> str:
    import ipaddress

    fixed = ["2001:4860:4860::8888", "2606:4700:4700::1111", "2a00:1450:4001:81b::200e", "2620:fe::fe",
             "2001:67c:2e8:22::c100:68b", "2a03:2880:f12f:83:face:b00c:0:25de"]
    if r.random() < 0.2:
        return r.choice(fixed)
    while True:  # global unicast 2000::/3, not 2001:db8::/32 (documentation)
        a = ipaddress.IPv6Address((1 << 125) | r.getrandbits(125))  # top bits 001
        if a.is_global and not str(a).startswith("2001:db8"):
            break
    if r.random() < 0.3:  # zero runs, so the compressed form has '::'
        a = ipaddress.IPv6Address(int(a) & ~(((1 << 48) - 1) << 32))
    s = str(a) if r.random() < 0.8 else a.exploded
    return s.upper() if r.random() < 0.15 else s


# (format label, template): '#' any digit, 'N' 2-9
PHONES = [
    ("US (N##) ###-####", "(N##) ###-####"), ("US N##-###-####", "N##-###-####"), ("US N##.###.####", "N##.###.####"),
    ("US N## ### ####", "N## ### ####"), ("US +1 N## ### ####", "+1 N## ### ####"),
    ("US +1-N##-###-####", "+1-N##-###-####"), ("US +1 (N##) ###-####", "+1 (N##) ###-####"),
    ("US 1-8##-###-####", "1-800-N##-####"), ("US 555-123-4567", "555-###-####"),
    ("UK +44 20 #### ####", "+44 20 #### ####"), ("UK +44 (0)20 #### ####", "+44 (0)20 #### ####"),
    ("UK +44 7### ######", "+44 7### ######"), ("UK 020 #### ####", "020 N### ####"),
    ("UK 07### ######", "07### ######"), ("UK 0161 ### ####", "0161 N## ####"),
    ("UK 0800 ### ####", "0800 N## ####"), ("UK 0345 ### ####", "0345 N## ####"),
    ("DE +49 30 ######", "+49 30 N#####"), ("DE +49 30 ########", "+49 30 N#######"),
    ("DE +49 (0)30 #######", "+49 (0)30 N######"), ("DE +49 151 ########", "+49 151 N#######"),
    ("DE +49-89-#######", "+49-89-N######"), ("DE 030 #######", "030 N######"),
    ("FR +33 1 ## ## ## ##", "+33 1 ## ## ## ##"), ("FR +33 6 ## ## ## ##", "+33 6 ## ## ## ##"),
    ("FR +33 (0)1 ## ## ## ##", "+33 (0)1 ## ## ## ##"), ("FR 01 ## ## ## ##", "01 ## ## ## ##"),
    ("IN +91 9#### #####", "+91 9#### #####"), ("IN +91-9####-#####", "+91-9####-#####"),
    ("IN +91 22 #### ####", "+91 22 N### ####"), ("IN +919#########", "+919#########"),
    ("JP +81 3-####-####", "+81 3-####-####"), ("JP +81-90-####-####", "+81-90-####-####"),
    ("JP 03-####-####", "03-####-####"), ("JP 090-####-####", "090-####-####"),
    ("BR +55 11 9####-####", "+55 11 9####-####"), ("BR +55 (11) 9####-####", "+55 (11) 9####-####"),
    ("BR (11) 9####-####", "(11) 9####-####"),
    ("AU +61 2 #### ####", "+61 2 N### ####"), ("AU +61 4## ### ###", "+61 4## ### ###"),
    ("AU (02) #### ####", "(02) N### ####"), ("AU 04## ### ###", "04## ### ###"),
    ("ES +34 9## ### ###", "+34 9## ### ###"), ("IT +39 06 #### ####", "+39 06 #### ####"),
    ("CN +86 1## #### ####", "+86 13# #### ####"), ("RU +7 495 ###-##-##", "+7 495 ###-##-##"),
    ("NL +31 20 ### ####", "+31 20 N## ####"), ("MX +52 55 #### ####", "+52 55 #### ####"),
    ("E.164 +1N#########", "+1N##N######"), ("E.164 +447#########", "+447#########"),
]



def obfuscated_email(r: random.Random) -> tuple[str, str]:
    """(address, form): the ways people write an address so that harvesters miss it."""
    f, l = r.choice(FIRST), r.choice(LAST)
    local = r.choice([f"{f}.{l}", f"{f}{l}", f, f"{f}_{l}", f"{f[0]}{l}{r.randint(1, 99)}", "info", "contact"])
    labels = [r.choice(DOMAINS)] + r.choice(TLDS).split(".")
    form, at, dot = r.choice(OBFUSCATED_FORMS)
    return local + at + dot.join(labels), form


# (form, "at" separator, "dot" separator)
OBFUSCATED_FORMS = [
    ("name [at] domain [dot] com", " [at] ", " [dot] "), ("name[at]domain[dot]com", "[at]", "[dot]"),
    ("name(at)domain.com", "(at)", "."), ("name (at) domain (dot) com", " (at) ", " (dot) "),
    ("name {at} domain {dot} com", " {at} ", " {dot} "), ("name [@] domain.com", " [@] ", "."),
    ("name AT domain DOT com", " AT ", " DOT "), ("name at domain dot com", " at ", " dot "),
    ("name [at] domain.com", " [at] ", "."),
]


def national_phones() -> list:
    """National forms detected since issue 13 (they were left alone before)."""
    return [
        ("FR 01 ## ## ## ##", "01 ## ## ## ##"), ("FR 06 ## ## ## ##", "06 ## ## ## ##"),
        ("FR 01.##.##.##.##", "01.##.##.##.##"), ("FR 04-##-##-##-##", "04-##-##-##-##"),
        ("DE 030 #######", "030 N######"), ("DE 089 ########", "089 N#######"), ("DE 0151 ########", "0151 N#######"),
        ("DE 030/#######", "030/N######"), ("DE (030) #######", "(030) N######"), ("DE 05### ######", "05N## N#####"),
        ("NL 06-########", "06-N#######"), ("NL 020-#######", "020-N######"), ("NL 06 ########", "06 N#######"),
        ("ES 91 ### ## ##", "91 N## ## ##"), ("ES 93 ### ## ##", "93 N## ## ##"), ("ES 6## ## ## ##", "6## ## ## ##"),
        ("IN 9#### #####", "9#### #####"), ("IN 7#### #####", "7#### #####"),
    ]


def luhn_complete(r: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(str(r.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    return next(body + c for c in "0123456789" if luhn_ok(body + c))


def grouped(number: str, groups: tuple, sep: str) -> str:
    out, i = [], 0
    for g in groups:
        out.append(number[i : i + g])
        i += g
    return sep.join(out)


# (format, prefixes, length, groups or None for unbroken, separators)
CARDS = [
    ("Visa 4-4-4-4", ["4"], 16, (4, 4, 4, 4), " -"), ("Visa unbroken", ["4"], 16, None, ""),
    ("Visa 13", ["4"], 13, None, ""), ("Visa 19 4-4-4-4-3", ["4"], 19, (4, 4, 4, 4, 3), " "),
    ("Mastercard 51-55", ["51", "52", "53", "54", "55"], 16, (4, 4, 4, 4), " -"),
    ("Mastercard 2221-2720", ["2221", "2300", "2500", "2720"], 16, (4, 4, 4, 4), " "),
    ("Mastercard unbroken", ["51", "55"], 16, None, ""),
    ("Amex 4-6-5", ["34", "37"], 15, (4, 6, 5), " -"), ("Amex unbroken", ["34", "37"], 15, None, ""),
    ("Discover", ["6011", "65"], 16, (4, 4, 4, 4), " -"), ("Diners 4-6-4", ["36", "38", "300"], 14, (4, 6, 4), " "),
    ("JCB", ["3528", "3589"], 16, (4, 4, 4, 4), " "), ("UnionPay 19", ["62"], 19, None, ""),
]


def card(r: random.Random) -> tuple[str, str]:
    form, prefixes, length, groups, seps = r.choice(CARDS)
    number = luhn_complete(r, r.choice(prefixes), length)
    return (grouped(number, groups, r.choice(seps)) if groups else number), form


def ssn(r: random.Random) -> str:
    area = r.choice([n for n in range(1, 900) if n != 666])
    return f"{area:03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}"


def non_luhn_card(r: random.Random) -> str:
    number = luhn_complete(r, r.choice(["4", "51", "6011"]), 16)
    wrong = str((int(number[-1]) + r.randint(1, 9)) % 10)
    return grouped(number[:-1] + wrong, (4, 4, 4, 4), r.choice(" -"))


def invalid_ssn(r: random.Random) -> str:
    area, group, serial = f"{r.randint(1, 899):03d}", f"{r.randint(1, 99):02d}", f"{r.randint(1, 9999):04d}"
    which = r.randrange(5)
    area = "000" if which == 0 else "666" if which == 1 else f"9{r.randint(0, 99):02d}" if which == 2 else area
    group = "00" if which == 3 else group
    serial = "0000" if which == 4 else serial
    return f"{area}-{group}-{serial}"


CONTEXT = {
    "email": ["Write to {} for details.", "Contact: {}", "Send your CV to {}, or call us.", "E-mail {} today.",
              "<{}> wrote:", "Questions? mailto:{} is monitored.", "Reach the editor ({}) before Friday."],
    "ip": ["The server at {} answered.", "Server {} is down again.", "Our DNS server {} resolves it.",
           "Login from IP address {} was blocked.", "Open http://{}:8080/admin in a browser.",
           "Traceroute: hop 7 ({}) 23 ms.", "Banned: {}.", "ping {} -c 4", "The resolver {} is public."],
    "ipv6": ["The server at {} answered.", "Resolver {} is public.", "Connect to [{}]:443 with TLS.",
             "Open http://[{}]/ in the browser.", "AAAA record: {}.", "Login from {} was blocked."],
    "phone": ["Call us on {}.", "Tel: {}", "Phone: {} (Mon-Fri)", "Contact John at {} or by mail.",
              "Reservations: {}, open daily.", "WhatsApp {}", "Fax {}.", "Ring {} after six."],
    "card": ["Card number: {}", "Paid with card {} yesterday.", "My card {} was charged twice.",
             "Charge it to {}, expiry 09/27.", "CC# {} (please delete this message)."],
    "ssn": ["SSN: {}", "Social Security No. {} is on file.", "His SSN is {}.", "SSN {} (do not share)."],
}

# look-alikes: (category, generator) -> a whole sentence that must stay exactly as it is
LOOKALIKES = [
    ("version", lambda r: f"Released as version {r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)}.{r.randint(0, 200)} today."),
    ("version", lambda r: f"Firmware v{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)}.{r.randint(0, 200)} fixes the bug."),
    ("version", lambda r: f"Upgrade to v{r.randint(1, 5)}.{r.randint(0, 9)}.{r.randint(0, 9)} now."),
    ("version", lambda r: f"Python 3.{r.randint(6, 13)}.{r.randint(0, 12)} and numpy 1.{r.randint(15, 26)}.{r.randint(0, 4)} are installed."),
    ("version", lambda r: f"Chrome {r.randint(100, 130)}.0.{r.randint(4000, 6999)}.{r.randint(10, 250)} is out."),
    ("version", lambda r: f"Windows 10.0.{r.randint(10000, 22631)}.{r.randint(100, 4000)} build installed."),
    ("version", lambda r: f"Kernel build {r.randint(1, 6)}.{r.randint(0, 19)}.{r.randint(0, 150)}.{r.randint(1, 99)} was tested."),
    ("date", lambda r: f"Dates like {r.randint(1990, 2030)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} stay."),
    ("date", lambda r: f"Meet on {r.randint(1, 28):02d}.{r.randint(1, 12):02d}.{r.randint(1990, 2030)} at noon."),
    ("date", lambda r: f"Posted {r.randint(1, 12):02d}/{r.randint(1, 28):02d}/{r.randint(1990, 2030)} by admin."),
    ("date", lambda r: f"Due {r.randint(1, 28):02d}/{r.randint(1, 12):02d}/{r.randint(1990, 2030)}, no later."),
    ("date", lambda r: f"Archived {r.randint(1990, 2030)}.{r.randint(1, 12):02d}.{r.randint(1, 28):02d} in the library."),
    ("date", lambda r: f"Timestamp {r.randint(1990, 2030)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z logged."),
    ("time", lambda r: f"Doors open at {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d} sharp."),
    ("time", lambda r: f"From {r.randint(8, 11)}:{r.randint(0, 59):02d} to {r.randint(12, 20)}:{r.randint(0, 59):02d} daily."),
    ("time", lambda r: f"Lap time 1:{r.randint(10, 59)}:{r.randint(10, 59)}.{r.randint(100, 999)} was a record."),
    ("time", lambda r: f"Timecode {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}:{r.randint(0, 24):02d} marks the cut."),
    ("price", lambda r: f"It costs ${r.randint(1, 9)},{r.randint(100, 999)}.{r.randint(0, 99):02d} in stores."),
    ("price", lambda r: f"Now {r.randint(1, 9)}.{r.randint(100, 999)},{r.randint(0, 99):02d} € instead of more."),
    ("price", lambda r: f"Revenue was USD {r.randint(1, 999)},{r.randint(100, 999)},{r.randint(100, 999)}.{r.randint(0, 99):02d} last year."),
    ("price", lambda r: f"Sold for € {r.randint(1, 999)}.{r.randint(100, 999)}.{r.randint(100, 999)},00 at auction."),
    ("isbn", lambda r: f"ISBN 978-{r.randint(0, 9)}-{r.randint(10, 99)}-{r.randint(100000, 999999)}-{r.randint(0, 9)} is the second edition."),
    ("isbn", lambda r: f"ISBN 0-{r.randint(100, 999)}-{r.randint(10000, 99999)}-{r.randint(0, 9)} (paperback)."),
    ("isbn", lambda r: f"ISBN-13: 978{r.randint(1000000000, 9999999999)} in print."),
    ("isbn", lambda r: f"ISBN 978 {r.randint(0, 9)} {r.randint(100, 999)} {r.randint(10000, 99999)} {r.randint(0, 9)} listed."),
    ("private ip", lambda r: f"The router is at 192.168.{r.randint(0, 255)}.{r.randint(1, 254)} on the LAN."),
    ("private ip", lambda r: f"Use 10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)} inside the VPN."),
    ("private ip", lambda r: f"Bind to 127.0.0.1 or 0.0.0.0 for testing."),
    ("private ip", lambda r: f"Subnet 172.{r.randint(16, 31)}.{r.randint(0, 255)}.{r.randint(1, 254)}/24 is internal."),
    ("private ip", lambda r: f"Docs use 192.0.2.{r.randint(1, 254)}, 198.51.100.{r.randint(1, 254)} and 203.0.113.{r.randint(1, 254)}."),
    ("private ip", lambda r: f"Carrier NAT gave 100.{r.randint(64, 127)}.{r.randint(0, 255)}.{r.randint(1, 254)} to the modem."),
    ("private ip", lambda r: f"Link-local 169.254.{r.randint(1, 254)}.{r.randint(1, 254)} means no DHCP."),
    ("private ip", lambda r: f"Loopback ::1 and fe80::{r.randint(1, 0xffff):x} are local."),
    ("private ip", lambda r: f"Documentation prefix 2001:db8::{r.randint(1, 0xffff):x} is reserved."),
    ("private ip", lambda r: f"Unique local fd{r.randint(0, 255):02x}:{r.randint(1, 0xffff):x}::1 stays inside."),
    ("private ip", lambda r: "Netmask 255.255.255.0 and broadcast 255.255.255.255 are set."),
    ("private ip", lambda r: f"Multicast group 239.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)} carries the stream."),
    ("order", lambda r: f"Order #{r.randint(100, 999)}-{r.randint(1000000, 9999999)}-{r.randint(1000000, 9999999)} shipped."),
    ("order", lambda r: f"Order number {r.randint(20200101, 20251231)} shipped."),
    ("order", lambda r: f"Invoice INV-{r.randint(2015, 2025)}-{r.randint(10000, 99999)} is attached."),
    ("order", lambda r: f"Tracking 1Z{r.randint(100, 999)}AA1{r.randint(10**9, 10**10 - 1)} in transit."),
    ("order", lambda r: f"Case No. {r.randint(1, 9)}:{r.randint(10, 24)}-cv-{r.randint(10000, 99999)} was filed."),
    ("order", lambda r: f"Ticket {r.randint(100, 999)}-{r.randint(100, 999)}-{r.randint(100, 999)} is open."),
    ("order", lambda r: f"Part no. {r.randint(10000, 99999)}-{r.randint(1000, 9999)} fits."),
    ("coordinates", lambda r: f"Located at {r.uniform(-89, 89):.4f}, {r.uniform(-179, 179):.4f} on the map."),
    ("coordinates", lambda r: f"Position {r.uniform(0, 89):.4f}° N, {r.uniform(0, 179):.4f}° W reported."),
    ("coordinates", lambda r: f"ISO 6709: +{r.uniform(10, 89):.4f} -{r.uniform(10, 179):.4f} given."),
    ("number", lambda r: f"Population {r.randint(1, 9)},{r.randint(100, 999)},{r.randint(100, 999)} in 2020."),
    ("number", lambda r: f"Population {r.randint(1, 9)} {r.randint(100, 999)} {r.randint(100, 999)} in 2020."),
    ("number", lambda r: f"ZIP {r.randint(10000, 99999)}-{r.randint(1000, 9999)} covers the area."),
    ("number", lambda r: f"Seasons {r.randint(1950, 1999)}-{r.randint(2000, 2024)} were counted."),
    ("number", lambda r: f"Won {r.randint(0, 5)}-{r.randint(0, 5)} at home."),
    ("number", lambda r: f"Pages {r.randint(100, 499)}-{r.randint(500, 999)} cover it."),
    ("number", lambda r: f"Phone-free number 2024 {r.randint(1000, 9999)} {r.randint(1000, 9999)} in the table."),
    ("number", lambda r: f"Totals {r.randint(1300, 1800)} {r.randint(100, 999)} {r.randint(100, 999)} {r.randint(1000, 9999)} per season."),
    ("number", lambda r: f"Yards {r.randint(200, 999)} {r.randint(100, 999)} {r.randint(1000, 1999)} in three games."),
    ("number", lambda r: f"See note ({r.randint(10, 99)}) {r.randint(1900, 1990)}-{r.randint(1991, 2024)} for the war years."),
    ("mac", lambda r: "MAC " + ":".join(f"{r.randint(0, 255):02X}" for _ in range(6)) + " is the adapter."),
    ("handle", lambda r: f"Follow @{r.choice(FIRST)}_{r.choice(LAST)} for news."),
    ("handle", lambda r: f"Mail {r.choice(FIRST)} at localhost: {r.choice(FIRST)}@localhost works."),
    ("filename", lambda r: f"The image logo@2x.png is sharper than icon@3x.jpg in the theme."),
]



# look-alikes added with cards, SSNs, obfuscated e-mails and national phone forms (issue 13)
LOOKALIKES += [
    ("at in prose", lambda r: "Shop at amazon dot com for the best deals."),
    ("at in prose", lambda r: "The dot com bubble burst at the end of 2000."),
    ("at in prose", lambda r: "Look at this dot in the corner of the map."),
    ("at in prose", lambda r: "Meet me at home dot com, he joked."),
    ("at in prose", lambda r: f"Tickets are available at {r.choice(DOMAINS)}.com and at the box office."),
    ("at in prose", lambda r: f"Contact sales at {r.choice(DOMAINS)}.com for a quote."),
    ("at in prose", lambda r: f"We arrived at Heathrow at {r.randint(1, 12)} and left at {r.randint(1, 12)}."),
    ("at in prose", lambda r: f"Prices start at {r.randint(1, 99)} dot {r.randint(10, 99)} dollars."),
    ("at in prose", lambda r: f"She worked at {r.choice(DOMAINS)} dot org for years."),
    ("at in prose", lambda r: "Sold at Walmart dot com and in stores."),
    ("at in prose", lambda r: "Write to us at the address below."),
    ("at in prose", lambda r: "The meeting (at noon) is at the town hall, dot on time."),
    ("at in prose", lambda r: "Find us at example dot org or on the radio."),
    ("at in prose", lambda r: "AT&T and Verizon both stopped at the border."),
    ("card-like", lambda r: f"Membership no. {non_luhn_card(r)} expires soon."),
    ("card-like", lambda r: f"Gift voucher {non_luhn_card(r)} is void."),
    ("card-like", lambda r: f"Customer ID {luhn_complete(r, '1', 16)} in the CRM."),
    ("card-like", lambda r: f"Voucher {grouped(luhn_complete(r, '9', 16), (4, 4, 4, 4), ' ')} redeemed."),
    ("card-like", lambda r: f"Epoch ms {r.randint(1_500_000_000_000, 1_800_000_000_000)} logged."),
    ("card-like", lambda r: f"IMEI {luhn_complete(r, r.choice(['35', '86', '01']), 15)} was blocked."),
    ("iban", lambda r: "IBAN DE" + f"{r.randint(10, 99)} " + " ".join(f"{r.randint(0, 9999):04d}" for _ in range(4)) + f" {r.randint(0, 99):02d} for transfers."),
    ("iban", lambda r: "IBAN GB" + f"{r.randint(10, 99)} NWBK " + " ".join(f"{r.randint(0, 9999):04d}" for _ in range(3)) + f" {r.randint(10, 99)} please."),
    ("tracking", lambda r: f"USPS tracking {grouped('9400' + digits(r, '#' * 18), (4, 4, 4, 4, 4, 2), ' ')} today."),
    ("tracking", lambda r: f"FedEx tracking {r.randint(7000, 7999)} {r.randint(1000, 9999)} {r.randint(1000, 9999)} arrives Monday."),
    ("tracking", lambda r: f"DHL waybill {r.randint(10**9, 10**10 - 1)} was scanned."),
    ("ssn-like", lambda r: f"Test ID {invalid_ssn(r)} is a placeholder."),
    ("ssn-like", lambda r: f"Form field {invalid_ssn(r)} was rejected."),
    ("product code", lambda r: f"Model XR-0{r.randint(100, 999)}-{r.randint(1000000, 9999999)} in stock."),
    ("product code", lambda r: f"SKU 0{r.randint(100, 999)}-{r.randint(10000, 99999)} ships today."),
    ("product code", lambda r: f"Catalogue no. 0{r.randint(10, 99)}/{r.randint(10000, 99999)} is listed."),
    ("product code", lambda r: f"Item 0{r.randint(1, 9)}-{r.randint(1000, 9999)} is red."),
    ("product code", lambda r: f"Part {r.randint(10, 99)}-0{r.randint(100, 999)}-{r.randint(1000000, 9999999)} fits."),
    ("opening hours", lambda r: f"Open 0{r.randint(7, 9)}00-{r.randint(16, 19)}00 on weekdays."),
    ("number", lambda r: f"Budget {r.randint(600, 999)} {r.randint(100, 999)} {r.randint(100, 999)} euros approved."),
    ("number", lambda r: f"Serial {r.randint(10, 99)} {r.randint(100, 999)} {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)} on the label."),
    ("lottery", lambda r: "Winning numbers: " + ", ".join(str(x) for x in sorted(r.sample(range(1, 50), 5))) + "."),
    ("lottery", lambda r: "Draw " + " ".join(str(x) for x in sorted(r.sample(range(1, 50), 6))) + " tonight."),
    ("date", lambda r: f"On {r.randint(1, 28):02d} {r.randint(1, 12):02d} {r.randint(1990, 2030)} it rained."),
]


def sentence(r: random.Random) -> str:
    return " ".join(r.choice(WORDS) for _ in range(r.randint(6, 14))).capitalize() + "."


def make_line(r: random.Random) -> tuple[str, list, str]:
    """(line, [(start, end, type, format)] within it, source: the type, 'lookalike:<category>' or 'plain')."""
    x = r.random()
    if x < 0.08:
        kind, (item, detail) = "email", (email(r), "name@domain")
    elif x < 0.13:
        kind, (item, detail) = "email", obfuscated_email(r)
    elif x < 0.20:
        kind, item, detail = "ip", public_ipv4(r), "IPv4"
    elif x < 0.25:
        kind, item, detail = "ip", public_ipv6(r), "IPv6"
    elif x < 0.40:
        detail, template = r.choice(PHONES)
        kind, item = "phone", digits(r, template)
    elif x < 0.47:
        detail, template = r.choice(national_phones())
        kind, item = "phone", digits(r, template)
    elif x < 0.53:
        kind, (item, detail) = "card", card(r)
    elif x < 0.57:
        kind, item, detail = "ssn", ssn(r), "123-45-6789"
    elif x < 0.95:
        category, gen = r.choice(LOOKALIKES)
        return gen(r), [], "lookalike:" + category
    else:
        return sentence(r), [], "plain"
    context = r.choice(CONTEXT["ipv6" if detail == "IPv6" else kind])
    start = context.index("{}")
    return context.format(item), [(start, start + len(item), kind, detail)], kind


def make_documents(n_docs: int, seed: int) -> list[dict]:
    """Labelled documents: {"text", "spans": [[start, end, type]], "formats": [...], "regions": [(start, end, source)]}."""
    r = random.Random(seed)
    docs = []
    for _ in range(n_docs):
        text, spans, formats, regions = [], [], [], []
        pos = 0
        for _ in range(r.randint(15, 25)):
            line, items, source = make_line(r)
            for s, e, kind, detail in items:
                spans.append([pos + s, pos + e, kind])
                formats.append(detail)
            regions.append((pos, pos + len(line), source))
            text.append(line)
            pos += len(line) + 1
        docs.append({"text": "\n".join(text), "spans": spans, "formats": formats, "regions": regions})
    return docs


def read_labelled(path: str) -> list[dict]:
    docs = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                text, spans = obj["text"], obj.get("spans", [])
                if not isinstance(text, str) or not isinstance(spans, list):
                    raise ValueError('"text" must be a string and "spans" a list')
                for span in spans:
                    start, end, kind = span
                    if kind not in TYPES:
                        raise ValueError(f"span {span}: type must be one of {', '.join(TYPES)}")
                    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
                        raise ValueError(f"span {span}: need 0 <= start < end <= {len(text)} (the text's length)")
            except (ValueError, TypeError, KeyError) as e:
                raise SystemExit(f"{path}:{n}: not a labelled document ({e})") from None
            spans = sorted([list(s) for s in spans])
            docs.append({"text": text, "spans": spans, "formats": [kind for _, _, kind in spans], "regions": []})
    return docs


# ---------------------------------------------------------------------------------------------- scoring


def score(docs: list[dict], found: list[list]) -> dict:
    tp, fn, fp, partial, n = (collections.Counter() for _ in range(5))
    missed_formats, fp_sources, examples = collections.Counter(), collections.Counter(), collections.defaultdict(list)
    for doc, pred in zip(docs, found):
        text, labels = doc["text"], doc["spans"]
        exact = {(s, e, k) for s, e, k in pred}
        for (s, e, kind), fmt in zip(labels, doc["formats"]):
            n[kind] += 1
            if (s, e, kind) in exact:
                tp[kind] += 1
                continue
            fn[kind] += 1
            if any(k == kind and ps < e and s < pe for ps, pe, k in pred):
                partial[kind] += 1
            missed_formats[f"{kind} {fmt}" if fmt != kind else kind] += 1
            examples[f"missed {kind}"].append(line_around(text, s, e, pred))
        for ps, pe, k in pred:
            if any(k == kind and s < pe and ps < e for s, e, kind in labels):
                continue  # exact (counted above) or partial (a false negative already)
            fp[k] += 1
            source = next((src for a, b, src in doc["regions"] if a <= ps < b), "unlabelled text")
            fp_sources[source.removeprefix("lookalike:")] += 1
            examples[f"false {k}"].append(line_around(text, ps, pe, pred))
    return {"tp": tp, "fn": fn, "fp": fp, "partial": partial, "n": n, "missed_formats": missed_formats,
            "fp_sources": fp_sources, "examples": examples}


def line_around(text: str, start: int, end: int, pred) -> tuple[str, str]:
    """The line holding [start, end) as it was and with the found spans in it marked [[...]]."""
    a = text.rfind("\n", 0, start) + 1
    b = text.find("\n", end)
    b = len(text) if b < 0 else b
    marked, pos = [], a
    for s, e, k in pred:
        if a <= s < b:
            marked += (text[pos:s], f"[[{k}:", text[s:e], "]]")
            pos = e
    marked.append(text[pos:b])
    return text[a:b], "".join(marked)


def run_stage(docs: list[dict], repeat: int):
    """PIIStage.run over fresh Documents, `repeat` times: the best time; and the spans PIIStage.find gives."""
    best = float("inf")
    for _ in range(repeat):
        copies = [Document(text=d["text"], id=str(i), metadata={}) for i, d in enumerate(docs)]
        stage = PIIStage()
        t0 = time.perf_counter()
        list(stage.run(iter(copies)))
        best = min(best, time.perf_counter() - t0)
    stage = PIIStage()
    return [stage.find(d["text"]) for d in docs], best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--labelled", metavar="FILE.jsonl", help='a labelled set of your own: one {"text": ..., "spans": '
                   '[[start, end, type], ...]} per line, types email, ip, phone, card, ssn (format above); '
                   "default: the generated set")
    p.add_argument("--docs", type=int, default=2000, help="documents in the generated set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--show", type=int, default=3, help="examples shown per kind of error")
    p.add_argument("--repeat", type=int, default=3, help="timed runs of the stage (best kept for docs/s)")
    p.add_argument("--speed-docs", metavar="PATH", help="also time PIIStage on a folder of curated-document Parquet "
                   "files (e.g. a run's documents/): real pages, where PII is rare")
    p.add_argument("--tiny", action="store_true", help="smoke test: 100 documents")
    a = p.parse_args()
    if a.tiny:
        a.docs, a.repeat = 100, 1
    if a.labelled:
        docs = read_labelled(a.labelled)
        what = f"{a.labelled}"
    else:
        docs = make_documents(a.docs, a.seed)
        what = f"generated (seed {a.seed})"
    size = sum(len(d["text"].encode()) for d in docs)
    found, dt = run_stage(docs, a.repeat)
    s = score(docs, found)
    tp, fn, fp, partial, n = s["tp"], s["fn"], s["fp"], s["partial"], s["n"]
    print(f"labelled set: {what}, {len(docs):,} documents, {size / 1e6:.2f} MB, {sum(n.values()):,} PII items")
    if not a.labelled:
        sources = collections.Counter(src.split(":")[0] for d in docs for _, _, src in d["regions"])
        print(f"  lines: {sum(sources.values()):,}, of which {sources['lookalike']:,} look-alikes and "
              f"{sources['plain']:,} plain sentences")
    print()
    print(f"{'type':<10}{'labelled':>9}{'TP':>8}{'FN':>7}{'partial':>9}{'FP':>7}{'precision':>11}{'recall':>9}")
    print("-" * 70)

    def row(name, n_, tp_, fn_, part_, fp_):
        prec = tp_ / (tp_ + fp_) if tp_ + fp_ else 1.0
        rec = tp_ / n_ if n_ else 1.0
        print(f"{name:<10}{n_:>9,}{tp_:>8,}{fn_:>7,}{part_:>9,}{fp_:>7,}{prec:>11.4f}{rec:>9.4f}")
        return prec, rec

    for k in TYPES:
        row(k, n[k], tp[k], fn[k], partial[k], fp[k])
    print("-" * 70)
    prec, rec = row("all", sum(n.values()), sum(tp.values()), sum(fn.values()), sum(partial.values()), sum(fp.values()))
    print()
    missed = s["missed_formats"]
    print("formats missed: " + (", ".join(f"{f} x{c}" for f, c in missed.most_common()) if missed else "none"))
    sources = s["fp_sources"]
    print("false positives by source: " + (", ".join(f"{c} x{k}" for c, k in sources.most_common()) if sources else "none"))
    for what_ in sorted(s["examples"]):
        for line, marked in s["examples"][what_][: a.show]:
            print(f"  {what_}: {line!r} -> {marked!r}")
    print()
    print(f"speed: {len(docs) / dt:,.0f} docs/s, {size / 1e6 / dt:.2f} MB/s (PIIStage.run, one process, best of {a.repeat})")
    if a.speed_docs:
        import glob

        import pyarrow.parquet as pq

        texts = [t for f in sorted(glob.glob(os.path.join(a.speed_docs, "*.parquet")))
                 for t in pq.read_table(f, columns=["text"]).column("text").to_pylist()]
        _, rdt = run_stage([{"text": t} for t in texts], a.repeat)
        rsize = sum(len(t.encode()) for t in texts)
        print(f"speed on {a.speed_docs}: {len(texts) / rdt:,.0f} docs/s, {rsize / 1e6 / rdt:.2f} MB/s "
              f"({len(texts):,} documents, {rsize / 1e6:.2f} MB)")
    print(f"summary: precision {prec:.4f} recall {rec:.4f} (micro, all types); docs/s {len(docs) / dt:,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
