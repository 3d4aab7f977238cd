"""The committed contract (wsdl/, xsd/): located, compiled once, used to validate.

The WSDL and XSD files are the source of truth: they are served as they are
(only the endpoint address and schema locations are filled in), the XSD
validates every request, and a test compares the Spyne models with them.
"""
from __future__ import annotations

import functools
import re
from xml.sax.saxutils import escape
from pathlib import Path

from lxml import etree

from gateway.core import ns
from gateway.core.errors import ErrorCode, LocalError, RemoteError

ROOT = Path(__file__).resolve().parent / "schemas"
AGENCY_XSD = "AgencyInterface.xsd"
AGENCY_WSDL = "ecms-agency.wsdl"               # the stubs contract (qualified wrappers), served at ?wsdl
LEGACY_WSDL = "ecms-agency-legacy.wsdl"        # the legacy contract (unqualified), served at ?wsdl=legacy
NODE_XSD = "NodeMessage.xsd"
NODE_WSDL = "ecms-node.wsdl"
XSD_FILES = (
    AGENCY_XSD,
    NODE_XSD,
    "NodeCarrier.xsd",
    "GovernmentDocument_1.0.xsd",
    "ReusableAggregateBusinessInformationEntity_1.xsd",
    "xmldsig-core-schema.xsd",
    # the stubs contract's copies (tools/gen_wsdl.py derives them from the files above)
    "AgencyInterface.stubs.xsd",
    "GovernmentDocument_1.0.stubs.xsd",
    "ReusableAggregateBusinessInformationEntity_1.stubs.xsd",
)
AGENCY_PATH = "/ecms-ws01/service2"    # where deployed e-Saraban clients POST (DESIGN section 3)
NODE_PATH = "/ecms-ws01/node"          # the node port (node-to-node exchange)
SERVED_XSD_PATH = "/ecms-ws01/xsd/"

_PREFIXES = {ns.RSM: "rsm", ns.RAM: "ram", ns.DS: "ds"}


def _package_data_dir(name: str) -> Path:
    """wsdl/ and xsd/ ship inside the package (package data), so a wheel serves them too."""
    folder = ROOT / name
    if not folder.is_dir():
        raise LocalError(f"contract folder {name}/ not found in {ROOT}")
    return folder


def _parse_file(path: Path) -> etree._ElementTree:
    # Our own files, but still parsed without network access or entities.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.parse(str(path), parser)


@functools.lru_cache(maxsize=None)
def agency_schema() -> etree.XMLSchema:
    """The compiled agency XSD (imports the letter and XML-DSig schemas)."""
    return etree.XMLSchema(_parse_file(_package_data_dir("xsd") / AGENCY_XSD))


@functools.lru_cache(maxsize=None)
def node_schema() -> etree.XMLSchema:
    """The compiled schema of NodeMessage, NodeReceipt and DirectorySnapshot."""
    return etree.XMLSchema(_parse_file(_package_data_dir("xsd") / NODE_XSD))


def validate(element: etree._Element, schema: etree.XMLSchema | None = None) -> None:
    """Validate one element (default: an agency operation); SCHEMA_INVALID with the first problem otherwise."""
    schema = schema or agency_schema()
    if schema.validate(element):
        return
    error = schema.error_log.last_error
    for entry in schema.error_log:
        error = entry
        break
    raise RemoteError(ErrorCode.SCHEMA_INVALID, _readable(error.message if error else "invalid"))


def _readable(message: str) -> str:
    """Write {uri}local as prefix:local, so the message reads like the XML the client sent."""
    def repl(match: re.Match[str]) -> str:
        prefix = _PREFIXES.get(match.group(1))
        return f"{prefix}:{match.group(2)}" if prefix else match.group(2)
    return re.sub(r"\{([^}]*)\}([\w.-]+)", repl, message)


@functools.lru_cache(maxsize=None)
def xsd_text(name: str) -> bytes:
    if name not in XSD_FILES:
        raise KeyError(name)
    return (_package_data_dir("xsd") / name).read_bytes()


@functools.lru_cache(maxsize=None)
def _wsdl_template(name: str) -> str:
    text = (_package_data_dir("wsdl") / name).read_text(encoding="utf-8")
    return text.replace('schemaLocation="../xsd/', f'schemaLocation="{SERVED_XSD_PATH}')


def served_wsdl(name: str, address: str) -> bytes:
    """The committed WSDL with this endpoint's address and the served schema locations."""
    text = re.sub(r'(<soap(?:12)?:address location=")[^"]*(")',
                  lambda m: f"{m.group(1)}{escape(address, {chr(34): '&quot;'})}{m.group(2)}", _wsdl_template(name))
    return text.encode("utf-8")


def wsdl_path(name: str = AGENCY_WSDL) -> Path:
    return _package_data_dir("wsdl") / name


def check_before_signing(element: etree._Element, schema: etree.XMLSchema) -> None:
    """Validate a document we built, before it is signed (STYLE 8: build -> validate -> sign last).

    The node schemas require the enveloped ds:Signature as the last child, so
    the one complaint allowed here is that it is still missing. Anything else
    is our own bug: LocalError, never a fault blamed on a peer.
    """
    if schema.validate(element):
        return
    problems = [e.message for e in schema.error_log
                if not ("Missing child element" in e.message and "Signature" in e.message)]
    if problems:
        raise LocalError(f"built {etree.QName(element).localname} is not schema-valid: {problems[0]}")
