"""A letter's proof bundle, its format (docs/proof.md): the members, the manifest, the JSON of the log.

``operations/proof.py`` writes a bundle with these; ``core/proof.py`` reads and
verifies one. The helpers at the end read one member and check a node
document's signature against the certificates the bundle holds.

Pure: values in, bytes out.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Callable, Sequence

from cryptography import x509
from lxml import etree

from gateway.core import ns
from gateway.core.errors import ErrorCode, RemoteError
from gateway.core.records import EvidenceRow
from gateway.core.time import BANGKOK, thai_date, thai_datetime
from gateway.core.trust import pki, signing
from gateway.core.xml import contract, safe

MIMETYPE_NAME = "mimetype"
MIMETYPE = b"application/vnd.etsi.asic-e+zip"
MANIFEST_NAME = "META-INF/manifest.xml"
LETTER_NAME = "letter.xml"
SEALED_NAME = "letter.sealed.xml"   # a secret letter as it left this node, encrypted to its receiver
RECEIPTS = "receipts/"
NOTIFIERS = "notifiers/"
ATTESTATION = ".attestation.xml"
ENTRIES_NAME = "evidence/entries.json"
CHECKPOINT_NAME = "evidence/checkpoint.xml"
TIMESTAMP_NAME = "evidence/timestamp.tst"
SEGMENT_NAME = "evidence/segment.json"
CERTIFICATES = "certificates/"
SUMMARY_TH, SUMMARY_EN = "summary-th.txt", "summary-en.txt"
FORMAT = "gateway-proof/1"

ODF_MANIFEST = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
PROOF_NS = "urn:th:gov:egif:ecms:proof:1"
MAX_MEMBERS = 10_000
MAX_BYTES = 512 * 1024 ** 2          # all members together, uncompressed: read into memory
MEDIA_TYPES = {".xml": "text/xml", ".json": "application/json", ".pem": "application/x-pem-file",
               ".tst": "application/vnd.etsi.timestamp-token", ".txt": "text/plain"}

Checker = Callable[[bytes, bytes], dt.datetime]


# ---------------------------------------------------------------- the format (export and verify share it)

def media_type(name: str) -> str:
    return MEDIA_TYPES.get(name[name.rfind("."):], "text/plain") if "." in name else "text/plain"


def manifest(members: Sequence[tuple[str, bytes]]) -> bytes:
    """META-INF/manifest.xml for ``members`` (in ZIP order, the manifest itself left out)."""
    def m(local: str) -> str:
        return f"{{{ODF_MANIFEST}}}{local}"

    root = etree.Element(m("manifest"), nsmap={"manifest": ODF_MANIFEST, "proof": PROOF_NS})
    root.set(m("version"), "1.2")
    etree.SubElement(root, m("file-entry"), {m("full-path"): "/", m("media-type"): MIMETYPE.decode()})
    for name, data in members:
        etree.SubElement(root, m("file-entry"), {m("full-path"): name, m("media-type"): media_type(name),
                                                 m("size"): str(len(data)),
                                                 f"{{{PROOF_NS}}}sha256": hashlib.sha256(data).hexdigest()})
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def write_zip(members: Sequence[tuple[str, bytes]], *, at: dt.datetime) -> bytes:
    """The bundle: ``mimetype`` first and stored, then ``members`` in order, then the manifest."""
    when = at.astimezone(BANGKOK).timetuple()[:6]

    def info(name: str) -> zipfile.ZipInfo:
        member = zipfile.ZipInfo(name, when)
        member.external_attr = 0o644 << 16
        return member

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(info(MIMETYPE_NAME), MIMETYPE, compress_type=zipfile.ZIP_STORED)
        listed = [(MIMETYPE_NAME, MIMETYPE), *members]
        for name, data in [*members, (MANIFEST_NAME, manifest(listed))]:
            z.writestr(info(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def entries_json(process_id: str, entries: Sequence[EvidenceRow]) -> bytes:
    rows = [{"id": e.id, "at": e.at.astimezone(dt.timezone.utc).isoformat(timespec="microseconds"),
             "process_id": e.process_id, "event": e.event, "item": e.item, "detail": e.detail, "digest": e.digest,
             "prev_hash": e.prev_hash, "hash": e.hash} for e in entries]
    return _json({"format": FORMAT, "process_id": process_id, "entries": rows})


def segment_json(*, checkpoint_id: int, after_id: int, upto_id: int, prev_root: str,
                 entries: Sequence[tuple[int, str]]) -> bytes:
    return _json({"format": FORMAT, "checkpoint": checkpoint_id, "after_id": after_id, "upto_id": upto_id,
                  "prev_root": prev_root, "entries": [{"id": i, "hash": h} for i, h in entries]})


def _json(value: object) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


# ---------------------------------------------------------------- the report

@dataclass
class ProofReport:
    """What :func:`verify` established (findings) and what did not hold (problems)."""

    process_id: str = ""
    findings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Bundle:
    members: dict[str, bytes]
    report: ProofReport
    now: dt.datetime
    anchors: list[x509.Certificate] = field(default_factory=list)
    certs: list[x509.Certificate] = field(default_factory=list)        # bundled, issued by a trusted anchor
    entries: list[EvidenceRow] = field(default_factory=list)
    letter: bytes = b""
    notifier_digests: dict[str, str] = field(default_factory=dict)      # ProcessID -> PayloadDigest
    node: str = ""                                                       # the exporting node (its checkpoint)
    receipts: list = field(default_factory=list)                         # (member, nodemsg.Receipt) verified

    def fine(self, text: str) -> None:
        self.report.findings.append(text)

    def problem(self, text: str) -> None:
        self.report.problems.append(text)

    def entry(self, event: str, item: str) -> EvidenceRow | None:
        found = [e for e in self.entries if e.event == event and e.item == item]
        return found[-1] if found else None


# ---------------------------------------------------------------- signatures

def embedded_certificate(document: etree._Element) -> x509.Certificate | None:
    found = list(document.iter(ns.ds("X509Certificate")))
    if len(found) != 1:
        return None
    try:
        return x509.load_der_x509_certificate(base64.b64decode("".join((found[0].text or "").split())))
    except (ValueError, binascii.Error):
        return None


def signature_time(b: Bundle, document: etree._Element, recorded: dt.datetime | None) -> tuple[dt.datetime, str]:
    """When to check a signature: now; or, for a certificate that has expired since, when the node recorded it."""
    cert = embedded_certificate(document)
    if cert is None or pki.valid_at(cert, b.now) or recorded is None or not pki.valid_at(cert, recorded):
        return b.now, ""
    return recorded, (f" (its certificate expired on {thai_date(cert.not_valid_after_utc)}; checked as of "
                      f"{thai_datetime(recorded)}, when the node recorded it)")


def parse_member(b: Bundle, name: str, tag: str | None = None) -> etree._Element | None:
    data = b.members.get(name, b"")
    try:
        root = safe.parse(data, safe.Limits(max_bytes=max(safe.MAX_BODY_BYTES, len(data))))
        if tag is not None:
            if root.tag != ns.node(tag):
                raise RemoteError(ErrorCode.SCHEMA_INVALID, f"it is not an n:{tag}")
            contract.validate(root, contract.node_schema())
        return root
    except RemoteError as exc:
        b.problem(f"{name} cannot be read: {exc.detail or exc.code.english}")
        return None


def node_document(b: Bundle, name: str, tag: str, *, signer_node: str = "", signer_org: str = "",
                  recorded: dt.datetime | None = None) -> tuple[etree._Element | None, str, str]:
    """A node document's signed content, verified against the bundled certificates of its signer.

    Returns what was signed, who signed it ("node X", "organisation Y") and a note on when it was checked.
    """
    root = parse_member(b, name, tag)
    if root is None:
        return None, "", ""
    if signer_node:
        trusted = [c for c in b.certs if pki.node_of(c) == signer_node]
    else:
        # the organisation's own certificates, or a node's that signs on its behalf (the finding names it)
        trusted = [c for c in b.certs if pki.organization_of(c) == signer_org or pki.node_of(c)]
    at, note = signature_time(b, root, recorded)
    try:
        signed, cert = signing.verify_document(root, trusted=trusted, now=at)
    except RemoteError as exc:
        b.problem(f"{name}: its signature does not verify ({exc.detail or exc.code.english})")
        return None, "", ""
    node = pki.node_of(cert)
    return signed, f"node {node}" if node else f"organisation {pki.organization_of(cert)}", note


def node_text(element: etree._Element, local: str) -> str:
    return (element.findtext(ns.node(local)) or "").strip()

