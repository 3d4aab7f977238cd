"""A generated client: PHP's SoapClient in WSDL mode (php-soap), against a live node.

tests/interop/php/client.php runs the whole flow of tests/interop/README.md with a SoapClient
created from the WSDL the live node serves. PHP has no generator step: SoapClient reads the WSDL
and the XSDs it imports when it is created and derives every operation and type from them, so
there is nothing to build or cache; the session fixture runs the "Build" commands of
tests/interop/php/BUILD.md (the soap extension is there, the program compiles), and
:func:`test_php_soapclient_derives_every_operation_from_the_served_wsdl` runs its
``--describe`` command to see what SoapClient derived (``__getFunctions()``, ``__getTypes()``).
Needs the Debian packages php-cli and php-soap; fails (never skips) when they are missing.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.core import ns
from gateway.core.xml.envelope import OPERATIONS
from gateway.testing.fixtures import CENTRAL
from interop_flow import check_flow, run_flow

PHP_DIR = Path(__file__).resolve().parent.parent / "interop" / "php"
CLIENT = PHP_DIR / "client.php"
BUILD_MD = PHP_DIR / "BUILD.md"
STACK = "php-soapclient"
TIMEOUT_S = 60
MISSING = "install the Debian packages php-cli and php-soap (PHP 8.2 with the soap extension)"


def build_md_commands(heading: str) -> str:
    """The ```sh block under ``## heading`` in BUILD.md: the commands the docs quote, run as they are."""
    text = BUILD_MD.read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)
    assert len(section) == 2, f"{BUILD_MD} has no '## {heading}' section"
    block = re.search(r"```sh\n(.*?)```", section[1].split("\n## ", 1)[0], re.S)
    assert block, f"the '## {heading}' section of {BUILD_MD} has no ```sh block"
    return block.group(1)


def run_commands(commands: str, *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(["bash", "-e", "-c", commands], cwd=PHP_DIR, capture_output=True, encoding="utf-8",
                          timeout=TIMEOUT_S, env={**os.environ, **(env or {})})
    assert done.returncode == 0, f"in {PHP_DIR}:\n{commands}\nfailed ({done.returncode}):\n{done.stderr}\n{done.stdout}"
    return done


@dataclass(frozen=True)
class Php:
    binary: str
    version: str


@pytest.fixture(scope="session")
def php() -> Php:
    """PHP with php-soap, checked once per session by the Build commands of BUILD.md (nothing is generated)."""
    binary = shutil.which("php")
    if binary is None:
        pytest.fail(f"`php` is not on PATH: {MISSING}")
    soap = subprocess.run([binary, "-r", 'exit(extension_loaded("soap") ? 0 : 1);'], capture_output=True, timeout=TIMEOUT_S)
    if soap.returncode != 0:
        pytest.fail(f"{binary} has no soap extension: {MISSING}")
    run_commands(build_md_commands("Build"))
    version = subprocess.run([binary, "-r", "echo PHP_VERSION;"], capture_output=True, encoding="utf-8",
                             timeout=TIMEOUT_S, check=True).stdout.strip()
    return Php(binary, version)


@pytest.mark.parametrize("soap12", [False, True], ids=["soap11", "soap12"])
def test_php_soapclient_runs_the_whole_flow(php, live, tmp_path, soap12):
    flow, out = run_flow(live, [php.binary, str(CLIENT)], tmp_path, soap12=soap12, cwd=PHP_DIR, timeout=TIMEOUT_S)
    check_flow(out, live, flow, stack=STACK, soap12=soap12)
    assert out["stackVersion"] == php.version
    # The run used SoapClient's WSDL mode: the 12 operations, and a letter written from the
    # schema's types (qualified wrapper, rsm:GovernmentDocument) in the asked SOAP version.
    assert out["wsdlMode"] == {"operations": len(OPERATIONS), "sentLetter": {
        "envelope": ns.SOAP12_ENV if soap12 else ns.SOAP11_ENV,
        "body": f"{{{ns.AGENCY}}}CorrespondenceLetterOutboundRequest",
        "item": f"{{{ns.RSM}}}GovernmentDocument"}}
    assert out["unknownReceiver"]["mechanism"] == "SoapFault->detail"
    assert out["unknownReceiver"]["faultCode"] == ("env:Sender" if soap12 else "SOAP-ENV:Client")


# ``ReturnType Operation(ParameterType $body)``, as __getFunctions() writes a document/literal operation.
SIGNATURE = re.compile(r"(?P<answer>[\w-]+) (?P<operation>\w+)\((?P<parameter>[\w-]+) \$body\)")


def test_php_soapclient_derives_every_operation_from_the_served_wsdl(php, live):
    wsdl = live.endpoint(CENTRAL) + "?wsdl"
    done = run_commands(build_md_commands("What SoapClient derived from the WSDL"), env={"WSDL": wsdl})
    described = json.loads(done.stdout)
    assert (described["stack"], described["stackVersion"]) == (STACK, php.version)
    functions, types = described["functions"], described["types"]

    signatures = {}
    for function in functions:
        assert "UNKNOWN" not in function and "mixed" not in function, function
        match = SIGNATURE.fullmatch(function)
        assert match, f"not a typed document/literal operation: {function!r}"
        signatures[match["operation"]] = (match["parameter"], match["answer"])
    assert len(functions) == len(signatures) == len(OPERATIONS)
    assert set(signatures) == set(OPERATIONS.values())

    structs = {m[1]: m[2] for m in (re.fullmatch(r"struct ([\w-]+) \{\n(.*)\}", t, re.S) for t in types) if m}
    # Every parameter and every answer is a struct of the schema (TimeCheck answers ECMSTime, an xs:string).
    for operation, (parameter, answer) in signatures.items():
        assert parameter in structs, (operation, parameter)
        assert answer in structs or (operation, answer) == ("TimeCheck", "string"), (operation, answer)
    assert signatures["CorrespondenceLetterOutbound"] == ("CorrespondenceLetterOutboundRequest",
                                                          "CorrespondenceLetterOutboundResponse")
    assert signatures["CorrespondenceLetterDelete"] == ("CorrespondenceLetterDeleteRequest",
                                                        "CorrespondenceLetterDeleteResponse")
    assert signatures["GetOrganizationList"] == ("EmptyType", "OrganizationList")
    # The letter's types, as the program fills them.
    assert " GovernmentDocumentType GovernmentDocument;\n" in structs["CorrespondenceLetterOutboundRequest"]
    assert " CorrespondenceLetterType CorrespondenceLetter;\n" in structs["GovernmentDocumentType"]
    assert " BinaryObjectType MainLetterBinaryObject;\n" in structs["CorrespondenceLetterType"]
    assert structs["BinaryObjectType"] == " base64Binary _;\n string mimeCode;\n"
    assert structs["ErrorDetail"] == " string ErrorCode;\n string ErrorDescription;\n"
    assert " string ECMS-URL;\n" in structs["OrganizationInfo"]
