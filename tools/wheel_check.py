"""Build the wheel, install it in a fresh virtual environment in another folder, and use it there.

Checks what a checkout hides: the WSDL, the XSDs and the SQL ship as package
data (the node serves ``?wsdl`` and validates a letter from the installed
wheel, not from this folder), and neither ``bench`` nor ``tests`` is installed.
Run by ``make wheel-check`` (part of ``make test``). The fresh environment gets
the dependencies from this project's virtual environment (``PYTHONPATH`` to
its site-packages, which does not run the editable install's ``.pth`` hook),
so no download is needed.
"""
from __future__ import annotations

import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = r'''
import sys, pathlib
import gateway
from gateway.core.xml import contract
from gateway.runtime import wiring
where = pathlib.Path(gateway.__file__).resolve()
assert str(where).startswith(sys.argv[1]), f"gateway imported from {where}, not the fresh environment"
wsdl = contract.served_wsdl(contract.AGENCY_WSDL, "https://node.example/ecms-ws01/service2").decode()
assert 'location="https://node.example/ecms-ws01/service2"' in wsdl
for name in contract.XSD_FILES:
    assert contract.xsd_text(name)
from lxml import etree
request = etree.fromstring(b"<OutboundStatusRequest/>")
contract.validate(request)
store = wiring.open_store("sqlite::memory:")
assert store.migrate(), "no migrations shipped"
print("wheel ok:", where.parent)
'''


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="gateway-wheel-") as tmp:
        tmp_path = Path(tmp)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                        "-w", str(tmp_path / "dist"), str(ROOT)], check=True)
        wheel = next((tmp_path / "dist").glob("gateway-*.whl"))
        names = zipfile.ZipFile(wheel).namelist()
        tops = {n.split("/")[0] for n in names}
        assert not {"bench", "tests"} & tops, f"the wheel installs {sorted(tops)}"
        for needed in ("gateway/core/xml/schemas/wsdl/ecms-agency.wsdl", "gateway/core/xml/schemas/xsd/AgencyInterface.xsd",
                       "gateway/store/sql/sqlite/queries.sql"):
            assert needed in names, f"{needed} is not in the wheel"
        venv = tmp_path / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        python = venv / "bin" / "python"
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", site, str(wheel)],
                       check=True)
        deps = sysconfig.get_paths()["purelib"]
        subprocess.run([str(python), "-c", PROBE, str(venv)], check=True, cwd=tmp,
                       env={"PYTHONPATH": deps, "PATH": "/usr/bin:/bin"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
