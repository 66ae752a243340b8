#!/usr/bin/python3
"""Drives the operator console (/console) in headless Chromium against a running tallyd.

Run by the end-to-end test Console.* (tests/e2e/console_test.cpp), which prepares the
data: a parked dead letter, a reconciliation, ledger postings and a stream. This script
pastes the token, checks each panel shows that data, retries the dead letter and rebuilds
a projection through the UI (its confirm step included), saves a screenshot and fails on
any error the browser logged (a Content-Security-Policy violation among them).

  console_check.py --base http://127.0.0.1:PORT --token JWT --dead-letter ID \
      --stream STREAM --rebuild credit --screenshot out.png
"""
import argparse
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--dead-letter", required=True)
    ap.add_argument("--stream", required=True)
    ap.add_argument("--rebuild", required=True)
    ap.add_argument("--screenshot", required=True)
    a = ap.parse_args()

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1400,2000", "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    # The page re-renders its tables every 5 s: an element read as it is replaced is read again.
    wait = WebDriverWait(driver, 30, ignored_exceptions=(StaleElementReferenceException,))
    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what, flush=True)
        if not ok:
            failures.append(what)

    def text(element_id):
        return driver.find_element(By.ID, element_id).text

    def until(predicate, what):
        try:
            wait.until(lambda d: predicate())
            check(True, what)
            return True
        except Exception as e:  # timeout, or the element never came
            check(False, f"{what} ({type(e).__name__}; status line: {text('status')!r})")
            return False

    try:
        driver.get(a.base + "/console")
        check(driver.title == "tally console", f"the page loads (title {driver.title!r})")
        check("no token" in text("who"), "without a token it asks for one")

        driver.find_element(By.ID, "token").send_keys(a.token)
        driver.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
        check(driver.execute_script("return sessionStorage.getItem('tally.console.token')") == a.token,
              "the token is kept in sessionStorage")
        check(driver.find_element(By.ID, "token").get_attribute("value") == "", "the token field is emptied")

        rows = lambda table: driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")
        until(lambda: len(rows("projectors")) >= 7, "projectors listed with their lag and positions")
        names = [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows("projectors")]
        check({"credit", "ledger", "orders", "passport"} <= set(names), f"the projectors by name: {names}")
        until(lambda: "relay watermark" in text("relay") and "Journal head" in text("relay"),
              "the relay's watermark against the journal head")
        until(lambda: any(r.find_elements(By.TAG_NAME, "td")[0].text == a.dead_letter for r in rows("dead-letters")),
              f"dead letter {a.dead_letter} listed")
        until(lambda: "clean" in text("reconcile") or "drifting" in text("reconcile"), "the last reconciliation")
        check("clean" in text("reconcile"), f"reconciliation clean: {text('reconcile')!r}")
        until(lambda: any("balanced" in r.text for r in rows("ledger")), "ledger totals per currency, balanced")
        check(not any("off by" in r.text for r in rows("ledger")), "no currency out of balance")

        # The stream explorer: events, hashes, chain validity.
        driver.find_element(By.ID, "stream-id").send_keys(a.stream)
        driver.find_element(By.CSS_SELECTOR, "#stream-form button").click()
        until(lambda: len(rows("events")) >= 1 and "chain" in text("chain"), f"stream {a.stream} explored")
        check("valid" in text("chain") and "BROKEN" not in text("chain"), f"its chain is valid: {text('chain')!r}")
        first = rows("events")[0].find_elements(By.TAG_NAME, "td")
        check(len(first) == 7 and first[5].text.endswith("…") and len(first[5].get_attribute("innerText")) > 5,
              "each event shows its hash")

        # Retry the dead letter (an admin's token).
        # The console refreshes its tables while we look: a button found just before a refresh
        # is gone by the click, so find it again.
        for attempt in range(10):
            try:
                button = driver.find_element(By.CSS_SELECTOR, f"#dead-letters button[data-id='{a.dead_letter}']")
                check(button.is_displayed(), "an admin sees the retry button")
                button.click()
                break
            except StaleElementReferenceException:
                if attempt == 9:
                    raise
                time.sleep(0.2)
        until(lambda: f"Dead letter {a.dead_letter} sent back" in text("status"), "the retry went through")
        until(lambda: not any(r.find_elements(By.TAG_NAME, "td")[0].text == a.dead_letter for r in rows("dead-letters")),
              "the retried letter leaves the list")

        # Rebuild, with its confirm step.
        Select(driver.find_element(By.ID, "rebuild-name")).select_by_value(a.rebuild)
        driver.find_element(By.ID, "rebuild-start").click()
        go = driver.find_element(By.ID, "rebuild-go")
        check(driver.find_element(By.ID, "rebuild-confirm").is_displayed(), "a rebuild asks for confirmation")
        check(not go.is_enabled(), "the confirm button is disabled until the name is typed")
        driver.find_element(By.ID, "rebuild-typed").send_keys(a.rebuild[:-1])
        check(not go.is_enabled(), "a wrong name keeps it disabled")
        driver.find_element(By.ID, "rebuild-typed").send_keys(a.rebuild[-1])
        wait.until(EC.element_to_be_clickable((By.ID, "rebuild-go")))
        go.click()
        until(lambda: f"Rebuilt {a.rebuild}:" in text("status"), f"the {a.rebuild} projection was rebuilt")

        driver.save_screenshot(a.screenshot)
        print(f"screenshot: {a.screenshot}")

        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        check(not errors, f"no errors in the browser's console: {errors}")
    finally:
        driver.quit()
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
