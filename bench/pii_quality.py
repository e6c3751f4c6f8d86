"""PII stage quality and speed: precision and recall of stages.pii.PIIStage on a seeded, labelled synthetic set.

    python bench/pii_quality.py                # 2,000 documents (~40,000 labelled lines), a few seconds
    python bench/pii_quality.py --docs 5000 --seed 3 --show 5
    python bench/pii_quality.py --speed-docs runs/real/documents   # also docs/s on real curated pages
    python bench/pii_quality.py --tiny         # smoke test

The set: documents of 15 to 25 lines; each line is a sentence holding exactly one item, or none:
  - PII that must be replaced: e-mail addresses, public IPv4 and IPv6 addresses, phone numbers written the ways
    people write them in the US, UK, Germany, France, India, Japan, Brazil, Australia and others (international
    "+CC ..." forms, and national forms for several countries);
  - look-alikes that must be left alone: software versions, dates, times, prices, ISBNs, private/reserved/
    documentation IP addresses, order and tracking numbers, coordinates, counts, scores, MAC addresses,
    social-media handles, file names ...;
  - plain sentences (must come out unchanged).
The documents go through PIIStage.run (the pipeline's code path) and each output line is compared with its
expected line (the item replaced by its placeholder, or the line unchanged):
  true positive  a labelled span replaced, exactly, by the right placeholder;
  false negative a labelled span not replaced, replaced in part ("partial": a piece of it left beside the right
                 placeholder), or replaced by the wrong placeholder;
  false positive any placeholder that should not be there (a look-alike or plain text replaced, a wrong type),
                 counted against the placeholder's type (IPv4/IPv6 told apart by the text it replaced).
It prints a table per type, the phone formats that were missed, docs/s and MB/s, and a summary line
`summary: precision P recall R (micro, all types); docs/s D`.
"""

import argparse
import collections
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from datatrove.data import Document  # noqa: E402

from stages.pii import PIIStage  # noqa: E402

PLACEHOLDER = {"email": "<EMAIL>", "ipv4": "<IP_ADDRESS>", "ipv6": "<IP_ADDRESS>", "phone": "<PHONE_NUMBER>"}
KINDS = ("email", "ipv4", "ipv6", "phone")

WORDS = ("the team said that our office will open again next week after the long holiday and every visitor "
         "should bring a valid ticket because the museum is very busy in summer when many families travel to "
         "see old paintings new gardens and the famous river walk").split()

# ---------------------------------------------------------------------------------------------- items


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

CONTEXT = {
    "email": ["Write to {} for details.", "Contact: {}", "Send your CV to {}, or call us.", "E-mail {} today.",
              "<{}> wrote:", "Questions? mailto:{} is monitored.", "Reach the editor ({}) before Friday."],
    "ipv4": ["The server at {} answered.", "Server {} is down again.", "Our DNS server {} resolves it.",
             "Login from IP address {} was blocked.", "Open http://{}:8080/admin in a browser.",
             "Traceroute: hop 7 ({}) 23 ms.", "Banned: {}.", "ping {} -c 4", "The resolver {} is public."],
    "ipv6": ["The server at {} answered.", "Resolver {} is public.", "Connect to [{}]:443 with TLS.",
             "Open http://[{}]/ in the browser.", "AAAA record: {}.", "Login from {} was blocked."],
    "phone": ["Call us on {}.", "Tel: {}", "Phone: {} (Mon-Fri)", "Contact John at {} or by mail.",
              "Reservations: {}, open daily.", "WhatsApp {}", "Fax {}.", "Ring {} after six."],
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


def sentence(r: random.Random) -> str:
    return " ".join(r.choice(WORDS) for _ in range(r.randint(6, 14))).capitalize() + "."


def make_line(r: random.Random) -> tuple[str, str, str, str]:
    """(input line, expected line, label kind or 'lookalike'/'plain', detail)."""
    x = r.random()
    if x < 0.15:
        kind, item, detail = "email", email(r), ""
    elif x < 0.25:
        kind, item, detail = "ipv4", public_ipv4(r), ""
    elif x < 0.32:
        kind, item, detail = "ipv6", public_ipv6(r), ""
    elif x < 0.55:
        detail, template = r.choice(PHONES)
        kind, item = "phone", digits(r, template)
    elif x < 0.92:
        detail, gen = r.choice(LOOKALIKES)
        line = gen(r)
        return line, line, "lookalike", detail
    else:
        line = sentence(r)
        return line, line, "plain", ""
    context = r.choice(CONTEXT[kind])
    return context.format(item), context.format(PLACEHOLDER[kind]), kind, detail


def make_documents(n_docs: int, seed: int):
    r = random.Random(seed)
    docs, labels = [], []
    for i in range(n_docs):
        lines = [make_line(r) for _ in range(r.randint(15, 25))]
        docs.append(Document(text="\n".join(x[0] for x in lines), id=f"pii-{i}", metadata={}))
        labels.append(lines)
    return docs, labels


# ---------------------------------------------------------------------------------------------- scoring


def replaced_kinds(line: str) -> list[str]:
    return [k for k, p in (("email", "<EMAIL>"), ("ip", "<IP_ADDRESS>"), ("phone", "<PHONE_NUMBER>"))
            for _ in range(line.count(p))]


def changed_part(before: str, after: str) -> str:
    i = 0
    while i < min(len(before), len(after)) and before[i] == after[i]:
        i += 1
    j = 0
    while j < min(len(before), len(after)) - i and before[-1 - j] == after[-1 - j]:
        j += 1
    return before[i : len(before) - j]


def score(out_docs, labels):
    tp, fn, fp, partial, n = (collections.Counter() for _ in range(5))
    missed_formats, examples = collections.Counter(), collections.defaultdict(list)
    fp_by_category = collections.Counter()
    for doc, lines in zip(out_docs, labels):
        out_lines = doc.text.split("\n")
        if len(out_lines) != len(lines):  # a replacement ran across lines: score every line of the doc as wrong
            out_lines = [None] * len(lines)
        for got, (line, want, kind, detail) in zip(out_lines, lines):
            if kind in KINDS:
                n[kind] += 1
            if got == want:
                if kind in KINDS:
                    tp[kind] += 1
                continue
            got = got if got is not None else ""
            placed = replaced_kinds(got)
            if kind in KINDS:
                fn[kind] += 1
                right = "ip" if kind.startswith("ip") else kind
                if right in placed:
                    partial[kind] += 1
                    placed.remove(right)
                if kind == "phone":
                    missed_formats[detail] += 1
                examples[f"missed {kind}"].append((line, got))
            for p in placed:  # placeholders that should not be there
                if p == "ip":
                    p = "ipv6" if ":" in changed_part(line, got) and "." not in changed_part(line, got) else "ipv4"
                fp[p] += 1
                fp_by_category[detail or kind] += 1
                examples[f"false {p}"].append((line, got))
    return tp, fn, fp, partial, n, missed_formats, fp_by_category, examples


def run_stage(docs, repeat: int):
    """PIIStage.run over fresh copies of the documents, `repeat` times: the output of the first, the best time."""
    best, out = float("inf"), None
    for _ in range(repeat):
        copies = [Document(text=d.text, id=d.id, metadata={}) for d in docs]
        stage = PIIStage()
        t0 = time.perf_counter()
        got = list(stage.run(iter(copies)))
        best = min(best, time.perf_counter() - t0)
        out = out or got
    return out, best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--docs", type=int, default=2000, help="documents in the labelled set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--show", type=int, default=3, help="examples shown per kind of error")
    p.add_argument("--repeat", type=int, default=3, help="timed runs of the stage (best kept for docs/s)")
    p.add_argument("--speed-docs", metavar="PATH", help="also time PIIStage on a folder of curated-document Parquet "
                   "files (e.g. a run's documents/): real pages, where PII is rare")
    p.add_argument("--tiny", action="store_true", help="smoke test: 100 documents")
    a = p.parse_args()
    if a.tiny:
        a.docs, a.repeat = 100, 1
    docs, labels = make_documents(a.docs, a.seed)
    size = sum(len(d.text.encode()) for d in docs)
    n_lines = sum(len(x) for x in labels)
    out, dt = run_stage(docs, a.repeat)
    tp, fn, fp, partial, n, missed_formats, fp_by_category, examples = score(out, labels)
    lookalikes = sum(1 for ls in labels for x in ls if x[2] == "lookalike")
    plain = sum(1 for ls in labels for x in ls if x[2] == "plain")
    print(f"labelled set: {len(docs):,} documents, {n_lines:,} lines, {size / 1e6:.2f} MB; "
          f"{sum(n.values()):,} PII items, {lookalikes:,} look-alike lines, {plain:,} plain lines (seed {a.seed})")
    print()
    print(f"{'type':<10}{'labelled':>9}{'TP':>8}{'FN':>7}{'partial':>9}{'FP':>7}{'precision':>11}{'recall':>9}")
    print("-" * 70)

    def row(name, n_, tp_, fn_, part_, fp_):
        prec = tp_ / (tp_ + fp_) if tp_ + fp_ else 1.0
        rec = tp_ / n_ if n_ else 1.0
        print(f"{name:<10}{n_:>9,}{tp_:>8,}{fn_:>7,}{part_:>9,}{fp_:>7,}{prec:>11.4f}{rec:>9.4f}")
        return prec, rec

    for k in KINDS:
        row(k, n[k], tp[k], fn[k], partial[k], fp[k])
    print("-" * 70)
    prec, rec = row("all", sum(n.values()), sum(tp.values()), sum(fn.values()), sum(partial.values()), sum(fp.values()))
    print()
    if missed_formats:
        print(f"phone formats missed (of the {len(PHONES)} generated): " + ", ".join(f"{f} x{c}" for f, c in missed_formats.most_common()))
    else:
        print("phone formats missed: none")
    if fp_by_category:
        print("false positives by source: " + ", ".join(f"{c} x{k}" for c, k in fp_by_category.most_common()))
    else:
        print("false positives by source: none")
    for what in sorted(examples):
        for line, got in examples[what][: a.show]:
            print(f"  {what}: {line!r} -> {got!r}")
    print()
    print(f"speed: {len(docs) / dt:,.0f} docs/s, {size / 1e6 / dt:.2f} MB/s, {n_lines / dt:,.0f} lines/s "
          f"(PIIStage.run, one process, best of {a.repeat})")
    if a.speed_docs:
        import glob

        import pyarrow.parquet as pq

        texts = [t for f in sorted(glob.glob(os.path.join(a.speed_docs, "*.parquet")))
                 for t in pq.read_table(f, columns=["text"]).column("text").to_pylist()]
        real = [Document(text=t, id=str(i), metadata={}) for i, t in enumerate(texts)]
        _, rdt = run_stage(real, a.repeat)
        rsize = sum(len(t.encode()) for t in texts)
        print(f"speed on {a.speed_docs}: {len(real) / rdt:,.0f} docs/s, {rsize / 1e6 / rdt:.2f} MB/s "
              f"({len(real):,} documents, {rsize / 1e6:.2f} MB)")
    print(f"summary: precision {prec:.4f} recall {rec:.4f} (micro, all types); docs/s {len(docs) / dt:,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
