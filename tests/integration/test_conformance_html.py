"""The HTML conformance report in a real browser: headless Chromium driven by Selenium.

Needs the Debian packages ``chromium``, ``chromium-driver`` (and ``fonts-thai-tlwg`` for Thai
glyphs in the screenshot) and ``selenium`` in the venv. When ``GATEWAY_SCREENSHOTS`` names a
folder, the screenshot is saved there too.
"""
from __future__ import annotations

import os
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from gateway.adapters.esaraban import Exchange
from gateway.conformance import reports
from gateway.conformance.plan import Case, Outcome, Report, Status

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
HINT = ("install the browser and its driver: `apt-get install -y chromium chromium-driver fonts-thai-tlwg` "
        "and `.venv/bin/pip install selenium==4.51.0`")
FAILED_TH = "การตรวจเวลาของโหนดตอบเวลาที่ถูกต้อง"
PASSED_TH = "โหนดให้บริการ WSDL"
HOSTILE = "หนังสือเชิญประชุม <script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 2\">"


def _envelope(inner: str) -> bytes:
    return ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            f"{inner}</soap:Body></soap:Envelope>").encode("utf-8")


def _case(id: str, en: str, th: str) -> Case:
    return Case(id=id, plan="node", title_en=en, title_th=th, section="3.2.1", prerequisite="โหนดเปิดให้บริการ")


def build_report() -> Report:
    exchange = Exchange(
        method="POST", url="http://127.0.0.1:8080/ecms/1001",
        request_headers={"Content-Type": "text/xml; charset=utf-8"},
        request_body=_envelope("<CorrespondenceLetterOutboundRequest><Subject>หนังสือเชิญประชุม &lt;script&gt;"
                               "window.pwned = 3&lt;/script&gt;</Subject></CorrespondenceLetterOutboundRequest>"),
        status=500, response_headers={"Content-Type": "text/xml; charset=utf-8"},
        response_body=_envelope("<soap:Fault><faultstring>เวลาไม่ตรง</faultstring></soap:Fault>"), seconds=0.12)
    return Report(
        plan="node", started="2026-12-02T11:47:30+07:00", finished="2026-12-02T11:49:05+07:00",
        kit_version="0.1.0", target={"endpoint": "http://127.0.0.1:8080/ecms/1001", "organisations": "1001 กรมทดสอบ"},
        outcomes=[
            Outcome(case=_case("A1", "WSDL is served", PASSED_TH), status=Status.PASSED, seconds=0.05),
            Outcome(case=_case("A2", "Thai subject survives", "ชื่อเรื่องภาษาไทยไม่เพี้ยน"), status=Status.PASSED),
            Outcome(case=_case("A3", "TimeCheck gives the node's clock", FAILED_TH), status=Status.FAILED,
                    seconds=0.42, exchanges=[exchange], message=f"ECMSTime: 93 s off\nsubject {HOSTILE}"),
            Outcome(case=_case("A4", "Deleted letters stay deleted", "หนังสือที่ลบแล้วไม่กลับมา"),
                    status=Status.BLOCKED, message="needs A3 to pass first"),
        ])


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail(f"selenium is not installed: {HINT}")
    for tool in (CHROMIUM, CHROMEDRIVER):
        if not os.access(tool, os.X_OK):
            pytest.fail(f"{tool} is missing: {HINT}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1280,1800",
                     f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser, tmp_path):
    path = tmp_path / "report.html"
    path.write_text(reports.html(build_report()), encoding="utf-8")
    browser.get(path.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    return browser


def test_the_report_renders_without_console_errors_failures_first(page):
    from selenium.webdriver.common.by import By
    severe = [entry for entry in page.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
    assert page.execute_script("return document.documentElement.lang") == "th"
    assert "Conformance report" in page.title and "รายงานการทดสอบ" in page.title
    failed = page.find_element(By.CSS_SELECTOR, "#case-A3 .title-th")
    passed = page.find_element(By.CSS_SELECTOR, "#case-A1 .title-th")
    assert failed.is_displayed() and failed.text == FAILED_TH
    assert passed.is_displayed() and passed.text == PASSED_TH
    assert failed.location["y"] < passed.location["y"]
    assert "2 ธันวาคม 2569 11:47:30 น." in page.find_element(By.TAG_NAME, "header").text
    # The hostile subject is text on the page; nothing of it ran or became an element.
    assert "<script>window.pwned = 1</script>" in page.find_element(By.CSS_SELECTOR, "#case-A3 .message").text
    assert page.find_elements(By.TAG_NAME, "script") == [] and page.find_elements(By.TAG_NAME, "img") == []
    assert page.execute_script("return window.pwned === undefined") is True


def test_an_envelope_opens_in_its_details(page):
    from selenium.webdriver.common.by import By
    details = page.find_element(By.CSS_SELECTOR, "#case-A3 details.exchange")
    response = details.find_elements(By.CSS_SELECTOR, "pre.body")[1]
    assert details.get_attribute("open") is None and not response.is_displayed()
    details.find_element(By.TAG_NAME, "summary").click()
    assert details.get_attribute("open") is not None and response.is_displayed()
    assert "<faultstring>เวลาไม่ตรง</faultstring>" in response.text
    request = details.find_elements(By.CSS_SELECTOR, "pre.body")[0].text
    assert "&lt;script&gt;window.pwned = 3&lt;/script&gt;" in request       # the escaped XML as it went
    assert page.execute_script("return window.pwned === undefined") is True
    assert [e for e in page.get_log("browser") if e["level"] == "SEVERE"] == []


def _png_facts(data: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values in the decompressed pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    chunks, offset = [], 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IDAT":
            chunks.append(data[offset + 8:offset + 8 + length])
        offset += 12 + length
    return width, height, len(set(zlib.decompress(b"".join(chunks))))


def test_a_screenshot_of_the_report(page, tmp_path):
    from selenium.webdriver.common.by import By
    page.find_element(By.CSS_SELECTOR, "#case-A3 details.exchange summary").click()
    shot = tmp_path / "conformance-report.png"
    assert page.save_screenshot(str(shot))
    data = shot.read_bytes()
    width, height, values = _png_facts(data)
    assert width >= 800 and height >= 600 and len(data) > 20_000
    assert values > 32, "the screenshot is nearly blank"
    folder = os.environ.get("GATEWAY_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(folder) / shot.name)
