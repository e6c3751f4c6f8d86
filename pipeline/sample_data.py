"""The bundled sample: a realistic WARC generated with warcio (no third-party data ships with refinery).

A few hundred HTML pages with real page structure (navigation, sidebar, footer, cookie banner) around an
article, in English, French, German and Spanish; exact and near duplicates on other sites; block-listed
domains; e-mails, IPs and phone numbers next to look-alikes (versions, dates, prices, ISBNs); low-quality
pages each filter should catch; non-HTML records (requests, metadata, images, PDFs, redirects, 404s, a
revisit); and malformed records (binary labelled HTML, a mislabelled charset, a broken gzip body, a
truncated last record). Everything is seeded: the same bytes every time.
"""

import gzip
import io
import os
import random
import uuid

from refinery.atomic import atomic_path

SAMPLE_NAME = "refinery-sample.warc.gz"
_NS = uuid.UUID("6f0d3c4e-5b0e-4c4f-9a8e-1f2d3c4b5a69")

TOPICS = {
    "gardening": dict(
        things=["tomato seedlings", "compost heaps", "raised beds", "climbing roses", "herb borders", "fruit trees", "potato crops", "hedgerows"],
        people=["allotment holders", "volunteer gardeners", "the parish council", "local growers", "our neighbours", "the horticultural society"],
        places=["the walled garden", "the community orchard", "the old rectory", "the riverside plots", "the school grounds"],
        verbs=["planted", "pruned", "watered", "mulched", "harvested", "protected"],
        adjs=["sheltered", "sandy", "neglected", "productive", "waterlogged", "sunny"],
    ),
    "astronomy": dict(
        things=["the Andromeda galaxy", "Jupiter's moons", "the lunar craters", "variable stars", "meteor showers", "the Orion nebula"],
        people=["amateur observers", "the astronomy club", "students from the college", "visiting researchers", "several families"],
        places=["the dark sky reserve", "the hilltop observatory", "the coastal car park", "the university campus"],
        verbs=["photographed", "tracked", "catalogued", "measured", "observed", "sketched"],
        adjs=["faint", "bright", "distant", "cloudless", "remarkable", "unexpected"],
    ),
    "cooking": dict(
        things=["sourdough loaves", "slow-cooked stews", "seasonal soups", "roasted vegetables", "fresh pasta", "fruit preserves"],
        people=["home cooks", "the bakery team", "visiting chefs", "our readers", "the cookery school"],
        places=["the village hall kitchen", "the farmers market", "the old mill", "the harbour cafe"],
        verbs=["baked", "simmered", "prepared", "tasted", "seasoned", "served"],
        adjs=["rich", "delicate", "hearty", "traditional", "simple", "generous"],
    ),
    "cycling": dict(
        things=["the mountain route", "gravel tracks", "the coastal path", "touring bicycles", "the hill climb", "night rides"],
        people=["club riders", "commuters", "the volunteer marshals", "younger cyclists", "the race organisers"],
        places=["the northern valley", "the canal towpath", "the forest trails", "the market town"],
        verbs=["repaired", "mapped", "completed", "resurfaced", "signposted", "explored"],
        adjs=["steep", "muddy", "scenic", "demanding", "quiet", "popular"],
    ),
    "history": dict(
        things=["the parish records", "the medieval bridge", "old photographs", "the railway station", "wartime letters", "the market charter"],
        people=["local historians", "the museum staff", "retired teachers", "descendants of the founders", "archive volunteers"],
        places=["the county archive", "the town museum", "the cathedral library", "the former mill"],
        verbs=["restored", "studied", "transcribed", "rediscovered", "documented", "preserved"],
        adjs=["fragile", "forgotten", "remarkable", "detailed", "handwritten", "surprising"],
    ),
    "software": dict(
        things=["the build system", "database migrations", "the test suite", "memory leaks", "the release process", "configuration files"],
        people=["the maintainers", "new contributors", "the operations team", "several users", "the review group"],
        places=["the main repository", "the staging servers", "the documentation site", "the issue tracker"],
        verbs=["refactored", "profiled", "documented", "reviewed", "simplified", "rewrote"],
        adjs=["reliable", "slow", "confusing", "modular", "stable", "outdated"],
    ),
}

TEMPLATES = [
    "Over the last {n} years {people} have {verb} {thing} near {place}, and the results surprised almost everyone.",
    "Most of {thing} looked {adj} when we first arrived, which is why {people} decided to start again in {month}.",
    "It is worth remembering that {thing} were not always this {adj}; in {year} they were hardly noticed at all.",
    "When {people} {verb} {thing} for the first time, they kept careful notes about what worked and what did not.",
    "A reader asked us why {thing} matter so much to {people}, and the honest answer is that they shape the whole season.",
    "By the end of {month} we had {verb} {thing} at {place}, although the weather made every step slower than planned.",
    "There is no single right way to look after {thing}, but {people} agree that patience helps more than money.",
    "The {adj} conditions at {place} meant that {people} had to change their plans more than once.",
    "If you visit {place} this {season}, ask {people} about {thing}; they are usually happy to explain their methods.",
    "Nobody expected that {thing} would become the most discussed subject among {people} this {season}.",
    "One lesson from {year} is that {thing} need attention every week, not only when something goes wrong.",
    "We spoke to {people} who have {verb} {thing} since {year}, and their advice was refreshingly practical.",
    "Although {thing} can seem {adj} at first, the details become clear after a few afternoons at {place}.",
    "Several of {people} told us that {thing} were the reason they first came to {place}.",
    "The next meeting about {thing} will take place at {place} on the {day} of {month}, and everyone is welcome.",
    "Records from {year} show that {people} {verb} {thing} in much the same way as they do today.",
    "What makes {thing} at {place} special is the mix of {adj} ground and generous volunteers.",
    "Even on {adj} days, {people} find time to check on {thing} before they head home.",
    "Our own attempt to understand {thing} began with a borrowed book and a long walk around {place}.",
    "Looking back, the decision to focus on {thing} was the best choice {people} made that {season}.",
]
FILL = dict(
    month=["January", "March", "April", "June", "August", "September", "October", "November"],
    season=["spring", "summer", "autumn", "winter"],
    day=["first", "second", "third", "fifth", "tenth", "twelfth", "twentieth"],
)

FOREIGN = {
    "fr": [
        "Le marché du samedi attire chaque semaine des familles venues de toute la région.",
        "Les bénévoles de l'association ont restauré la vieille fontaine au centre du village.",
        "Selon les habitants, la rivière n'avait jamais été aussi basse depuis de nombreuses années.",
        "La bibliothèque municipale propose désormais des ateliers d'écriture pour les enfants.",
        "Le maire a présenté le nouveau projet de piste cyclable lors de la réunion publique.",
        "Les producteurs locaux vendent leurs fromages et leurs légumes directement à la ferme.",
        "Une exposition de photographies anciennes retrace l'histoire du quartier de la gare.",
        "Les élèves du collège ont planté une centaine d'arbres le long du chemin communal.",
        "Le festival de musique accueillera cette année des groupes venus de plusieurs pays.",
        "Beaucoup de visiteurs découvrent la région grâce aux sentiers de randonnée balisés.",
    ],
    "de": [
        "Der Wochenmarkt auf dem Rathausplatz ist seit vielen Jahren ein beliebter Treffpunkt.",
        "Die freiwillige Feuerwehr hat am Wochenende ein großes Sommerfest veranstaltet.",
        "Viele Bürger haben sich an der Diskussion über den neuen Radweg beteiligt.",
        "In der Stadtbibliothek gibt es jetzt regelmäßige Lesungen für Kinder und Jugendliche.",
        "Die Bauern aus der Umgebung verkaufen ihr Gemüse direkt auf dem Hof.",
        "Eine Ausstellung im Heimatmuseum zeigt alte Fotografien aus dem Bahnhofsviertel.",
        "Die Schüler der Realschule haben entlang des Flusses neue Bäume gepflanzt.",
        "Nach dem langen Winter freuen sich die Wanderer auf die ersten warmen Tage.",
        "Der Gemeinderat will die alte Mühle renovieren und als Kulturzentrum nutzen.",
        "Das Musikfestival bringt jedes Jahr Künstler aus ganz Europa in unsere Stadt.",
    ],
    "es": [
        "El mercado de los sábados reúne cada semana a familias de toda la comarca.",
        "Los voluntarios de la asociación han restaurado la antigua fuente de la plaza.",
        "Según los vecinos, el río no había estado tan bajo desde hace muchos años.",
        "La biblioteca municipal ofrece ahora talleres de escritura para niños y jóvenes.",
        "El alcalde presentó el nuevo proyecto de carril bici en la reunión pública.",
        "Los productores locales venden sus quesos y verduras directamente en la granja.",
        "Una exposición de fotografías antiguas recorre la historia del barrio de la estación.",
        "Los alumnos del instituto plantaron un centenar de árboles junto al camino.",
        "El festival de música recibirá este año a grupos de varios países europeos.",
        "Muchos visitantes descubren la región gracias a los senderos señalizados.",
    ],
}

SITES = ["northfield-gazette.org", "riverside-notes.net", "hilltop-journal.com", "parish-pump.org.uk", "weekend-reader.com",
         "greenlane-blog.net", "old-town-news.org", "valley-courier.com"]
FOREIGN_SITES = {"fr": "journal-du-village.fr", "de": "stadtbote-online.de", "es": "noticias-del-valle.es"}
# hosts on datatrove's bundled block lists (a listed subdomain, and banned words in the URL)
BLOCKED_URLS = ["http://22babes.blogspot.mk/2019/05/post.html", "http://www.18abused-videos.example.com/watch/1",
                "https://free-porn-tube.example.net/index.html"]

PII_SENTENCES = [
    "For questions about the event, write to {email} or call {phone} during office hours.",
    "The club secretary can be reached at {email}, and the booking line is {phone}.",
    "Our server moved to {ip} last week, so please update any bookmarks that used the old address.",
    "Readers reported that the mirror at {ip} was slow, so we added a second one.",
]
LOOKALIKE_SENTENCES = [
    "The update to version 2.4.1.7 was released on 2023-11-14 and costs $1,299.99 for a site licence.",
    "The guide (ISBN 978-3-16-148410-0) sold 1,250 copies in 2022, at 12.50 EUR each.",
    "Meetings run from 10.30 to 12.45 on 14.03.2024, and the hall holds 1.250 people.",
    "The router's local address is 192.168.1.254 and the firmware is v3.10.2.118.",
]


def _sentence(rng: random.Random, topic: dict, template: str | None = None) -> str:
    t = template or rng.choice(TEMPLATES)
    return t.format(
        n=rng.randint(2, 40),
        year=rng.randint(1950, 2023),
        people=rng.choice(topic["people"]),
        verb=rng.choice(topic["verbs"]),
        thing=rng.choice(topic["things"]),
        place=rng.choice(topic["places"]),
        adj=rng.choice(topic["adjs"]),
        month=rng.choice(FILL["month"]),
        season=rng.choice(FILL["season"]),
        day=rng.choice(FILL["day"]),
    )


def _article(rng: random.Random, topic_name: str) -> tuple[str, list[str]]:
    topic = TOPICS[topic_name]
    title = f"{rng.choice(topic['adjs']).capitalize()} {rng.choice(topic['things'])} at {rng.choice(topic['places'])}"
    sizes = [rng.randint(3, 4) for _ in range(rng.randint(4, 5))]
    # each template at most once per article: repeated template text would (rightly) trip Gopher's n-gram rules
    templates = rng.sample(TEMPLATES, sum(sizes))
    paragraphs, start = [], 0
    for size in sizes:
        paragraphs.append(" ".join(_sentence(rng, topic, t) for t in templates[start : start + size]))
        start += size
    return title, paragraphs


def _page(site: str, title: str, paragraphs: list[str], lang: str = "en", charset: str | None = "utf-8") -> str:
    nav = "".join(f'<li><a href="/{s}">{s.capitalize()}</a></li>' for s in ("home", "news", "events", "about", "contact"))
    related = "".join(f'<li><a href="/post/{i}">Related story {i}</a></li>' for i in range(1, 6))
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    meta = f'<meta charset="{charset}">' if charset else ""
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head>{meta}<title>{title} | {site}</title></head><body>'
        f'<header><div class="logo">{site}</div><nav><ul>{nav}</ul></nav></header>'
        f'<div class="cookie-banner">This site uses cookies. <a href="/privacy">Privacy policy</a></div>'
        f'<main><article><h1>{title}</h1><div class="byline">Posted by the editors</div>{body}</article></main>'
        f'<aside><h3>Related</h3><ul>{related}</ul></aside>'
        f'<footer><p>Copyright {site}. All rights reserved.</p><a href="/terms">Terms of use</a></footer>'
        "</body></html>"
    )


def _mutate(paragraphs: list[str], rng: random.Random, rate: float) -> list[str]:
    out = []
    for p in paragraphs:
        words = p.split(" ")
        for i in range(len(words)):
            if rng.random() < rate:
                words[i] = rng.choice(["really", "quite", "also", "still", "often"])
        out.append(" ".join(words))
    return out


def build_pages(seed: int = 0) -> list[dict]:
    """Every page of the sample, as dicts of url, html (str or bytes), content_type, status, kind."""
    rng = random.Random(seed)
    pages: list[dict] = []
    topics = sorted(TOPICS)
    originals = []
    for i in range(200):
        topic = topics[i % len(topics)]
        title, paragraphs = _article(rng, topic)
        if i % 10 == 3:
            paragraphs[1] += " " + rng.choice(PII_SENTENCES).format(
                email=f"{rng.choice(['anna', 'tom', 'office', 'info'])}.{i}@{rng.choice(SITES)}",
                phone=rng.choice(["+44 20 7946 0958", "(555) 234-5678", "+49 30 901820", "555-867-5309", "+33 1 42 68 53 00"]),
                ip=rng.choice(["8.8.4.4", "93.184.216.34", "151.101.1.69", "2606:4700:4700::1111"]),
            )
        if i % 10 == 5:
            paragraphs[2] += " " + rng.choice(LOOKALIKE_SENTENCES)
        site = SITES[i % len(SITES)]
        url = f"https://www.{site}/{topic}/{i:04d}-{title.lower().replace(' ', '-')[:40]}"
        pages.append(dict(url=url, html=_page(site, title, paragraphs), kind="article"))
        originals.append((title, paragraphs, site))
    for j in range(15):  # exact copies of the article text, syndicated on another site
        title, paragraphs, site = originals[j * 7]
        other = SITES[(SITES.index(site) + 3) % len(SITES)]
        pages.append(dict(url=f"https://{other}/syndicated/{j}", html=_page(other, title, paragraphs), kind="exact_dup"))
    for j in range(15):  # near copies: a few words changed
        title, paragraphs, site = originals[j * 11 + 1]
        other = SITES[(SITES.index(site) + 5) % len(SITES)]
        pages.append(
            dict(url=f"https://{other}/reprint/{j}", html=_page(other, title, _mutate(paragraphs, rng, 0.02)), kind="near_dup")
        )
    for lang, sentences in FOREIGN.items():
        for j in range(10):
            paras = [" ".join(rng.sample(sentences, 5)) for _ in range(4)]
            pages.append(
                dict(url=f"https://{FOREIGN_SITES[lang]}/article/{j}", html=_page(FOREIGN_SITES[lang], sentences[j][:40], paras, lang), kind=f"lang_{lang}")
            )
    for j, url in enumerate(BLOCKED_URLS):
        title, paragraphs = _article(rng, topics[j])
        pages.append(dict(url=url, html=_page("blocked", title, paragraphs), kind="blocked"))
    low = {
        "short": ["Opening hours: Monday to Friday, nine to five."],
        "lorem": ["Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 2 + _sentence(rng, TOPICS["cooking"])] * 1
        + [_sentence(rng, TOPICS["cooking"]) + " " + _sentence(rng, TOPICS["cooking"]) for _ in range(5)],
        "code": ["function init() { return window.config || {}; } " + _sentence(rng, TOPICS["software"])]
        + [_sentence(rng, TOPICS["software"]) + " " + _sentence(rng, TOPICS["software"]) for _ in range(5)],
        "spam": ["Buy cheap watches online now best price buy cheap watches online now best price."] * 12,
        "links": [f"Page {k}" for k in range(40)],
    }
    for name, paras in low.items():
        pages.append(dict(url=f"https://www.weekend-reader.com/misc/{name}", html=_page("weekend-reader.com", name, paras), kind=f"low_{name}"))
    # a Latin-1 page labelled UTF-8: must be decoded (with the detected charset) and kept
    title, paragraphs = _article(rng, "cooking")
    paragraphs[0] = "Crème brûlée, café au lait and jalapeño salsa were on the menu. " + paragraphs[0]
    pages.append(
        dict(url="https://www.valley-courier.com/food/latin1", html=_page("valley-courier.com", title, paragraphs, charset=None).encode("latin-1"),
             content_type="text/html; charset=utf-8", kind="latin1_labelled_utf8")
    )
    # non-HTML responses and HTTP errors
    for j in range(5):
        pages.append(dict(url=f"https://www.hilltop-journal.com/img/{j}.jpg", html=b"\xff\xd8\xff\xe0" + bytes(rng.randrange(256) for _ in range(600)),
                          content_type="image/jpeg", kind="image"))
    for j in range(3):
        pages.append(dict(url=f"https://www.hilltop-journal.com/docs/{j}.pdf", html=b"%PDF-1.4\n" + bytes(rng.randrange(256) for _ in range(400)),
                          content_type="application/pdf", kind="pdf"))
    for j in range(2):
        pages.append(dict(url=f"https://www.old-town-news.org/missing/{j}", html="<html><body>Not found</body></html>", status="404 Not Found", kind="404"))
    for j in range(3):
        pages.append(dict(url=f"http://old-town-news.org/moved/{j}", html="", status="301 Moved Permanently",
                          extra_headers=[("Location", f"https://www.old-town-news.org/moved/{j}")], kind="redirect"))
    # binary bytes labelled text/html
    pages.append(dict(url="https://www.greenlane-blog.net/broken.html", html=bytes(rng.randrange(256) for _ in range(2000)), kind="binary_as_html"))
    # gzip Content-Encoding whose body is not gzip
    pages.append(dict(url="https://www.greenlane-blog.net/bad-gzip.html", html=b"\x1f\x8bthis is not really gzip data" * 20,
                      extra_headers=[("Content-Encoding", "gzip")], kind="bad_content_encoding"))
    return pages


def _record_id(key: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(_NS, key)}>"


def write_sample(folder: str, seed: int = 0) -> str:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, SAMPLE_NAME)
    date = "2024-02-21T08:15:00Z"
    with atomic_path(path, "sample WARC") as tmp, open(tmp, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        info = writer.create_warcinfo_record(
            SAMPLE_NAME, {"software": "refinery sample generator", "isPartOf": "REFINERY-SAMPLE", "format": "WARC File Format 1.1"}
        )
        info.rec_headers.replace_header("WARC-Record-ID", _record_id("warcinfo"))
        info.rec_headers.replace_header("WARC-Date", date)
        writer.write_record(info)
        for n, page in enumerate(build_pages(seed)):
            url = page["url"]
            body = page["html"].encode("utf-8") if isinstance(page["html"], str) else page["html"]
            headers = [("Content-Type", page.get("content_type", "text/html; charset=utf-8")), ("Content-Length", str(len(body)))]
            headers += page.get("extra_headers", [])
            http = StatusAndHeaders(page.get("status", "200 OK"), headers, protocol="HTTP/1.1")
            req = writer.create_warc_record(
                url, "request", payload=io.BytesIO(b""),
                http_headers=StatusAndHeaders(f"GET /{n} HTTP/1.1", [("Host", url.split("/")[2])], is_http_request=True),
                warc_headers_dict={"WARC-Record-ID": _record_id(f"req{n}"), "WARC-Date": date},
            )
            writer.write_record(req)
            resp = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=http,
                warc_headers_dict={"WARC-Record-ID": _record_id(f"resp{n}"), "WARC-Date": date},
            )
            writer.write_record(resp)
            if n % 25 == 0:
                meta = writer.create_warc_record(
                    url, "metadata", payload=io.BytesIO(b"fetchTimeMs: 112\n"),
                    warc_headers_dict={"WARC-Record-ID": _record_id(f"meta{n}"), "WARC-Date": date, "Content-Type": "application/warc-fields"},
                )
                writer.write_record(meta)
        revisit = writer.create_revisit_record(SITES[0] and f"https://www.{SITES[0]}/", digest="sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                               refers_to_uri=f"https://www.{SITES[0]}/", refers_to_date=date)
        revisit.rec_headers.replace_header("WARC-Record-ID", _record_id("revisit"))
        revisit.rec_headers.replace_header("WARC-Date", date)
        writer.write_record(revisit)
        # a last record cut short: its Content-Length promises more bytes than the file holds
        html = _page(SITES[1], "Cut short", ["This page was cut off by the crawler before it ended."] * 3).encode()
        http_part = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + html
        head = (
            "WARC/1.1\r\nWARC-Type: response\r\nWARC-Target-URI: https://www.riverside-notes.net/cut-short\r\n"
            f"WARC-Date: {date}\r\nWARC-Record-ID: {_record_id('truncated')}\r\n"
            f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http_part) + 5000}\r\n\r\n"
        ).encode()
        f.write(gzip.compress(head + http_part, mtime=0))
    return path
