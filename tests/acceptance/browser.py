"""A real browser for the acceptance tests: headless Chromium driven by Selenium 4.

Debian's ``chromium`` and ``chromium-driver`` (``make system-deps``; ``fonts-thai-tlwg`` for the
Thai glyphs of the screenshots) and selenium from the test extras. A missing piece fails the
test with the command that installs it: the browser tests are never skipped.

Screenshots of each step go to ``test-artifacts/<name>/`` at the repository root, numbered in
the order they were taken, so a person can page through what the browser saw.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable

import pytest
import requests

from procs import until  # noqa: F401 - shared with the other process tests; re-exported for the browser tests

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
HINT = ("install the browser and its driver: `make system-deps` (Debian: `apt-get install -y chromium "
        "chromium-driver fonts-thai-tlwg`) and the test extras: `.venv/bin/pip install -e '.[test]'`")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
THAI = re.compile("[\u0e00-\u0e7f]")


def has_thai(text: str) -> bool:
    return bool(THAI.search(text))



def start_chrome(downloads: Path, profile: Path):
    """A headless Chromium in Thai (th-TH) that saves downloads into ``downloads`` without asking."""
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
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                     "--lang=th-TH", "--no-first-run", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {
        "intl.accept_languages": "th-TH,th",
        "download.default_directory": str(downloads),
        "download.prompt_for_download": False,
        "download.directory_upgrade": True,
        "safebrowsing.enabled": True,
    })
    try:
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    except Exception as exc:  # the driver's own message says what is wrong (version mismatch, ...)
        pytest.fail(f"Chromium did not start under chromedriver: {exc}\n{HINT}")
    # headless Chromium honours the preference, but say it to the browser too
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    return driver


class Shots:
    """Numbered screenshots in ``test-artifacts/<name>/``; the folder's earlier ones are removed first."""

    def __init__(self, driver, name: str) -> None:
        self.driver = driver
        self.folder = ARTIFACTS / name
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.count = 0

    def __call__(self, step: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{re.sub(r'[^A-Za-z0-9_-]+', '-', step)}.png"
        assert self.driver.save_screenshot(str(path)), f"no screenshot saved to {path}"
        return path


class Browser:
    """The driver, its download folder and the screenshot taker, with the waits the tests share."""

    def __init__(self, driver, downloads: Path, shots: Shots) -> None:
        self.driver, self.downloads, self.shot = driver, downloads, shots

    def get(self, url: str) -> None:
        self.driver.get(url)

    def css(self, selector: str, within=None) -> list:
        from selenium.webdriver.common.by import By
        return (within or self.driver).find_elements(By.CSS_SELECTOR, selector)

    def one(self, selector: str, within=None):
        found = self.css(selector, within)
        assert len(found) == 1, (f"expected exactly one {selector!r} on {self.driver.current_url}, found "
                                 f"{len(found)}:\n{self.text()[:2000]}")
        return found[0]

    def wait(self, selector: str, timeout: float = 10.0):
        """The first element matching ``selector`` once the page has one."""
        found = until(lambda: self.css(selector), timeout, f"{selector!r} on {self.driver.current_url}",
                      interval=0.1)
        return found[0]

    def reload_until(self, url: str, predicate: Callable, timeout: float, what: str, interval: float = 0.5):
        """Load ``url`` again and again until ``predicate()`` holds on the page (its value)."""
        def attempt():
            self.driver.get(url)
            return predicate()
        return until(attempt, timeout, what, interval=interval)

    def text(self, selector: str = "body") -> str:
        """The text of the first match, '' when none (or when the page went away while reading)."""
        from selenium.common.exceptions import StaleElementReferenceException
        try:
            found = self.css(selector)
            return found[0].text if found else ""
        except StaleElementReferenceException:
            return ""

    def fill(self, selector: str, value: str) -> None:
        field = self.one(selector)
        field.clear()
        field.send_keys(value)
        assert field.get_attribute("value") == value, f"typed {value!r} into {selector}, it holds " \
                                                      f"{field.get_attribute('value')!r}"

    def choose(self, selector: str, value: str) -> None:
        from selenium.webdriver.support.select import Select
        Select(self.one(selector)).select_by_value(value)

    def click(self, selector: str, within=None) -> None:
        self.one(selector, within).click()

    def click_and_load(self, selector: str, within=None, timeout: float = 15.0) -> None:
        """Click a link or a submit button and wait until the next page has replaced this one."""
        from selenium.common.exceptions import WebDriverException
        page = self.one("html")
        self.click(selector, within)

        def replaced() -> bool:
            # Chromium answers a query on the old page's element either "stale" or, while the new document
            # is being attached, "Node with given id does not belong to the document": both mean it is gone.
            try:
                page.is_enabled()
                return False
            except WebDriverException:
                return True
        until(replaced, timeout, f"the next page after clicking {selector!r}", interval=0.05)
        until(lambda: self.driver.execute_script("return document.readyState") == "complete", timeout,
              f"the page after clicking {selector!r}", interval=0.05)

    def download(self, name: str, timeout: float = 20.0) -> bytes:
        """The bytes of ``name`` once Chromium has finished saving it (no ``.crdownload`` left)."""
        path = self.downloads / name

        def done():
            partial = list(self.downloads.glob("*.crdownload"))
            return path.exists() and not partial and path.read_bytes()
        try:
            return until(done, timeout, f"the download {name}", interval=0.2)
        except AssertionError:
            raise AssertionError(f"{name} not downloaded; the folder holds {sorted(os.listdir(self.downloads))}")

    def session(self) -> requests.Session:
        """A requests session carrying the browser's cookies: the same login, for what a browser cannot show
        (status codes, a forged POST)."""
        session = requests.Session()
        for cookie in self.driver.get_cookies():
            session.cookies.set(cookie["name"], cookie["value"])
        return session


@pytest.fixture(scope="module")
def chrome(request, tmp_path_factory):
    """One Chromium for the module; screenshots in ``test-artifacts/<module name without test_>/``."""
    downloads = tmp_path_factory.mktemp("downloads")
    driver = start_chrome(downloads, tmp_path_factory.mktemp("chromium-profile"))
    name = getattr(request.module, "ARTIFACTS_NAME", request.module.__name__.removeprefix("test_"))
    try:
        yield Browser(driver, downloads, Shots(driver, name))
    finally:
        driver.quit()
