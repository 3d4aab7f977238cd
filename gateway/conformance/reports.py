"""The reports of a conformance run: the terminal, JUnit XML, one HTML file, and signed JSON.

* :func:`progress` prints one line per case as the run goes; :func:`summary` the closing lines.
* :func:`junit_xml` is for CI dashboards (one ``testsuite``, one ``testcase`` per case).
* :func:`html` is one standalone file (inline CSS, no script, no external resource) in Thai and
  English, failures first, with the HTTP exchanges of every failed case, times in Bangkok time
  with the Buddhist-Era year.
* :func:`signed_json` is the result an operator hands over, signed with their key (RSA PKCS#1
  v1.5 or ECDSA, SHA-256, over the canonical JSON of ``report``); :func:`verify` checks it.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import html as htmllib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from lxml import etree

from gateway.adapters.clock import SystemClock
from gateway.adapters.esaraban import Exchange
from gateway.conformance.plan import Outcome, Report, Status
from gateway.core.errors import GatewayError
from gateway.core.time import BANGKOK, BUDDHIST_ERA_OFFSET
from gateway.core.trust import pki
from gateway.core.xml import safe as xmlsafe

BODY_LIMIT = 64 * 1024               # characters of one body shown in the HTML report
PRETTY_LIMIT = 1024 * 1024           # larger bodies are shown as they came, not re-indented
RSA_ALGORITHM = "RSASSA-PKCS1-v1_5-SHA256"
EC_ALGORITHM = "ECDSA-SHA256"

WORDS = {Status.PASSED: "PASS", Status.FAILED: "FAIL", Status.NOT_CHECKABLE: "N/C",
         Status.BLOCKED: "BLOCKED", Status.ERROR: "ERROR"}
THAI_STATUS = {Status.PASSED: "ผ่าน", Status.FAILED: "ไม่ผ่าน", Status.NOT_CHECKABLE: "ตรวจไม่ได้",
               Status.BLOCKED: "ไม่ได้ทดสอบ", Status.ERROR: "ข้อผิดพลาด"}
_COLOURS = {Status.PASSED: "32", Status.FAILED: "31", Status.ERROR: "31;1", Status.NOT_CHECKABLE: "33",
            Status.BLOCKED: "33"}
THAI_MONTHS = ("มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน",
               "กรกฎาคม", "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม")
BAD = (Status.FAILED, Status.ERROR)
# Characters XML 1.0 cannot carry (and HTML treats as errors): C0 controls but tab/LF/CR, lone
# surrogates, U+FFFE/U+FFFF. A case's message may quote any byte a target sent.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class ReportInvalid(GatewayError):
    """A signed report that cannot be trusted: malformed, altered, or signed by an unknown key."""


@dataclass(frozen=True)
class VerifiedReport:
    report: dict
    signer_subject: str
    passed: bool


def _clean(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _failures(report: Report) -> list[Outcome]:
    return [o for o in report.outcomes if o.status in BAD]


# ------------------------------------------------------------------ terminal

def progress(stream: TextIO) -> Callable[[Outcome, int, int], None]:
    """The runner's ``progress``: ``[ 3/29] A3    PASS     0.12 s  <title>`` per case."""
    colour = bool(getattr(stream, "isatty", lambda: False)())

    def show(outcome: Outcome, index: int, total: int) -> None:
        word = f"{WORDS[outcome.status]:<7}"
        if colour:
            word = f"\x1b[{_COLOURS[outcome.status]}m{word}\x1b[0m"
        width = len(str(total))
        line = (f"[{index:>{width}}/{total}] {outcome.case.id:<5} {word} {outcome.seconds:6.2f} s  "
                f"{outcome.case.title_en}\n")
        if outcome.status is not Status.PASSED and outcome.message.strip():
            line += f"{' ' * (width * 2 + 4)}{_first_line(outcome.message)}\n"
        stream.write(line)
        stream.flush()
    return show


def summary(report: Report) -> str:
    """The closing lines: counts per status, the IDs that did not pass, and the verdict."""
    counts = report.counts()
    lines = [f"{len(report.outcomes)} cases: " + ", ".join(f"{n} {s}" for s, n in counts.items())]
    for status in (Status.FAILED, Status.ERROR, Status.BLOCKED, Status.NOT_CHECKABLE):
        ids = [o.case.id for o in report.outcomes if o.status is status]
        if ids:
            lines.append(f"{status.value}: {', '.join(ids)}")
    if not report.outcomes:
        lines.append(f"No case ran: nothing shows that the target conforms to plan {report.plan}.")
    elif report.passed:
        lines.append(f"The target CONFORMS to plan {report.plan}: every case that ran passed.")
    else:
        bad = [o.case.id for o in report.outcomes if o.status not in (Status.PASSED, Status.NOT_CHECKABLE)]
        lines.append(f"The target does NOT conform to plan {report.plan} ({', '.join(bad)} did not pass).")
    return "\n".join(lines)


# ------------------------------------------------------------------ JUnit

def junit_xml(report: Report) -> bytes:
    """JUnit XML: ``<testsuites>`` with one ``<testsuite name="conformance-<plan>">``."""
    counts = report.counts()
    attrs = {"tests": str(len(report.outcomes)), "failures": str(counts[Status.FAILED.value]),
             "errors": str(counts[Status.ERROR.value]),
             "skipped": str(counts[Status.NOT_CHECKABLE.value] + counts[Status.BLOCKED.value]),
             "time": f"{sum(o.seconds for o in report.outcomes):.3f}"}
    root = etree.Element("testsuites", name=f"conformance-{report.plan}", **attrs)
    suite = etree.SubElement(root, "testsuite", name=f"conformance-{report.plan}", **attrs)
    if report.started:
        suite.set("timestamp", _clean(report.started[:19]))
    props = etree.SubElement(suite, "properties")
    for name, value in [("kit_version", report.kit_version), ("started", report.started),
                        ("finished", report.finished), *sorted(report.target.items())]:
        etree.SubElement(props, "property", name=_clean(str(name)), value=_clean(str(value)))
    for outcome in report.outcomes:
        c = outcome.case
        case = etree.SubElement(suite, "testcase", classname=f"conformance.{report.plan}",
                                name=_clean(f"{c.id} {c.title_en}"), time=f"{outcome.seconds:.3f}")
        message = _clean(_first_line(outcome.message) or outcome.status.value)
        if outcome.status is Status.FAILED:
            etree.SubElement(case, "failure", message=message, type="Failed").text = _clean(outcome.message)
        elif outcome.status is Status.ERROR:
            etree.SubElement(case, "error", message=message, type="Error").text = _clean(outcome.message)
        elif outcome.status in (Status.NOT_CHECKABLE, Status.BLOCKED):
            etree.SubElement(case, "skipped", message=_clean(f"{outcome.status.value}: {message}"))
        if outcome.status in BAD and outcome.exchanges:
            etree.SubElement(case, "system-out").text = _clean("\n".join(
                f"{e.method} {e.url} -> {e.status or 'no answer'} {e.error}".rstrip() for e in outcome.exchanges))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# ------------------------------------------------------------------ HTML

def thai_time(value: str) -> str:
    """``2026-12-02T11:47:30+07:00`` as ``2 ธันวาคม 2569 11:47:30 น.`` (Bangkok time, Buddhist Era)."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value or "—"
    local = moment.replace(tzinfo=BANGKOK) if moment.tzinfo is None else moment.astimezone(BANGKOK)
    return (f"{local.day} {THAI_MONTHS[local.month - 1]} {local.year + BUDDHIST_ERA_OFFSET} "
            f"{local:%H:%M:%S} น.")


def _e(value: object) -> str:
    return htmllib.escape(_clean(str(value)), quote=True)


def _body_text(body: bytes, headers: dict[str, str]) -> str:
    """A body for people: UTF-8 (bad bytes replaced), re-indented when it is XML, cut at 64 KiB."""
    if not body:
        return "(ว่าง / empty)"
    text = body.decode("utf-8", errors="replace")
    kind = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if len(body) <= PRETTY_LIMIT and (text.lstrip().startswith("<") or "xml" in kind.lower()):
        try:
            root = xmlsafe.parse(body)
            etree.indent(root, space="  ")
            text = etree.tostring(root, encoding="unicode")
        except (GatewayError, etree.LxmlError, ValueError):
            pass                                      # shown as it came
    if len(text) > BODY_LIMIT:
        text = (text[:BODY_LIMIT] + f"\n… ตัดที่ {BODY_LIMIT // 1024} KiB / truncated at {BODY_LIMIT // 1024} KiB"
                f" ({len(body):,} bytes in all)")
    return text


def _headers(headers: dict[str, str]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in headers.items()) or "(ไม่มี / none)"


def _exchange(number: int, e: Exchange) -> str:
    answer = f"HTTP {e.status}" if e.status else "ไม่มีคำตอบ / no answer"
    error = f'<p class="exchange-error">{_e(e.error)}</p>' if e.error else ""
    return (f'<details class="exchange"><summary>#{number} {_e(e.method)} {_e(e.url)} → {_e(answer)}'
            f" ({e.seconds:.2f} s)</summary>{error}"
            f"<h4>คำขอ / Request</h4><pre class=\"headers\">{_e(e.method)} {_e(e.url)}\n"
            f"{_e(_headers(e.request_headers))}</pre>"
            f"<pre class=\"body\">{_e(_body_text(e.request_body, e.request_headers))}</pre>"
            f"<h4>คำตอบ / Response</h4><pre class=\"headers\">{_e(answer)}\n{_e(_headers(e.response_headers))}"
            f"</pre><pre class=\"body\">{_e(_body_text(e.response_body, e.response_headers))}</pre></details>")


def _case(outcome: Outcome) -> str:
    c, status = outcome.case, outcome.status
    rows = [("หมวดของมาตรฐาน / Section", c.section), ("เงื่อนไขก่อน / Prerequisite", c.prerequisite or "—")]
    if c.requires:
        rows.append(("ต้องผ่านก่อน / Requires", ", ".join(c.requires)))
    rows.append(("เวลา / Time", f"{outcome.seconds:.2f} s"))
    facts = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    message = f'<pre class="message">{_e(outcome.message)}</pre>' if outcome.message.strip() else ""
    exchanges = ""
    if status in BAD:
        exchanges = ("".join(_exchange(i, e) for i, e in enumerate(outcome.exchanges, 1))
                     or "<p>ไม่มีการรับส่ง HTTP / no HTTP exchange</p>")
        exchanges = f'<div class="exchanges"><h4>การรับส่ง / Exchanges</h4>{exchanges}</div>'
    return (f'<section class="case {_e(status.value)}" id="case-{_e(c.id)}">'
            f'<h3><span class="id">{_e(c.id)}</span> <span class="badge">{_e(THAI_STATUS[status])} · '
            f'{_e(WORDS[status])}</span> <span class="title-th">{_e(c.title_th)}</span></h3>'
            f'<p class="title-en" lang="en">{_e(c.title_en)}</p><dl>{facts}</dl>{message}{exchanges}</section>')


_CSS = """
body{font-family:"Noto Sans Thai","Sarabun","Loma","Garuda",sans-serif;margin:2em auto;max-width:70em;
padding:0 1em;color:#222;line-height:1.5}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
.verdict{font-size:1.3em;font-weight:bold;padding:.6em 1em;border-radius:6px}
.verdict.ok{background:#e3f5e1;color:#1b5e20}.verdict.bad{background:#fde4e1;color:#b71c1c}
table.facts{border-collapse:collapse}table.facts th,table.facts td{text-align:left;padding:.2em .8em;
border-bottom:1px solid #eee;vertical-align:top}
.case{border:1px solid #ddd;border-left:6px solid #999;border-radius:4px;margin:1em 0;padding:.4em 1em}
.case.failed,.case.error{border-left-color:#c62828}.case.passed{border-left-color:#2e7d32}
.case.not-checkable,.case.blocked{border-left-color:#f9a825}
.case h3{margin:.3em 0;font-size:1.1em}.id{font-family:monospace;font-size:1.1em}
.badge{font-size:.8em;padding:.1em .5em;border-radius:3px;background:#eee}
.failed .badge,.error .badge{background:#c62828;color:#fff}.passed .badge{background:#2e7d32;color:#fff}
.title-en{color:#555;margin:.1em 0 .4em}
dl{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;margin:.3em 0}dt{color:#666}dd{margin:0}
pre{background:#f6f6f6;border:1px solid #e0e0e0;padding:.5em;overflow:auto;white-space:pre-wrap;
word-break:break-all;font-size:.85em;max-height:40em}
pre.message{background:#fff4f2;border-color:#f3c5bd}
details{margin:.4em 0;border:1px solid #ddd;border-radius:4px;padding:.2em .6em}
summary{cursor:pointer;font-family:monospace}.exchange-error{color:#b71c1c}
footer{margin-top:2em;color:#777;font-size:.85em}
"""


def html(report: Report) -> str:
    """The whole report as one HTML document (Thai first, English beside it)."""
    counts = report.counts()
    bad, rest = _failures(report), [o for o in report.outcomes if o.status not in BAD]
    if report.outcomes and report.passed:
        verdict = ('<p class="verdict ok">เป็นไปตามมาตรฐาน — the target conforms '
                   "(ทุกกรณีที่ทดสอบได้ผ่าน / every case that ran passed)</p>")
    else:
        verdict = ('<p class="verdict bad">ไม่เป็นไปตามมาตรฐาน — the target does not conform '
                   f"({len(report.outcomes) - counts['passed'] - counts['not-checkable']} "
                   "กรณีไม่ผ่าน / cases did not pass)</p>")
    facts = [("ชุดทดสอบ / Plan", report.plan), *((f"เป้าหมาย / Target: {k}", v) for k, v in report.target.items()),
             ("รุ่นของชุดทดสอบ / Kit version", report.kit_version or "—"),
             ("เริ่ม / Started", thai_time(report.started)), ("เสร็จ / Finished", thai_time(report.finished)),
             ("ผลรวม / Counts", ", ".join(f"{THAI_STATUS[Status(s)]} ({s}) {n}" for s, n in counts.items()))]
    table = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts)
    title = f"รายงานการทดสอบความสอดคล้อง {report.plan} — Conformance report"
    parts = [
        '<!DOCTYPE html>\n<html lang="th"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{_e(title)}</h1>{verdict}<table class=\"facts\">{table}</table></header>",
    ]
    if bad:
        parts.append(f'<h2 id="failures">ไม่ผ่าน / Failed ({len(bad)})</h2>')
        parts += [_case(o) for o in bad]
    if rest:
        parts.append(f'<h2 id="others">กรณีอื่น / Other cases ({len(rest)})</h2>')
        parts += [_case(o) for o in rest]
    if not report.outcomes:
        parts.append("<p>ไม่มีกรณีที่ทดสอบ / no case ran</p>")
    parts.append(f"<footer>e-CMS gateway conformance kit {_e(report.kit_version)}</footer></body></html>\n")
    return "\n".join(parts)


# ------------------------------------------------------------------ signed JSON

def _digest(body: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}


def report_dict(report: Report) -> dict[str, Any]:
    """The report as JSON data: everything but the exchanges' bytes (those are summarised by SHA-256)."""
    return {
        "plan": report.plan, "target": dict(report.target), "started": report.started,
        "finished": report.finished, "kit_version": report.kit_version, "passed": report.passed,
        "counts": report.counts(),
        "outcomes": [{
            "id": o.case.id, "title_en": o.case.title_en, "title_th": o.case.title_th,
            "section": o.case.section, "prerequisite": o.case.prerequisite, "requires": list(o.case.requires),
            "status": o.status.value, "message": o.message, "seconds": round(o.seconds, 3),
            "exchanges": [{"method": e.method, "url": e.url, "status": e.status, "seconds": round(e.seconds, 3),
                           "error": e.error, "request": _digest(e.request_body),
                           "response": _digest(e.response_body)} for e in o.exchanges],
        } for o in report.outcomes],
    }


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signed_json(report: Report, *, key_pem: bytes, cert_pem: bytes) -> bytes:
    """``{"report": ..., "signature": {"algorithm", "certificate", "value"}}``, signed with ``key_pem``."""
    key, cert = pki.load_private_key(key_pem), pki.load_certificate(cert_pem)
    if not _same_key(key, cert):
        raise ValueError("the private key does not belong to the certificate")
    data = report_dict(report)
    message = canonical(data)
    if isinstance(key, rsa.RSAPrivateKey):
        algorithm, value = RSA_ALGORITHM, key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    else:
        algorithm, value = EC_ALGORITHM, key.sign(message, ec.ECDSA(hashes.SHA256()))
    signature = {"algorithm": algorithm, "certificate": pki.pem_certificate(cert).decode("ascii"),
                 "value": base64.b64encode(value).decode("ascii")}
    text = json.dumps({"report": data, "signature": signature}, ensure_ascii=False, indent=2, sort_keys=True)
    return (text + "\n").encode("utf-8")


def _same_key(key: pki.PrivateKey, cert: x509.Certificate) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ReportInvalid("a JSON object names a member twice")
    return found


def _constant(name: str) -> Any:
    raise ReportInvalid(f"{name} is not JSON")


def verify(data: bytes, *, trusted: list[x509.Certificate] | None = None,
           now: dt.datetime | None = None) -> VerifiedReport:
    """Check a signed report; :class:`ReportInvalid` unless it is intact and (given ``trusted``) issued by one."""
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ReportInvalid(f"not a signed report (malformed JSON: {exc})") from exc
    if not isinstance(document, dict) or set(document) != {"report", "signature"}:
        raise ReportInvalid('not a signed report: expected exactly "report" and "signature"')
    report, signature = document["report"], document["signature"]
    if not isinstance(report, dict) or not isinstance(signature, dict) or not all(
            isinstance(signature.get(k), str) for k in ("algorithm", "certificate", "value")):
        raise ReportInvalid("not a signed report: the signature needs algorithm, certificate and value")
    try:
        cert = x509.load_pem_x509_certificate(signature["certificate"].encode("ascii"))
        value = base64.b64decode(signature["value"], validate=True)
    except (ValueError, UnicodeEncodeError, binascii.Error) as exc:
        raise ReportInvalid(f"the signature's certificate or value cannot be read: {exc}") from exc
    _check_signature(cert, signature["algorithm"], value, canonical(report))
    _check_certificate(cert, trusted, now or SystemClock().now())
    return VerifiedReport(report=report, signer_subject=pki.describe(cert), passed=_passed(report))


def _check_signature(cert: x509.Certificate, algorithm: str, value: bytes, message: bytes) -> None:
    public = cert.public_key()
    try:
        if algorithm == RSA_ALGORITHM and isinstance(public, rsa.RSAPublicKey):
            public.verify(value, message, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm == EC_ALGORITHM and isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(value, message, ec.ECDSA(hashes.SHA256()))
        else:
            raise ReportInvalid(f"algorithm {algorithm!r} does not fit the certificate's "
                                f"{type(public).__name__} key (expected {RSA_ALGORITHM} or {EC_ALGORITHM})")
    except InvalidSignature as exc:
        raise ReportInvalid("the signature does not verify: the report was altered or signed by another key") from exc


def _check_certificate(cert: x509.Certificate, trusted: list[x509.Certificate] | None, now: dt.datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise ReportInvalid(f"the signer's certificate {pki.describe(cert)} is not valid at {now.isoformat()} "
                            f"(valid {cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d})")
    if trusted is None:
        return
    for anchor in trusted:
        if anchor.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(anchor)
        except (ValueError, TypeError, InvalidSignature):
            continue
        if anchor.not_valid_before_utc <= now <= anchor.not_valid_after_utc:
            return
    raise ReportInvalid(f"the signer's certificate {pki.describe(cert)} is not issued by a trusted CA "
                        f"(issuer {cert.issuer.rfc4514_string()})")


def _passed(report: dict) -> bool:
    outcomes = report.get("outcomes")
    if not isinstance(outcomes, list) or not all(isinstance(o, dict) for o in outcomes):
        raise ReportInvalid('the report has no list of "outcomes"')
    known = {s.value for s in Status}
    if any(o.get("status") not in known or not isinstance(o.get("id"), str) for o in outcomes):
        raise ReportInvalid("an outcome has no ID or an unknown status")
    passed = all(o["status"] in (Status.PASSED.value, Status.NOT_CHECKABLE.value) for o in outcomes)
    if report.get("passed") is not passed:
        raise ReportInvalid('the report\'s "passed" does not match its outcomes')
    return passed


# ------------------------------------------------------------------ files

def write_reports(report: Report, *, junit: str | Path | None = None, html_path: str | Path | None = None,
                  json_path: str | Path | None = None, key_pem: bytes | None = None,
                  cert_pem: bytes | None = None) -> list[Path]:
    """Write the reports asked for; returns the paths written."""
    if json_path is not None and (key_pem is None or cert_pem is None):
        raise ValueError("a signed JSON report needs the operator's key and certificate (key_pem and cert_pem)")
    wanted: list[tuple[Path, Callable[[], bytes]]] = []
    if junit is not None:
        wanted.append((Path(junit), lambda: junit_xml(report)))
    if html_path is not None:
        wanted.append((Path(html_path), lambda: html(report).encode("utf-8")))
    if json_path is not None:
        wanted.append((Path(json_path), lambda: signed_json(report, key_pem=key_pem, cert_pem=cert_pem)))
    contents = [(path, make()) for path, make in wanted]     # everything made before anything is written
    for path, content in contents:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return [path for path, _ in contents]
