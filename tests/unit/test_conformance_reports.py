"""The conformance reports: terminal lines, JUnit XML, the HTML file and the signed JSON result."""
from __future__ import annotations

import base64
import datetime as dt
import io
import json

import lxml.html
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from lxml import etree

from gateway.adapters.esaraban import Exchange
from gateway.conformance import reports
from gateway.conformance.plan import Case, Failed, NotCheckable, Outcome, Report, Status, run
from gateway.core.errors import GatewayError
from gateway.core.trust import pki
from gateway.testing.clock import FakeClock

NOW = dt.datetime(2026, 12, 2, 4, 47, 30, tzinfo=dt.timezone.utc)     # 11:47:30 in Bangkok
SUBJECT = "หนังสือเชิญประชุม <script>alert('x')</script> & คณะกรรมการ"
FAILED_TH = "การตรวจเวลาของโหนดตอบเวลาที่ถูกต้อง"


def _case(id: str, en: str, th: str, **kw) -> Case:
    return Case(id=id, plan="node", title_en=en, title_th=th, section=kw.pop("section", "3.2.1"), **kw)


def _envelope(inner: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?><soap:Envelope '
            'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            f"{inner}</soap:Body></soap:Envelope>").encode("utf-8")


def build_report() -> Report:
    request = _envelope("<CorrespondenceLetterOutboundRequest><Subject>หนังสือเชิญประชุม &lt;script&gt;"
                        "alert('x')&lt;/script&gt;</Subject></CorrespondenceLetterOutboundRequest>")
    response = _envelope("<TimeCheckResponse><ECMSTime>2026-12-02T11:47:30+07:00</ECMSTime>"
                         "<Note>เวลาไม่ตรง</Note></TimeCheckResponse>")
    exchanges = [
        Exchange(method="POST", url="http://127.0.0.1:8080/ecms/1001", request_headers={
                 "Content-Type": "text/xml; charset=utf-8", "X-Subject": SUBJECT}, request_body=request,
                 status=500, response_headers={"Content-Type": "text/xml; charset=utf-8"},
                 response_body=response, seconds=0.123),
        Exchange(method="POST", url="http://127.0.0.1:8080/ecms/1001", request_headers={},
                 request_body=b"\xff\xfe not utf-8 \x00", status=0, response_headers={}, response_body=b"",
                 seconds=5.0, error="ConnectTimeout: <b>no answer</b>"),
    ]
    failed = Outcome(case=_case("A3", "TimeCheck gives the node's clock", FAILED_TH,
                                prerequisite="โหนดเปิดให้บริการ / the node is up"),
                     status=Status.FAILED, seconds=0.42, exchanges=exchanges,
                     message=f"ECMSTime: expected within 5 s of the kit's clock, got 93 s off\nsubject {SUBJECT}\x01")
    return Report(
        plan="node", started="2026-12-02T11:47:30+07:00", finished="2026-12-02T11:49:05+07:00",
        kit_version="0.1.0", target={"endpoint": "http://127.0.0.1:8080/ecms/1001",
                                     "organisations": "1001 กรมทดสอบ, 1002 กรมตัวอย่าง"},
        outcomes=[
            Outcome(case=_case("A1", "WSDL is served", "โหนดให้บริการ WSDL", section="transport"),
                    status=Status.PASSED, seconds=0.05),
            failed,
            Outcome(case=_case("A4", "Visibility timeout is honoured", "ระยะเวลาซ่อนรายการถูกต้อง"),
                    status=Status.NOT_CHECKABLE, message="the timeout is 3600 s; the run waits at most 60 s"),
            Outcome(case=_case("A5", "Deleted letters stay deleted", "หนังสือที่ลบแล้วไม่กลับมา", requires=("A3",)),
                    status=Status.BLOCKED, message="needs A3 to pass first"),
            Outcome(case=_case("A6", "Organisation list in Thai", "รายชื่อหน่วยงานภาษาไทย"),
                    status=Status.ERROR, message="KeyError: 'ID'\nTraceback (most recent call last): ..."),
            Outcome(case=_case("A7", "Thai subject survives", "ชื่อเรื่องภาษาไทยไม่เพี้ยน"),
                    status=Status.PASSED, seconds=0.2),
        ])


@pytest.fixture(scope="module")
def pkis():
    """Per algorithm: a CA, an operator certificate it issued, and an impostor CA of the same name."""
    made = {}
    for algorithm in ("rsa", "ecdsa"):
        ca = pki.create_ca("ศูนย์ทดสอบ CA", algorithm=algorithm, now=NOW)
        operator = pki.issue_organization(ca, "1001", "กรมทดสอบ", algorithm=algorithm, now=NOW)
        impostor = pki.create_ca("ศูนย์ทดสอบ CA", algorithm=algorithm, now=NOW)
        made[algorithm] = (ca, operator, impostor)
    return made


def sign(issued: pki.Issued, report: Report | None = None) -> bytes:
    return reports.signed_json(report or build_report(), key_pem=pki.pem_private_key(issued.key),
                               cert_pem=pki.pem_certificate(issued.certificate))


# ------------------------------------------------------------------ terminal

def test_progress_lines_plain_with_the_first_line_of_a_failure():
    stream = io.StringIO()
    show = reports.progress(stream)
    report = build_report()
    for index, outcome in enumerate(report.outcomes, 1):
        show(outcome, index, 29)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[ 1/29] A1    PASS      0.05 s  WSDL is served")
    assert lines[1].startswith("[ 2/29] A3    FAIL      0.42 s  TimeCheck gives the node's clock")
    assert lines[2] == "        ECMSTime: expected within 5 s of the kit's clock, got 93 s off"
    assert "subject หนังสือ" not in stream.getvalue()                    # only the message's first line
    words = [line.split("] ", 1)[1].split()[1] for line in lines if line.startswith("[")]
    assert words == ["PASS", "FAIL", "N/C", "BLOCKED", "ERROR", "PASS"]
    assert "\x1b[" not in stream.getvalue()


def test_progress_is_coloured_on_a_terminal_and_works_as_the_runners_callback():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    def broken(ctx):
        raise Failed("ProcessID: expected a UUID, got ''")

    def waits(ctx):
        raise NotCheckable("ต้องรอ 3600 วินาที")

    cases = [_case("A1", "passes", "ผ่าน"), _case("A2", "fails", "ไม่ผ่าน", check=broken),
             _case("A3", "waits", "รอ", check=waits), _case("A4", "needs A2", "ต้องผ่าน A2", requires=("A2",))]
    stream = Tty()
    ctx = type("Ctx", (), {})()
    report = run(Report(plan="node", target={}, started=NOW.isoformat()), cases, ctx, clock=FakeClock(NOW),
                 progress=reports.progress(stream))
    out = stream.getvalue()
    assert "\x1b[32mPASS" in out and "\x1b[31mFAIL" in out and "\x1b[33mBLOCKED" in out
    assert "ProcessID: expected a UUID, got ''" in out and "needs A2 to pass first" in out
    assert [o.status for o in report.outcomes] == [Status.PASSED, Status.FAILED, Status.NOT_CHECKABLE,
                                                   Status.BLOCKED]


def test_summary_counts_ids_and_verdict():
    text = reports.summary(build_report())
    assert text.splitlines()[0] == "6 cases: 2 passed, 1 failed, 1 not-checkable, 1 blocked, 1 error"
    assert "failed: A3" in text and "error: A6" in text and "blocked: A5" in text
    assert text.splitlines()[-1] == "The target does NOT conform to plan node (A3, A5, A6 did not pass)."
    good = build_report()
    good.outcomes = [o for o in good.outcomes if o.status in (Status.PASSED, Status.NOT_CHECKABLE)]
    assert reports.summary(good).splitlines()[-1] == \
        "The target CONFORMS to plan node: every case that ran passed."


# ------------------------------------------------------------------ JUnit

def test_junit_counts_match_the_cases_and_it_parses():
    data = reports.junit_xml(build_report())
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = etree.fromstring(data)
    suites = root.findall("testsuite")
    assert root.tag == "testsuites" and len(suites) == 1
    suite = suites[0]
    assert suite.get("name") == "conformance-node"
    cases = suite.findall("testcase")
    assert len(cases) == int(suite.get("tests")) == int(root.get("tests")) == 6
    assert int(suite.get("failures")) == len(suite.findall("testcase/failure")) == 1
    assert int(suite.get("errors")) == len(suite.findall("testcase/error")) == 1
    assert int(suite.get("skipped")) == len(suite.findall("testcase/skipped")) == 2
    assert float(suite.get("time")) == pytest.approx(0.67, abs=0.001)
    failed = cases[1]
    assert failed.get("classname") == "conformance.node"
    assert failed.get("name") == "A3 TimeCheck gives the node's clock" and failed.get("time") == "0.420"
    failure = failed.find("failure")
    assert failure.get("message") == "ECMSTime: expected within 5 s of the kit's clock, got 93 s off"
    assert SUBJECT in failure.text and "\\x01" in failure.text    # Thai kept, control character shown
    assert "http://127.0.0.1:8080/ecms/1001 -> 500" in failed.findtext("system-out")
    assert cases[2].find("skipped").get("message").startswith("not-checkable: the timeout is 3600 s")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["organisations"] == "1001 กรมทดสอบ, 1002 กรมตัวอย่าง" and props["kit_version"] == "0.1.0"


# ------------------------------------------------------------------ HTML

def test_html_escapes_everything_and_is_self_contained():
    text = reports.html(build_report())
    assert text.startswith("<!DOCTYPE html>") and '<html lang="th">' in text
    assert "<script" not in text.lower() and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "<b>no answer</b>" not in text and "&lt;b&gt;no answer&lt;/b&gt;" in text
    doc = lxml.html.document_fromstring(text)
    assert not doc.xpath("//script | //img | //iframe | //link[@rel='stylesheet'] | //*[@src]")
    assert [h for h in doc.xpath("//@href") if not h.startswith("data:")] == []
    assert SUBJECT in doc.text_content()          # the subject is text, exactly as it was


def test_html_shows_failures_first_with_both_titles_and_the_facts():
    doc = lxml.html.document_fromstring(reports.html(build_report()))
    order = [s.get("id") for s in doc.xpath("//section[contains(@class, 'case')]")]
    assert order == ["case-A3", "case-A6", "case-A1", "case-A4", "case-A5", "case-A7"]
    failed = doc.get_element_by_id("case-A3")
    assert FAILED_TH in failed.text_content() and "TimeCheck gives the node's clock" in failed.text_content()
    assert "3.2.1" in failed.text_content() and "โหนดเปิดให้บริการ / the node is up" in failed.text_content()
    assert "ต้องผ่านก่อน / Requires" in doc.get_element_by_id("case-A5").text_content()
    page = doc.text_content()
    assert "http://127.0.0.1:8080/ecms/1001" in page and "1001 กรมทดสอบ, 1002 กรมตัวอย่าง" in page
    assert "0.1.0" in page and "ไม่เป็นไปตามมาตรฐาน" in page
    assert not doc.get_element_by_id("case-A1").xpath(".//details")       # passed cases carry no envelopes


def test_html_times_are_bangkok_with_the_buddhist_era_year():
    text = reports.html(build_report())
    assert "2 ธันวาคม 2569 11:47:30 น." in text and "2 ธันวาคม 2569 11:49:05 น." in text
    assert reports.thai_time("2026-12-31T20:00:00+00:00") == "1 มกราคม 2570 03:00:00 น."
    assert reports.thai_time("2027-02-28T08:00:00") == "28 กุมภาพันธ์ 2570 08:00:00 น."
    assert reports.thai_time("") == "—"


def test_html_envelopes_pretty_printed_decoded_and_truncated():
    report = build_report()
    big = _envelope("<Payload>" + "ก" * 100_000 + "</Payload>")
    report.outcomes[1].exchanges.append(Exchange(
        method="POST", url="http://127.0.0.1:8080/ecms/1001", request_headers={}, request_body=big, status=200,
        response_headers={"Content-Type": "application/octet-stream"}, response_body=b"<not xml", seconds=0.1))
    doc = lxml.html.document_fromstring(reports.html(report))
    exchanges = doc.get_element_by_id("case-A3").xpath(".//details[@class='exchange']")
    assert len(exchanges) == 3
    first = exchanges[0].text_content()
    assert "POST http://127.0.0.1:8080/ecms/1001 → HTTP 500" in first
    assert "Content-Type: text/xml; charset=utf-8" in first
    assert "\n  <soap:Body>\n    <TimeCheckResponse>" in first and "<Note>เวลาไม่ตรง</Note>" in first
    second = exchanges[1].text_content()
    assert "ไม่มีคำตอบ / no answer" in second and "\ufffd\ufffd not utf-8 \\x00" in second
    bodies = exchanges[2].xpath(".//pre[@class='body']")
    assert "truncated at 64 KiB" in bodies[0].text_content()
    assert len(bodies[0].text_content()) < 64 * 1024 + 200
    assert bodies[1].text_content() == "<not xml"
    assert doc.get_element_by_id("case-A6").xpath(".//p")[-1].text_content() == "ไม่มีการรับส่ง HTTP / no HTTP exchange"


# ------------------------------------------------------------------ signed JSON

@pytest.mark.parametrize("algorithm", ["rsa", "ecdsa"])
def test_signed_report_verifies_and_is_over_the_canonical_json(pkis, algorithm):
    ca, operator, _ = pkis[algorithm]
    data = sign(operator)
    checked = reports.verify(data, trusted=[ca.certificate], now=NOW)
    assert checked.passed is False and "1001" in checked.signer_subject
    ids = [(o["id"], o["status"], o["title_th"]) for o in checked.report["outcomes"]]
    assert ids[1] == ("A3", "failed", FAILED_TH) and len(ids) == 6
    document = json.loads(data)
    assert document["signature"]["algorithm"] == {"rsa": "RSASSA-PKCS1-v1_5-SHA256", "ecdsa": "ECDSA-SHA256"}[algorithm]
    # Anyone can check it with the documented recipe, without this module.
    message = json.dumps(document["report"], sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    public = pki.load_certificate(document["signature"]["certificate"].encode()).public_key()
    value = base64.b64decode(document["signature"]["value"])
    if isinstance(public, rsa.RSAPublicKey):
        public.verify(value, message, padding.PKCS1v15(), hashes.SHA256())
    else:
        public.verify(value, message, ec.ECDSA(hashes.SHA256()))
    # Exchanges are summarised, never carried.
    assert "<script>" not in data.decode("utf-8").split('"message"')[0]
    exchange = document["report"]["outcomes"][1]["exchanges"][0]
    assert exchange["status"] == 500 and len(exchange["response"]["sha256"]) == 64
    assert document["report"]["target"]["organisations"] == "1001 กรมทดสอบ, 1002 กรมตัวอย่าง"
    assert document["report"]["started"] == "2026-12-02T11:47:30+07:00"


def test_a_self_signed_operator_certificate_verifies_without_trust_anchors(pkis):
    ca, _, _ = pkis["ecdsa"]
    good = build_report()
    good.outcomes = good.outcomes[:1]
    checked = reports.verify(sign(ca, good), now=NOW)
    assert checked.passed is True and "ศูนย์ทดสอบ CA" in checked.signer_subject


def _altered(data: bytes, change) -> bytes:
    document = json.loads(data)
    change(document["report"])
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("change", [
    lambda r: r["outcomes"][1].update(status="passed"),
    lambda r: r["outcomes"][1].update(id="A9"),
    lambda r: r["outcomes"][0].update(seconds=0.06),
    lambda r: r["outcomes"][1]["exchanges"][0]["response"].update(sha256="0" * 64),
    lambda r: r.update(passed=True),
    lambda r: r["outcomes"].pop(1),
], ids=["status", "id", "seconds", "exchange-digest", "verdict", "dropped-case"])
@pytest.mark.parametrize("algorithm", ["rsa", "ecdsa"])
def test_an_altered_report_is_refused(pkis, algorithm, change):
    ca, operator, _ = pkis[algorithm]
    with pytest.raises(reports.ReportInvalid, match="does not verify"):
        reports.verify(_altered(sign(operator), change), trusted=[ca.certificate], now=NOW)


@pytest.mark.parametrize("algorithm", ["rsa", "ecdsa"])
def test_a_certificate_from_another_ca_is_refused(pkis, algorithm):
    ca, operator, impostor = pkis[algorithm]
    other = pki.create_ca("หน่วยงานอื่น CA", algorithm=algorithm, now=NOW)
    data = sign(operator)
    for anchors in ([other.certificate], [impostor.certificate], []):   # impostor: same name, another key
        with pytest.raises(reports.ReportInvalid, match="not issued by a trusted CA"):
            reports.verify(data, trusted=anchors, now=NOW)
    forged = pki.issue_organization(impostor, "1001", "กรมทดสอบ", algorithm=algorithm, now=NOW)
    with pytest.raises(reports.ReportInvalid, match="not issued by a trusted CA"):
        reports.verify(sign(forged), trusted=[ca.certificate], now=NOW)


def test_an_expired_or_not_yet_valid_certificate_is_refused(pkis):
    ca, operator, _ = pkis["rsa"]
    data = sign(operator)
    later = operator.certificate.not_valid_after_utc + dt.timedelta(seconds=1)
    earlier = operator.certificate.not_valid_before_utc - dt.timedelta(seconds=1)
    for now in (later, earlier):
        with pytest.raises(reports.ReportInvalid, match="is not valid at"):
            reports.verify(data, trusted=[ca.certificate], now=now)
        with pytest.raises(reports.ReportInvalid, match="is not valid at"):
            reports.verify(data, now=now)
    assert reports.verify(data, trusted=[ca.certificate], now=later - dt.timedelta(days=1)).passed is False


@pytest.mark.parametrize("data", [
    b"", b"not json", b"\xff\xfe", b"[]", b'{"report": {}}', b'{"report": {}, "signature": {}, "x": 1}',
    b'{"report": {}, "signature": {"algorithm": "RSASSA-PKCS1-v1_5-SHA256", "certificate": "x", "value": "AA=="}}',
    b'{"report": {"a": NaN}, "signature": {}}',
], ids=["empty", "text", "bytes", "list", "no-signature", "extra-member", "bad-certificate", "nan"])
def test_malformed_input_is_refused(data):
    with pytest.raises(reports.ReportInvalid) as raised:
        reports.verify(data, now=NOW)
    assert isinstance(raised.value, GatewayError)


def test_tricks_with_the_signature_block_are_refused(pkis):
    ca, operator, _ = pkis["ecdsa"]
    document = json.loads(sign(operator))
    relabelled = dict(document, signature=dict(document["signature"], algorithm="RSASSA-PKCS1-v1_5-SHA256"))
    with pytest.raises(reports.ReportInvalid, match="does not fit"):
        reports.verify(json.dumps(relabelled).encode(), now=NOW)
    garbage = dict(document, signature=dict(document["signature"], value="!!!"))
    with pytest.raises(reports.ReportInvalid, match="cannot be read"):
        reports.verify(json.dumps(garbage).encode(), now=NOW)
    text = json.dumps(document, ensure_ascii=False)
    twice = text.replace('"report": {', '"report": {"plan": "other", ', 1)     # a member named twice
    with pytest.raises(reports.ReportInvalid, match="twice"):
        reports.verify(twice.encode("utf-8"), now=NOW)
    other = pkis["rsa"][1]
    with pytest.raises(ValueError, match="does not belong"):
        reports.signed_json(build_report(), key_pem=pki.pem_private_key(other.key),
                            cert_pem=pki.pem_certificate(operator.certificate))


# ------------------------------------------------------------------ files

def test_write_reports_writes_what_is_asked(tmp_path, pkis):
    ca, operator, _ = pkis["ecdsa"]
    report = build_report()
    with pytest.raises(ValueError, match="key and certificate"):
        reports.write_reports(report, html_path=tmp_path / "r.html", json_path=tmp_path / "r.json",
                              key_pem=pki.pem_private_key(operator.key))
    assert list(tmp_path.iterdir()) == []                  # nothing written when the request is incomplete
    written = reports.write_reports(report, junit=tmp_path / "out" / "junit.xml", html_path=tmp_path / "r.html",
                                    json_path=str(tmp_path / "r.json"), key_pem=pki.pem_private_key(operator.key),
                                    cert_pem=pki.pem_certificate(operator.certificate))
    assert [p.name for p in written] == ["junit.xml", "r.html", "r.json"]
    assert etree.parse(str(tmp_path / "out" / "junit.xml")).getroot().tag == "testsuites"
    assert FAILED_TH in (tmp_path / "r.html").read_text(encoding="utf-8")
    assert reports.verify((tmp_path / "r.json").read_bytes(), trusted=[ca.certificate], now=NOW).passed is False
    assert reports.write_reports(report) == []
