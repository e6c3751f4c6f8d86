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


# issue 13: obfuscated e-mails, national phone forms, payment cards, US social security numbers.
@pytest.mark.parametrize(
    "text,expected",
    [
        ("Write to jane [at] example [dot] com today.", "Write to <EMAIL> today."),
        ("Mail: jane(at)example.com", "Mail: <EMAIL>"),
        ("Contact jane{at}example{dot}org.", "Contact <EMAIL>."),
        ("Reach me: jane.doe [@] example.co.uk", "Reach me: <EMAIL>"),
        ("Email john AT example DOT com now.", "Email <EMAIL> now."),
        ("E-mail: john at example dot co dot uk", "E-mail: <EMAIL>"),
        ("Send it to j.smith at example dot com.", "Send it to <EMAIL>."),
        ("Appelez le 01 23 45 67 89 demain.", "Appelez le <PHONE_NUMBER> demain."),
        ("Portable : 06.12.34.56.78", "Portable : <PHONE_NUMBER>"),
        ("Tel. 030 1234567 (Berlin)", "Tel. <PHONE_NUMBER> (Berlin)"),
        ("Tel. (030) 1234567 oder 030/1234567", "Tel. <PHONE_NUMBER> oder <PHONE_NUMBER>"),
        ("Mobil 0151 23456789", "Mobil <PHONE_NUMBER>"),
        ("Bel 06-12345678 of 020-1234567.", "Bel <PHONE_NUMBER> of <PHONE_NUMBER>."),
        ("Llame al 91 123 45 67 o al 612 34 56 78.", "Llame al <PHONE_NUMBER> o al <PHONE_NUMBER>."),
        ("Call 98765 43210 today.", "Call <PHONE_NUMBER> today."),
        ("Card 4111 1111 1111 1111 exp 12/27", "Card <CREDIT_CARD> exp 12/27"),
        ("Card 4111-1111-1111-1111.", "Card <CREDIT_CARD>."),
        ("Card 4111111111111111, thanks", "Card <CREDIT_CARD>, thanks"),
        ("Amex 3782 822463 10005 or 378282246310005", "Amex <CREDIT_CARD> or <CREDIT_CARD>"),
        ("Mastercard 5555 5555 5555 4444", "Mastercard <CREDIT_CARD>"),
        ("Diners 3056 930902 5904", "Diners <CREDIT_CARD>"),
        ("SSN 123-45-6789.", "SSN <SSN>."),
        ("Her SSN: 078-05-1120", "Her SSN: <SSN>"),
    ],
)
def test_new_forms_replaced(pii, text, expected):
    out, counts = pii.scrub(text)
    assert out == expected, counts


# each look-alike beside a real item of the same type: only the real one goes
@pytest.mark.parametrize(
    "text,expected",
    [
        # "at" and "dot" in prose
        ("Shop at amazon dot com or write to jane [at] example [dot] com.", "Shop at amazon dot com or write to <EMAIL>."),
        ("Meet me at home dot com, or mail jane(at)example.com.", "Meet me at home dot com, or mail <EMAIL>."),
        ("Contact sales at acme.com, or jane [at] example [dot] org.", "Contact sales at acme.com, or <EMAIL>."),
        ("The dot com bubble burst at the end; mail jane [at] example [dot] com.",
         "The dot com bubble burst at the end; mail <EMAIL>."),
        ("Prices start at 9 dot 99; e-mail jane [at] example [dot] com.", "Prices start at 9 dot 99; e-mail <EMAIL>."),
        ("She worked at Google dot org. Mail: jane at example dot org",
         "She worked at Google dot org. Mail: <EMAIL>"),
        # a query parameter is not part of the address it carries (datatrove's pattern took "email=" too)
        ("https://x.org/?email=jane@example.com", "https://x.org/?email=<EMAIL>"),
        # phone-like codes, opening hours, IBANs, lottery draws, big numbers
        ("Open 0800-1700, call 030 1234567.", "Open 0800-1700, call <PHONE_NUMBER>."),
        ("Model XR-0301-1234567 or call 06-12345678", "Model XR-0301-1234567 or call <PHONE_NUMBER>"),
        ("SKU 0524-55361; Catalogue no. 010/80579; tel. 01 23 45 67 89",
         "SKU 0524-55361; Catalogue no. 010/80579; tel. <PHONE_NUMBER>"),
        ("IBAN DE89 3704 0044 0532 0130 00, tel. 030 1234567", "IBAN DE89 3704 0044 0532 0130 00, tel. <PHONE_NUMBER>"),
        ("Draw 7 12 23 34 45 48, call 98765 43210", "Draw 7 12 23 34 45 48, call <PHONE_NUMBER>"),
        ("Budget 912 345 678 euros; llame al 91 123 45 67", "Budget 912 345 678 euros; llame al <PHONE_NUMBER>"),
        ("Serial 21 917 80 42 14; Tel. 0151 23456789", "Serial 21 917 80 42 14; Tel. <PHONE_NUMBER>"),
        # card-like numbers: Luhn fails, no network prefix, ISBN-13, IMEI, IBAN tail, epoch milliseconds
        ("Voucher 4111 1111 1111 1112 is void; card 4111 1111 1111 1111.", "Voucher 4111 1111 1111 1112 is void; card <CREDIT_CARD>."),
        ("ISBN-13: 9780306406157, card 5555555555554444", "ISBN-13: 9780306406157, card <CREDIT_CARD>"),
        ("IMEI 356938035643809 / card 378282246310005", "IMEI 356938035643809 / card <CREDIT_CARD>"),
        ("IBAN GB82 WEST 1234 5698 7654 32 and card 4111 1111 1111 1111",
         "IBAN GB82 WEST 1234 5698 7654 32 and card <CREDIT_CARD>"),
        ("Customer 1234567890123452 logged at 1700000000000 with card 4111111111111111",
         "Customer 1234567890123452 logged at 1700000000000 with card <CREDIT_CARD>"),
        ("Tracking 9400 1000 0000 0000 0000 00, card 4111 1111 1111 1111", "Tracking 9400 1000 0000 0000 0000 00, card <CREDIT_CARD>"),
        # numbers the SSA never issues
        ("Test IDs 000-12-3456, 666-12-3456, 912-34-5678, 123-00-4567, 123-45-0000 but SSN 123-45-6789.",
         "Test IDs 000-12-3456, 666-12-3456, 912-34-5678, 123-00-4567, 123-45-0000 but SSN <SSN>."),
    ],
)
def test_lookalikes_beside_real_items(pii, text, expected):
    out, _ = pii.scrub(text)
    assert out == expected


def test_new_types_counted_and_switchable():
    from datatrove.data import Document

    text = "Card 4111 1111 1111 1111, SSN 123-45-6789, mail jane [at] example [dot] com, tel. 01 23 45 67 89."
    stage = PIIStage(card_replacement="[CARD]")
    out = list(stage.run(iter([Document(text=text, id="1", metadata={})])))[0]
    assert out.text == "Card [CARD], SSN <SSN>, mail <EMAIL>, tel. <PHONE_NUMBER>."
    assert {k: out.metadata[f"pii_{k}"] for k in ("card", "ssn", "email", "phone")} == {"card": 1, "ssn": 1, "email": 1, "phone": 1}
    assert stage.stats["replaced/card"].total == 1 and stage.stats["replaced/ssn"].total == 1
    off, counts = PIIStage(cards=False, ssns=False, emails=False).scrub(text)
    assert counts == {"phone": 1} and "4111 1111 1111 1111" in off and "123-45-6789" in off and "[at]" in off


def test_new_switches_are_config_keys():
    from dataclasses import asdict

    from pipeline.config import parse_config

    defaults = parse_config({"stages": {"read": {}, "pii": {}}}).stages["pii"]
    assert defaults == asdict(PIIStage.Params())
    assert defaults["cards"] is True and defaults["ssns"] is True
    assert defaults["card_replacement"] == "<CREDIT_CARD>" and defaults["ssn_replacement"] == "<SSN>"
