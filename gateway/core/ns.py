"""Namespace URIs and the conventional prefixes clients expect (DESIGN section 3)."""
from __future__ import annotations

SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"

# WS-Addressing: the correct namespace and the misspelling one client family uses.
WSA = "http://www.w3.org/2005/08/addressing"
WSA_MISSPELLED = "http://w3.org/2005/08/addressing"
WSA_ALL = (WSA, WSA_MISSPELLED)

RSM = "urn:th:gov:egif:data:standard:GovernmentDocument:1.0"
RAM = "urn:th:gov:egif:data:standard:ReusableAggregateBusinessInformationEntity:1"
DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"     # XML Encryption: sealed secret letters (core/trust/sealing.py)
XINCLUDE = ("http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude")

# Node-to-node exchange (ours): the signed documents and their SOAP carriers.
NODE = "urn:th:gov:egif:ecms:node:1"
NODE_CARRIER = "urn:th:gov:egif:ecms:node:carrier:1"

# The agency interface's wrapper elements: unqualified on the wire of deployed
# clients (the legacy contract, ecms-agency-legacy.wsdl), qualified in this
# namespace for clients generated from ecms-agency.wsdl (the stubs contract).
# Spyne cannot model elements in no namespace, so its models live here too and
# the service adapter moves legacy requests in and their answers back out.
AGENCY = "urn:th:gov:egif:ecms:agency:1"

# Clients read pulled letters with GetElementsByTagName("ram:CorrespondenceLetter"):
# the prefixes are part of the wire contract.
LETTER_NSMAP = {"rsm": RSM, "ram": RAM}
# The prefixes deployed clients read pulled letters by (GetElementsByTagName("ram:Subject")).
CONVENTIONAL_PREFIXES = {"rsm": RSM, "ram": RAM, "ds": DS}


def rsm(local: str) -> str:
    return f"{{{RSM}}}{local}"


def ram(local: str) -> str:
    return f"{{{RAM}}}{local}"


def ds(local: str) -> str:
    return f"{{{DS}}}{local}"


def node(local: str) -> str:
    return f"{{{NODE}}}{local}"
