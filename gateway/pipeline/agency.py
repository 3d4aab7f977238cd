"""The agency port's inbound pipeline, pure (STYLE 8): bytes in, a checked call out.

Stages, in this order and nowhere else::

    read:  hardened parse (size and depth limits, no DTD) -> envelope shape and legacy normalisation
           -> the request's style (legacy unqualified wrappers, or the stubs contract's qualified ones)
    check: a qualified request in the legacy shape -> the main letter is there -> XSD -> letter rules -> sender is the caller -> receiver is
           reachable -> sign (for the sender) or keep its signature -> verify what will be stored

Only what was signed flows on: the facts the operation stores are read from
the verified document. The HTTP adapter reads the body under the size limit
and resolves the tenant before it calls :func:`read`; Spyne and the operation
run after :func:`check`, so no handler ever sees an unverified letter.

No I/O: the keys, the directory, the policy and ``now`` come in as arguments.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lxml import etree

from gateway.core import ns
from gateway.core.letters import decide, parts
from gateway.core.letters.letter import Letter, check_main_letter, check_signer_party, read_letter, stored_copy
from gateway.core.network.directory import Directory, Organization
from gateway.core.records import SignedBy
from gateway.core.trust import signing, spliced
from gateway.core.trust.keyring import Keyring
from gateway.core.trust.signing import VerifyPolicy
from gateway.core.xml import contract, envelope, safe

SEND = "CorrespondenceLetterOutbound"


@dataclass(frozen=True, kw_only=True)
class AgencyContext:
    """What the agency pipeline needs besides the request: built once by the composition root."""

    directory: Directory
    keyring: Keyring
    limits: safe.Limits
    verify: VerifyPolicy
    allow_top_secret: bool


@dataclass(frozen=True, kw_only=True)
class PreparedLetter:
    """A letter checked, signed (by its client or here) and verified, not yet stored."""

    letter: Letter
    stored: bytes            # the signed document, as it will be stored, served and forwarded
    signed_by: SignedBy      # CLIENT or NODE
    verified: signing.Verified
    raw: bytes               # the request body as received (a large one: its skeleton, serialised)
    # A large letter's enclosures, kept beside it (core/letters/parts.py): ``stored`` names them by
    # placeholder; each part's sink holds the text until the operation puts it in the blob store.
    parts: tuple = ()


@dataclass(frozen=True, kw_only=True)
class AgencyCall:
    """One agency request after the pipeline: the operation element and, for a letter, what was verified."""

    soap_version: str
    operation: str
    body: etree._Element     # the operation element (unqualified, schema-valid)
    raw: bytes
    prepared: PreparedLetter | None = None
    qualified: bool = False  # asked in the stubs contract's style: answer in it too


def read(body: bytes, limits: safe.Limits) -> envelope.AgencyRequest:
    """Parse the body with the hardened parser and check the envelope; the operation and SOAP version are known after."""
    return envelope.parse_request(safe.parse(body, limits))


def read_parsed(root: etree._Element) -> envelope.AgencyRequest:
    """The envelope of a request the stream parser read (core/xml/stream.py): already hardened and limited."""
    return envelope.parse_request(root)


def check(request: envelope.AgencyRequest, raw: bytes, *, caller: Organization, ctx: AgencyContext,
          now: dt.datetime, texts: parts.Texts | None = None, large: tuple = ()) -> AgencyCall:
    """Schema, letter rules and signature: everything that needs no store.

    A request read as a stream comes with its ``large`` enclosures (stream.Part) and ``texts``, which
    serves their text: the letter is then signed and verified over the text without holding it.
    """
    if request.qualified:
        envelope.to_legacy(request.body)   # one form from here on; the answer is written in the request's style
    document = None
    if request.operation == SEND:
        document = request.body.find(ns.rsm("GovernmentDocument"))
        if document is not None:
            check_main_letter(document)
            if request.qualified:
                name_unsigned_letter(document)
    contract.validate(request.body)
    prepared = prepare_letter(document, raw, caller=caller, ctx=ctx, now=now, texts=texts, large=large) \
        if document is not None else None
    return AgencyCall(soap_version=request.soap_version, operation=request.operation, body=request.body,
                      raw=raw, prepared=prepared, qualified=request.qualified)


def name_unsigned_letter(document: etree._Element) -> None:
    """Give an unsigned letter of the stubs contract its ``ID="Letter"``, the target the node's signature names.

    The stubs contract leaves the attribute open (a named ``ID`` attribute beside
    the ``ram:ID`` element is one property twice in generated code), so generated
    clients do not send it. A signed letter is left alone: its signature names
    its own target, and changing it would break the signature.
    """
    letter = document.find(ns.ram("CorrespondenceLetter"))
    if letter is not None and "ID" not in letter.attrib and signing.signature_element(document) is None:
        letter.set("ID", signing.LETTER_REF.removeprefix("#"))


def prepare_letter(document: etree._Element, raw: bytes, *, caller: Organization, ctx: AgencyContext,
                   now: dt.datetime, texts: parts.Texts | None = None, large: tuple = ()) -> PreparedLetter:
    """Business rules, the signature (made or checked), and the facts read from what was signed."""
    letter = read_letter(document, allow_top_secret=ctx.allow_top_secret)
    decide.check_sender(letter, caller.id)
    decide.place(letter.receiver.department_id, ctx.directory)
    signed_doc, signed_by = _signed(document, caller.id, ctx.keyring, texts)
    # Every letter is verified before it is queued, the node's own signature included.
    trusted = ctx.keyring.trusted_for(caller.id)
    if texts is None:
        verified = signing.verify_letter(signed_doc, trusted=trusted, policy=ctx.verify, now=now)
    else:
        verified = spliced.verify_letter_spliced(signed_doc, trusted=trusted, policy=ctx.verify, now=now,
                                                 texts=texts)
    check_signer_party(signed_doc, caller.id)   # what receivers are shown about the signer is what was verified
    return PreparedLetter(letter=read_letter(signed_doc, allow_top_secret=ctx.allow_top_secret),
                          stored=etree.tostring(signed_doc, encoding="utf-8"), signed_by=signed_by,
                          verified=verified, raw=raw, parts=tuple(large))


def _signed(document: etree._Element, sender: str, keyring: Keyring,
            texts: parts.Texts | None) -> tuple[etree._Element, SignedBy]:
    """The letter as it will travel: signed by its client already, or here on the sender's behalf."""
    if signing.signature_element(document) is not None:
        return stored_copy(document), SignedBy.CLIENT
    # A GovernmentSignature without ds:Signature (one client family sends only
    # TypeCode and SignerParty) is replaced by the node's.
    if texts is not None:
        return spliced.sign_letter_spliced(stored_copy(document), keyring.signer_for(sender), texts), SignedBy.NODE
    return signing.sign_letter(stored_copy(document), keyring.signer_for(sender)), SignedBy.NODE
