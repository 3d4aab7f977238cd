"""The Spyne models, the dispatch table and the letter reader equal the committed contract."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from lxml import etree
from spyne import AnyXml
from spyne.model.complex import ComplexModelBase

from gateway.core.xml import contract, envelope
from gateway.core.letters import letter
from gateway.core import ns
from gateway.adapters.soap.agency import AgencySpyne
from gateway.core.errors import ErrorCode, RemoteError

XS = "{http://www.w3.org/2001/XMLSchema}"
WSDL = "{http://schemas.xmlsoap.org/wsdl/}"
ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "gateway" / "core" / "xml" / "schemas"


def _xsd(name: str) -> etree._Element:
    return etree.parse(str(SCHEMAS / "xsd" / name)).getroot()


AGENCY = _xsd("AgencyInterface.xsd")
RAM = _xsd("ReusableAggregateBusinessInformationEntity_1.xsd")


def _named(kind: str, name: str) -> etree._Element:
    found = AGENCY.find(f"{XS}{kind}[@name='{name}']")
    assert found is not None, f"no {kind} {name} in AgencyInterface.xsd"
    return found


def _occurs(el: etree._Element, inherited_optional: bool) -> tuple[int, str]:
    low = 0 if inherited_optional else int(el.get("minOccurs", "1"))
    high = el.get("maxOccurs", "1")
    return low, "unbounded" if high == "unbounded" else high


def xsd_fields(complex_type: etree._Element | None) -> list:
    """(name, namespace, minOccurs, maxOccurs, nested) of a complex type's content; a choice is optional fields."""
    if complex_type is None:
        return []
    out: list = []

    def walk(group: etree._Element, optional: bool) -> None:
        for child in group:
            if child.tag == f"{XS}sequence":
                walk(child, optional or child.get("minOccurs") == "0")
            elif child.tag == f"{XS}choice":
                walk(child, True)
            elif child.tag == f"{XS}element":
                low, high = _occurs(child, optional)
                if child.get("ref"):
                    prefix, local = child.get("ref").split(":")
                    out.append((local, child.nsmap[prefix], low, high, "ref"))
                    continue
                nested = xsd_fields(_type_of(child))
                out.append((child.get("name"), "", low, high, nested))

    walk(complex_type, False)
    return out


def _type_of(element: etree._Element) -> etree._Element | None:
    inline = element.find(f"{XS}complexType")
    if inline is not None:
        return inline
    type_name = element.get("type", "")
    if type_name.startswith("xs:") or not type_name:
        return None
    found = AGENCY.find(f"{XS}complexType[@name='{type_name}']")
    return found


def spyne_fields(model) -> list:
    if not (isinstance(model, type) and issubclass(model, ComplexModelBase)):
        return []
    out = []
    for name, field in model._type_info.items():
        attrs = field.Attributes
        high = "unbounded" if attrs.max_occurs in ("unbounded", float("inf")) or attrs.max_occurs > 1 else "1"
        if issubclass(field, AnyXml):
            out.append((name, attrs.sub_ns, attrs.min_occurs, high, "ref"))
        else:
            out.append((name, "", attrs.min_occurs, high, spyne_fields(field)))
    return out


def _wsdl_operations(name: str = contract.LEGACY_WSDL) -> dict[str, tuple[str, str]]:
    """operation -> (input element, output element), local names (the stubs WSDL prefixes them agency:)."""
    doc = etree.parse(str(SCHEMAS / "wsdl" / name)).getroot()
    messages = {m.get("name"): m.find(f"{WSDL}part").get("element").removeprefix("agency:")
                for m in doc.iter(f"{WSDL}message")}
    port_type = doc.find(f"{WSDL}portType")
    ops = {}
    for op in port_type.iter(f"{WSDL}operation"):
        ops[op.get("name")] = (messages[op.find(f"{WSDL}input").get("message").split(":")[1]],
                               messages[op.find(f"{WSDL}output").get("message").split(":")[1]])
    return ops


def _spyne_methods() -> dict:
    """Spyne's method descriptors by WSDL operation name."""
    app = AgencySpyne().app
    return {m.operation_name: m for ms in app.interface.service_method_map.values() for m in ms}


@pytest.mark.parametrize("name", [contract.LEGACY_WSDL, contract.AGENCY_WSDL])
def test_every_wsdl_operation_is_dispatched_and_nothing_else(name):
    wsdl = _wsdl_operations(name)
    assert {inp: op for op, (inp, _) in wsdl.items()} == envelope.OPERATIONS


def test_both_wsdls_describe_the_same_operations_and_bindings():
    legacy = etree.parse(str(SCHEMAS / "wsdl" / contract.LEGACY_WSDL)).getroot()
    stubs = etree.parse(str(SCHEMAS / "wsdl" / contract.AGENCY_WSDL)).getroot()
    shape = lambda doc: [(el.tag, el.get("name"), el.get("message"), el.get("binding"), el.get("type"))
                         for el in doc.iter() if isinstance(el.tag, str) and not el.tag.startswith(XS)
                         and el.tag != f"{WSDL}part"]
    assert shape(legacy) == shape(stubs)
    parts = {p.get("element") for p in stubs.iter(f"{WSDL}part")}
    assert all(part.startswith("agency:") for part in parts) and stubs.nsmap["agency"] == ns.AGENCY


def test_stubs_contract_files_are_what_gen_wsdl_writes():
    """The stubs XSDs are derived from the legacy ones; a hand edit or a forgotten regeneration fails here."""
    import runpy
    tool = runpy.run_path(str(ROOT / "tools" / "gen_wsdl.py"))
    for path, text in tool["files"]().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run python tools/gen_wsdl.py"


def _stubs_schema_fields(element_name: str) -> list:
    stubs = _xsd("AgencyInterface.stubs.xsd")
    found = stubs.find(f"{XS}element[@name='{element_name}']")
    assert found is not None
    inline = found.find(f"{XS}complexType")
    if inline is None and found.get("type", "").startswith("xs:"):
        return []
    named = inline if inline is not None else stubs.find(f"{XS}complexType[@name='{found.get('type')}']")
    return xsd_fields(named)


@pytest.mark.parametrize("op", sorted(_wsdl_operations()))
def test_stubs_xsd_is_the_legacy_xsd_without_the_processid_alias(op):
    """Same elements, occurrences and nesting in both contracts; only the lower-case alias is left out."""
    inp, outp = _wsdl_operations()[op]
    for element in (inp, outp):
        legacy = [f for f in xsd_fields(_type_of(_named("element", element))) if f[0] != "processID"]
        assert _stubs_schema_fields(element) == legacy, element


def test_stubs_schema_compiles_and_names_the_letter_id_attribute_nowhere():
    stubs = etree.XMLSchema(etree.parse(str(SCHEMAS / "xsd" / "AgencyInterface.stubs.xsd")))
    ram = _xsd("ReusableAggregateBusinessInformationEntity_1.stubs.xsd")
    letter_type = ram.find(f"{XS}complexType[@name='CorrespondenceLetterType']")
    assert letter_type.find(f"{XS}attribute") is None and letter_type.find(f"{XS}anyAttribute") is not None
    legacy_letter = RAM.find(f"{XS}complexType[@name='CorrespondenceLetterType']")
    assert legacy_letter.find(f"{XS}attribute").get("name") == "ID"   # the legacy contract is unchanged
    delete = etree.fromstring(f'<CorrespondenceLetterDeleteRequest xmlns="{ns.AGENCY}"><ProcessID>P</ProcessID>'
                              "</CorrespondenceLetterDeleteRequest>")
    assert stubs.validate(delete), stubs.error_log
    unqualified = etree.fromstring(f'<a:CorrespondenceLetterDeleteRequest xmlns:a="{ns.AGENCY}"><ProcessID>P'
                                   "</ProcessID></a:CorrespondenceLetterDeleteRequest>")
    assert not stubs.validate(unqualified)


def test_spyne_methods_match_the_wsdl_messages():
    wsdl = _wsdl_operations()
    methods = _spyne_methods()
    assert set(methods) == set(wsdl)
    for op, (inp, outp) in wsdl.items():
        d = methods[op]
        in_name = d.in_message.Attributes.sub_name or d.in_message.get_type_name()
        out_name = d.out_message.Attributes.sub_name or d.out_message.get_type_name()
        assert (in_name, out_name) == (inp, outp), op


@pytest.mark.parametrize("op", sorted(_wsdl_operations()))
def test_spyne_models_equal_the_xsd(op):
    inp, outp = _wsdl_operations()[op]
    d = _spyne_methods()[op]
    for element, model in ((inp, d.in_message), (outp, d.out_message)):
        declared = _named("element", element)
        expected = xsd_fields(_type_of(declared))
        assert spyne_fields(model) == expected, element


def test_letter_reader_follows_the_xsd_element_order():
    ctype = RAM.find(f"{XS}complexType[@name='CorrespondenceLetterType']")
    names = [e.get("name") for e in ctype.find(f"{XS}sequence")]
    assert tuple(names) == letter.LETTER_FIELDS


def test_xsd_compiles_and_validates_a_golden_letter():
    from gateway.testing.wire import send_request
    root = etree.fromstring(send_request())
    op = root.find(f"{{{ns.SOAP11_ENV}}}Body")[0]
    assert contract.agency_schema().validate(op), contract.agency_schema().error_log
    contract.validate(op)  # and the wrapper agrees
    broken = copy.deepcopy(op)
    letter_el = broken.find(f".//{ns.ram('CorrespondenceLetter')}")
    letter_el.remove(letter_el.find(ns.ram("Subject")))
    with pytest.raises(RemoteError) as refused:
        contract.validate(broken)
    assert refused.value.code.code == "1006" and "Subject" in refused.value.detail


@pytest.mark.parametrize("name, xsd", [(contract.AGENCY_WSDL, "AgencyInterface.stubs.xsd"),
                                       (contract.LEGACY_WSDL, "AgencyInterface.xsd")])
def test_served_wsdl_differs_only_in_address_and_schema_locations(name, xsd):
    committed = (SCHEMAS / "wsdl" / name).read_text(encoding="utf-8")
    served = contract.served_wsdl(name, "https://node.example/ecms-ws01/service2/2000100000").decode()
    normalise = lambda t: re.sub(r'location="[^"]*"', 'location=""', re.sub(r'schemaLocation="[^"]*"', "", t))
    assert normalise(served) == normalise(committed)
    assert 'location="https://node.example/ecms-ws01/service2/2000100000"' in served
    assert f'schemaLocation="/ecms-ws01/xsd/{xsd}"' in served


def test_readme_lists_every_error_code_with_its_meaning():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\d{4})` \| ([^|]+)\|", readme, re.M))
    assert set(rows) == {c.code for c in ErrorCode}
    for code in ErrorCode:
        assert rows[code.code].strip().startswith(code.english[:30]), code


def test_readme_lists_every_process_status():
    from gateway.core.state import ProcessStatus
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for status in ProcessStatus:
        assert f"| `{status.value}` |" in readme
    xsd_values = [e.get("value") for e in AGENCY.iter(f"{XS}enumeration")]
    assert xsd_values == [s.value for s in ProcessStatus]
