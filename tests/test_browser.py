"""The served page in a real browser: Debian's chromium driven by Playwright, the server on 127.0.0.1.

The screenshot is kept as a test artifact: test-artifacts/serve-page.png (or $SALARYNET_TEST_ARTIFACTS).
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("SALARYNET_TEST_ARTIFACTS", ROOT / "test-artifacts"))


@contextmanager
def chromium_page(width: int, height: int):
    """A page of Debian's headless chromium, through Playwright (which then downloads no browser)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):  # .ci/run installs it: missing there is a failure, not a skip
            pytest.fail(f"{CHROMIUM} is missing; .ci/run should have installed Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(runs):
    with serving(runs / "recommended") as url:
        yield url


@pytest.fixture
def range_server(runs):
    with serving(runs / "recommended-range") as url:
        yield url


@contextmanager
def serving(run: Path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "salarynet", "serve", str(run), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(url + "health", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"the server did not start: {proc.stderr.read().decode()}")
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(10)


def api_predict(url: str, body) -> dict:
    request = urllib.request.Request(url + "predict", json.dumps(body).encode(), {"content-type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=10).read())


def test_fill_the_form_submit_and_read_the_answer(server):
    with chromium_page(1100, 1000) as page:
        page.goto(server)
        page.wait_for_selector("#f-age option", state="attached")
        page.select_option("#f-age", "35-44")
        page.select_option("#f-experience_overall", "11 - 20 years")
        page.select_option("#f-experience_field", "8 - 10 years")
        page.select_option("#f-education", "Master's degree")
        page.check("#f-gender-Woman")  # multi-select since the 2023 form
        page.select_option("#f-state", "Washington")
        page.check("#f-race-White")
        page.fill("#f-industry", "Computing or Tech")
        page.fill("#f-country", "USA")
        page.fill("#f-city", "Seattle")
        page.fill("#f-job_title", "Senior Software Engineer")
        page.click("button[type=submit]")
        page.wait_for_function("document.querySelectorAll('#chart circle').length > 0", timeout=15000)
        answer, detail = page.text_content("#answer"), page.text_content("#detail")
        why, change = page.text_content("#why"), page.text_content("#change")
        bands = page.eval_on_selector_all(
            "#f-experience_field option[value]:not([value=''])", "os => os.map(o => o.value)"
        )
        circles = page.eval_on_selector_all("#chart circle", "cs => cs.length")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "serve-page.png"), full_page=True)
        assert page.text_content("#error") == ""
        first_notes = page.eval_on_selector_all(".flag", "fs => fs.map(f => f.textContent)")
        # answers it never learned: a note next to each such field, gone again once the answer is one it knows
        page.fill("#f-city", "Zorblax")
        page.fill("#f-country", "Unites States")
        page.click("button[type=submit]")
        page.wait_for_selector("[data-testid=flag-city]", timeout=15000)
        city_note = page.text_content("[data-testid=flag-city]")
        country_note = page.text_content("[data-testid=flag-country]")
        city_box = page.eval_on_selector(
            "[data-testid=flag-city]", "e => e.parentElement.querySelector('#f-city') !== null"
        )
        page.screenshot(path=str(ARTIFACTS / "serve-page-flags.png"), full_page=True)
        page.fill("#f-city", "Seattle")
        page.fill("#f-country", "United States")
        page.click("button[type=submit]")
        page.wait_for_function("document.querySelectorAll('.flag').length === 0", timeout=15000)

    assert first_notes == ["country 'USA' read as 'United States'"]
    assert "'Zorblax' is not among" in city_note and city_box
    assert country_note == "country 'Unites States' read as 'United States'"

    assert re.fullmatch(r"\d+% chance of earning over \$100,000 in 2021", answer)  # the year learned: its dollars
    expected = api_predict(
        server,
        {
            "age": "35-44",
            "experience_overall": "11 - 20 years",
            "experience_field": "8 - 10 years",
            "education": "Master's degree",
            "gender": "Woman",
            "state": "Washington",
            "race": ["White"],
            "industry": "Computing or Tech",
            "country": "USA",
            "city": "Seattle",
            "job_title": "Senior Software Engineer",
        },
    )
    assert f"= {expected['probability']:.3f}" in detail  # the page shows what the API answers
    assert why == expected["explanation"]["sentence"] and why.startswith("Against the commonest answers, ")
    assert change == expected["explanation"]["counterfactual_sentence"] and change
    assert circles == len(bands)  # one point per experience band
    assert (ARTIFACTS / "serve-page.png").stat().st_size > 10_000


def test_a_range_model_s_page_shows_the_range_the_reasons_and_the_change(range_server):
    person = {
        "age": "25-34",
        "experience_overall": "11 - 20 years",
        "experience_field": "8 - 10 years",
        "industry": "Nonprofits",
        "country": "United States",
        "state": "Washington",
        "job_title": "Program Manager",
    }
    with chromium_page(1100, 1000) as page:
        page.goto(range_server)
        page.wait_for_selector("#f-age option", state="attached")
        page.select_option("#f-age", person["age"])
        page.select_option("#f-experience_overall", person["experience_overall"])  # required: nothing is chosen
        page.select_option("#f-experience_field", person["experience_field"])
        page.select_option("#f-state", person["state"])
        for name in ("industry", "country", "job_title"):
            page.fill(f"#f-{name}", person[name])
        page.fill("#f-year", "2025")  # a range model answers in any year's dollars of the wage index
        page.click("button[type=submit]")
        page.wait_for_function("document.querySelector('#why').textContent.length > 0", timeout=15000)
        answer, detail = page.text_content("#answer"), page.text_content("#detail")
        why, change = page.text_content("#why"), page.text_content("#change")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "serve-page-range.png"), full_page=True)
        assert page.text_content("#error") == ""
        sent = page.evaluate("answers()")  # what the form sent: its other answers left blank

    assert {k: sent[k] for k in person} == person and sent["year"] == 2025
    expected = api_predict(range_server, sent)
    assert answer == f"about ${round(expected['salary']):,} a year in 2025 dollars" and expected["year"] == 2025
    assert detail == f"80% range ${round(expected['low']):,} – ${round(expected['high']):,}"  # the conformal range
    assert expected["low"] < expected["salary"] < expected["high"]
    assert why == expected["explanation"]["sentence"] and "your industry (Nonprofits) lowers the salary estimate" in why
    assert change == expected["explanation"]["counterfactual_sentence"] and change


def test_the_page_chooses_nothing_for_the_person_and_shows_no_answer_before_the_first(server):
    with chromium_page(1100, 1000) as page:
        page.goto(server)
        page.wait_for_selector("#f-age option", state="attached")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "serve-page-before.png"), full_page=True)
        chosen = {s: page.input_value(s) for s in ("#f-age", "#f-experience_overall", "#f-experience_field")}
        hidden = page.eval_on_selector("#result", "e => e.hidden")  # no chart, no disclaimer beside nothing
        labels = page.eval_on_selector_all("form > div > div > label", "ls => ls.map(l => l.textContent)")
        page.click("button[type=submit]")  # nothing chosen: the browser asks for the required answers first
        still_hidden = page.eval_on_selector("#result", "e => e.hidden")
        icon = page.evaluate("fetch('favicon.ico').then(r => r.status)")
    assert chosen == {"#f-age": "", "#f-experience_overall": "", "#f-experience_field": ""}
    assert hidden and still_hidden and icon == 200
    assert "gender" in labels and not any(re.search(r"^(\w[\w ]*) \(\1\b", l) for l in labels), labels
    assert "race" in labels and not any("comma-separated" in l for l in labels)
    assert "age band *" in labels and any(l.startswith("country (free text)") for l in labels)
