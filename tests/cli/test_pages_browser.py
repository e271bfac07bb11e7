"""The results pages in headless Chromium (Debian's chromium and chromium-driver, driven by
Selenium; no browser download): they load with no console error and no request to another
host, draw every trace, hide a group on a legend click, switch an axis to log, sort a table on
a header click, look like something (a screenshot that is not blank), and run nothing a
folder's text says. Without the browser, this module skips with one line."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.pages import ATTRIBUTE, FOLDER_NAME, FOLDERS, SCRIPT_TAG

BROWSER_HINT = ("needs headless Chromium, its driver and Selenium: apt-get install chromium "
                "chromium-driver && pip install selenium")  # fmt: skip


def _browser_parts():
    """(chromium, chromedriver) when they and Selenium are installed, else None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None
    chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser")
                     if shutil.which(n)), None)  # fmt: skip
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").is_file() else None)
    return (chromium, driver) if chromium and driver else None


PARTS = _browser_parts()
if PARTS is None:
    pytest.skip(BROWSER_HINT, allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = PARTS
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,1800"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    # count any alert() instead of showing it (runs before every page's own scripts)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": (
        "window.__alerts = 0; window.alert = window.confirm = window.prompt = "
        "function () { window.__alerts += 1; };")})  # fmt: skip
    yield driver
    driver.quit()


def open_page(driver, page: Path) -> list[str]:
    """Load ``page``, wait for its figures; returns the URLs it requested."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("performance")  # drop what earlier pages logged
    driver.get_log("browser")
    driver.get(page.as_uri())
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(
        "return Array.from(document.querySelectorAll('.fig')).every("
        "g => g.data && g.data.length === +g.dataset.traces)"))  # fmt: skip
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


PAGES = [*FOLDERS, "."]


@pytest.mark.parametrize("name", PAGES)
def test_a_page_loads_offline_with_no_console_error_and_every_trace(browser, page_site, name):
    urls = open_page(browser, page_site / name / "index.html")
    assert urls and all(u.startswith("file://") for u in urls), urls
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    counts = browser.execute_script("return Array.from(document.querySelectorAll('.fig'))"
                                    ".map(g => [g.data.length, +g.dataset.traces])")  # fmt: skip
    assert all(n == want and n > 0 for n, want in counts)
    assert len(counts) >= (0 if name == "." else 4)
    assert browser.execute_script("return window.__alerts") == 0


def test_a_legend_click_hides_its_group_and_the_switch_logs_the_axis(browser, page_site):
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(browser, page_site / "latent" / "index.html")
    figure = browser.find_element("css selector", ".fig")
    entry = figure.find_elements("css selector", ".legend .traces .legendtoggle")[0]
    entry.click()
    hidden = ("var g = document.querySelector('.fig'); return g.data.filter("
              "t => t.legendgroup === g.data[0].legendgroup).map(t => t.visible)")
    WebDriverWait(browser, 5).until(lambda d: d.execute_script(hidden) == ["legendonly"] * 3)
    others = browser.execute_script("var g = document.querySelector('.fig'); return g.data"
                                    ".filter(t => t.legendgroup !== g.data[0].legendgroup)"
                                    ".map(t => t.visible === undefined || t.visible === true)")
    assert others and all(others)
    button = [b for b in figure.find_elements("css selector", ".updatemenu-button")
              if b.text == "y log"][0]
    button.click()
    WebDriverWait(browser, 5).until(lambda d: d.execute_script(
        "return document.querySelector('.fig').layout.yaxis.type") == "log")


def test_a_header_click_sorts_the_table(browser, page_site):
    open_page(browser, page_site / "tune" / "index.html")
    table = browser.find_element("css selector", "table.summary")
    header = [h for h in table.find_elements("css selector", "th") if h.text.startswith("swd")]
    column = "return Array.from(document.querySelectorAll('table.summary tbody tr'))" \
             ".map(r => r.cells[%d].getAttribute('data-v'))"  # fmt: skip
    index = browser.execute_script("return arguments[0].cellIndex", header[0])
    header[0].click()
    up = [float(v) for v in browser.execute_script(column % index)]
    assert up == sorted(up) and len(up) == 4
    header[0].click()
    assert [float(v) for v in browser.execute_script(column % index)] == sorted(up, reverse=True)
    labels = [h for h in table.find_elements("css selector", "th") if h.text == "group"][0]
    labels.click()
    shown = browser.execute_script(
        "return Array.from(document.querySelectorAll('table.summary tbody tr'))"
        ".map(r => r.cells[0].textContent)")  # fmt: skip
    assert shown == sorted(shown, key=str.lower)


@pytest.mark.parametrize("name", ["latent", "tune"])
def test_a_screenshot_is_not_blank(browser, page_site, name, tmp_path):
    from PIL import Image

    open_page(browser, page_site / name / "index.html")
    png = browser.get_screenshot_as_png()
    (tmp_path / f"{name}.png").write_bytes(png)
    pixels = np.asarray(Image.open(tmp_path / f"{name}.png").convert("L"), dtype=float)
    assert pixels.shape[0] > 500 and pixels.std() > 20


def test_markup_in_names_shows_as_text_and_runs_nothing(browser, page_site):
    from selenium.common.exceptions import NoAlertPresentException

    open_page(browser, page_site / FOLDER_NAME / "index.html")
    cells = [c.text for c in browser.find_elements("css selector", "table.summary td")]
    assert SCRIPT_TAG in cells and ATTRIBUTE in cells
    verdicts = browser.find_element("css selector", "ul.verdicts").text
    assert SCRIPT_TAG in verdicts and ATTRIBUTE in verdicts
    legend = browser.execute_script("return Array.from(document.querySelectorAll("
                                    "'.legendtext')).map(t => t.textContent)")  # fmt: skip
    assert SCRIPT_TAG in legend and ATTRIBUTE in legend
    assert FOLDER_NAME in browser.find_element("css selector", "h1").text
    assert browser.execute_script("return document.querySelectorAll('img').length") == 0
    assert browser.execute_script("return window.__alerts") == 0
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    open_page(browser, page_site / "index.html")
    assert FOLDER_NAME in browser.find_element("css selector", "body").text
    assert browser.execute_script("return window.__alerts") == 0
