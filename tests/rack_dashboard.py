#!/usr/bin/python3
"""The rack's dashboard in a real browser: Debian's chromium, headless, driven by Selenium
(python3-selenium, chromium-driver). Run by tests/rack.rs once its rack is up, with BMC 2 killed:

    rack_dashboard.py URL

It checks that the page lists BMC 1 and 3 as ready and BMC 2 as stopped, shows BMC 1's console,
runs a command typed on the page, sets a temperature sensor and a GPIO input from the page and
reads both back in the guest, resets BMC 3 (booting, then ready again) and starts BMC 2 again
from its button. Exits non-zero with a message on failure."""

import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

# Generous: the guest answers in well under a second, a loaded CI machine may take longer.
WAIT = 120


def browser(profile):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    # As root in a sandboxed machine, without a display or outside network.
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def state(driver, name):
    return driver.find_element(By.CSS_SELECTOR, f'tr[data-bmc="{name}"] td.state').text


def console(driver):
    # The whole text, also the part scrolled out of the box.
    return driver.execute_script("return document.getElementById('console').textContent")


def until(driver, what, condition):
    try:
        # The page redraws its tables: an element found may be gone by the time it is read.
        return WebDriverWait(driver, WAIT, poll_frequency=0.2,
                             ignored_exceptions=(StaleElementReferenceException,
                                                 NoSuchElementException)).until(condition)
    except Exception:
        error = driver.find_element(By.ID, "error").text
        shown = driver.find_element(By.ID, "selected").text
        gpio = driver.find_element(By.ID, "gpio").text
        sys.exit(f"the page never showed {what} (its error line: {error!r}; showing {shown!r}; "
                 f"GPIO table:\n{gpio[:1500]}\nbrowser log: {driver.get_log('browser')}); console:\n"
                 f"{console(driver)[-2000:]}")


def type_line(driver, line):
    box = driver.find_element(By.ID, "console-input")
    box.send_keys(line)
    box.send_keys(Keys.ENTER)


def main():
    url = sys.argv[1]
    with tempfile.TemporaryDirectory() as profile:
        driver = browser(profile)
        try:
            driver.get(url)
            until(driver, "three BMCs", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#bmcs tbody tr")) == 3)
            until(driver, "bmc1 and bmc3 ready, bmc2 stopped",
                  lambda d: state(d, "bmc1") == "ready" and state(d, "bmc3") == "ready"
                  and state(d, "bmc2").startswith("stopped"))
            address = driver.find_element(By.CSS_SELECTOR, 'tr[data-bmc="bmc3"] td.address').text
            if address != "10.0.2.103":
                sys.exit(f"bmc3's address on the page is {address!r}")

            # BMC 1's console: its output arrives, a typed command runs.
            driver.find_element(By.CSS_SELECTOR, 'tr[data-bmc="bmc1"] button.open').click()
            until(driver, "console output", lambda d: len(console(d)) > 0)
            type_line(driver, "echo PAGE''TYPED=$((6 * 7))")
            until(driver, "the typed command's output", lambda d: "PAGETYPED=42" in console(d))

            # A sensor set from the page is what the guest's driver reads.
            row = until(driver, "the tmp105 sensor",
                        lambda d: d.find_elements(By.CSS_SELECTOR, 'tr[data-sensor^="tmp105"]'))[0]
            row.find_element(By.CSS_SELECTOR, "input.celsius").send_keys("51.5")
            row.find_element(By.CSS_SELECTOR, "button.set").click()
            until(driver, "the new temperature on the page",
                  lambda d: d.find_element(By.CSS_SELECTOR, 'tr[data-sensor^="tmp105"] td.value').text == "51.500")
            type_line(driver, "echo TEMP''READ=$(cat /sys/bus/i2c/devices/8-004d/hwmon/hwmon*/temp1_input)")
            until(driver, "the guest reading 51.5 C", lambda d: "TEMPREAD=51500" in console(d))

            # A GPIO input set high from the page is what the guest reads (M3, "presence-psu0",
            # line 99 of the 3.3 V controller, through sysfs).
            row = until(driver, "the presence-psu0 line",
                        lambda d: d.find_elements(By.CSS_SELECTOR, 'tr[data-line="presence-psu0"]'))[0]
            row.find_element(By.CSS_SELECTOR, "button.high").click()
            until(driver, "presence-psu0 high on the page",
                  lambda d: d.find_element(By.CSS_SELECTOR, 'tr[data-line="presence-psu0"] td.value').text == "1")
            type_line(driver, "b=$(for g in /sys/class/gpio/gpiochip*; do [ \"$(cat $g/label)\" = 1e780000.gpio ] "
                              "&& cat $g/base; done); echo $((b + 99)) > /sys/class/gpio/export; "
                              "echo GPIO''READ=$(cat /sys/class/gpio/gpio$((b + 99))/value)")
            until(driver, "the guest reading the line high", lambda d: "GPIOREAD=1" in console(d))

            # BMC 3's reset button reboots it: booting, then ready again.
            driver.find_element(By.CSS_SELECTOR, 'tr[data-bmc="bmc3"] button.reset').click()
            until(driver, "bmc3 booting after its reset", lambda d: state(d, "bmc3") == "booting")
            until(driver, "bmc3 ready again", lambda d: state(d, "bmc3") == "ready")

            # BMC 2 starts again from its button.
            driver.find_element(By.CSS_SELECTOR, 'tr[data-bmc="bmc2"] button.start').click()
            until(driver, "bmc2 booting again", lambda d: state(d, "bmc2") in ("booting", "ready"))
        finally:
            driver.quit()
    print("dashboard: ok")


if __name__ == "__main__":
    main()
