"""Stage `pii`: e-mails, public IPs and phone numbers replaced and counted; look-alikes untouched."""

import pytest

from stages.pii import PIIStage


@pytest.fixture(scope="module")
def pii():
    return PIIStage()


@pytest.mark.parametrize(
    "text,kind",
    [
        ("Write to jane.doe@example-mail.com today.", "email"),
        ("Contact office+news@sub.domain.co.uk for details.", "email"),
        ("The server at 93.184.216.34 answered.", "ip"),
        ("Resolver 2606:4700:4700::1111 is public.", "ip"),
        ("Call +44 20 7946 0958 now.", "phone"),
        ("Call (555) 234-5678 after six.", "phone"),
        ("Call 555-867-5309 after six.", "phone"),
        ("Ring +49 30 901820 in Berlin.", "phone"),
        ("Ring +33 1 42 68 53 00 in Paris.", "phone"),
    ],
)
def test_replaced(pii, text, kind):
    out, counts = pii.scrub(text)
    assert counts == {kind: 1}, (text, out)
    assert {"email": "<EMAIL>", "ip": "<IP_ADDRESS>", "phone": "<PHONE_NUMBER>"}[kind] in out


@pytest.mark.parametrize(
    "text",
    [
        "Released as version 2.4.1.7 on 2023-11-14.",
        "Firmware v3.10.2.118 fixes the bug.",
        "The router is at 192.168.1.254 on the private network.",
        "Localhost is 127.0.0.1 and the docs use 10.0.0.1.",
        "It costs $1,299.99 or 1.299,99 EUR.",
        "ISBN 978-3-16-148410-0 is the second edition.",
        "Meet on 14.03.2024 from 10.30 to 12.45.",
        "Population 1,234,567 in 2020; area 2,345 km2.",
        "Python 3.11.7 and numpy 1.26.4 are installed.",
        "Dates like 2024-01-15 and 15/01/2024 stay.",
        "Order number 20240115 shipped.",
    ],
)
def test_lookalikes_untouched(pii, text):
    out, counts = pii.scrub(text)
    assert counts == {} and out == text


def test_counts_recorded_and_nothing_dropped(pii):
    from datatrove.data import Document

    stage = PIIStage()
    docs = [Document(text="Mail a@b-example.org or c@d-example.org, call 555-867-5309.", id="1", metadata={}), Document(text="clean", id="2", metadata={})]
    out = list(stage.run(iter(docs)))
    assert len(out) == 2
    assert out[0].metadata["pii_email"] == 2 and out[0].metadata["pii_phone"] == 1
    assert stage.stats["replaced/email"].total == 2 and stage.stats["kept"].total == 2
