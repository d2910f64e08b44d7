"""The page in a real browser (Debian's headless Chromium): what a person does, with a screenshot
of each page in tests/artifacts/."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import caldav
import pytest
from selenium.common.exceptions import NoAlertPresentException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from ..server import Server, password
from .conftest import screenshot


def mark_page(driver) -> None:
    """Mark the page shown now, so that `wait_for_next_page` can tell when another one replaced it."""
    driver.execute_script("window.__shownBefore = true")


def wait_for_next_page(driver) -> None:
    """Wait until a page other than the marked one is shown and loaded.  Each page gets a new window
    object, so the mark is gone once the answer replaced it; while Chromium swaps the documents, a
    question about the page may fail with an error of its own (stale element, a node "that does not
    belong to the document"): that is asked again, not a failure."""
    WebDriverWait(driver, 15, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script("return window.__shownBefore === undefined && document.readyState === 'complete'"))


def submit(driver, button) -> None:
    """Click a form's button and wait for the page that answers."""
    mark_page(driver)
    button.click()
    wait_for_next_page(driver)


def go(driver, server: Server, path: str) -> None:
    """Open a page and wait until it is the one shown (or the login page it sends a stranger to), loaded: not
    a page that a navigation still under way from the step before puts in its place."""
    address = server.url + "/.my" + path
    driver.get(address)
    shown = {unquote(urlsplit(address).path), "/.my/login"}
    WebDriverWait(driver, 15, ignored_exceptions=(WebDriverException,)).until(
        lambda d: unquote(urlsplit(d.current_url).path) in shown
        and d.execute_script("return document.readyState") == "complete")


def log_in(driver, server: Server, user: str, secret: str | None = None) -> None:
    """Fill in and send the login form.  A navigation the previous step started (page.js sends the
    language form as soon as a language is picked) may still replace the page while the form is
    filled in: then the form is filled in again on the page that came, at most three times."""
    for attempt in range(3):
        go(driver, server, "/login")
        try:
            WebDriverWait(driver, 15).until(expected_conditions.presence_of_element_located((By.ID, "user")))
            driver.find_element(By.ID, "user").send_keys(user)
            driver.find_element(By.ID, "password").send_keys(secret if secret is not None else password(user))
            submit(driver, driver.find_element(By.CSS_SELECTOR, "form.stacked button[type=submit]"))
            # the login answers with a redirect: wait for the page it leads to (or the refusal) to be the one shown
            WebDriverWait(driver, 15, ignored_exceptions=(WebDriverException,)).until(
                lambda d: d.execute_script("return document.readyState") == "complete"
                and (urlsplit(d.current_url).path != "/.my/login" or d.find_elements(By.CSS_SELECTOR, ".problem")))
            return
        except WebDriverException:
            if attempt == 2:
                raise


def pick_language(driver, value: str) -> None:
    """Pick a language in the page's list: page.js sends its form at once; wait for that answer."""
    mark_page(driver)
    Select(driver.find_element(By.ID, "language")).select_by_value(value)
    wait_for_next_page(driver)


def log_out(driver) -> None:
    submit(driver, driver.find_element(By.CSS_SELECTOR, "form[action$='/logout'] button"))


def create(driver, name: str, address_book: bool = False) -> None:
    field = driver.find_element(By.ID, "new-name")
    field.clear()
    field.send_keys(name)
    if address_book:
        driver.find_element(By.ID, "kind-book").click()
    submit(driver, driver.find_element(By.CSS_SELECTOR, "form[action$='/calendars/create'] button"))


def names_shown(driver) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "li.collection h3 .name")]


def no_alert(driver) -> None:
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018


def test_log_in_create_in_any_language_and_the_caldav_library_finds_them(browser, web_server: Server) -> None:
    browser.delete_all_cookies()
    log_in(browser, web_server, "alice", "wrong password")
    assert "The user name or the password is wrong" in browser.find_element(By.CSS_SELECTOR, ".problem").text
    screenshot(browser, "login-refused")
    log_in(browser, web_server, "alice")
    assert browser.find_element(By.TAG_NAME, "h1").text == "My calendars and address books"
    create(browser, "家庭")
    assert "Created “家庭”." in browser.find_element(By.CSS_SELECTOR, ".done").text
    create(browser, "Fußball 🎉")
    create(browser, "Kontakte der Müllers", address_book=True)
    assert {"家庭", "Fußball 🎉", "Kontakte der Müllers"} <= set(names_shown(browser))
    screenshot(browser, "calendars")

    client = caldav.DAVClient(url=web_server.url + "/", username="alice", password=password("alice"))
    found = {c.get_display_name() for c in client.principal().calendars()}
    assert {"家庭", "Fußball 🎉"} <= found
    log_out(browser)
    assert "You have logged out." in browser.find_element(By.CSS_SELECTOR, ".done").text
    go(browser, web_server, "/")
    assert browser.current_url.startswith(web_server.url + "/.my/login")
    screenshot(browser, "login")


def test_a_name_with_markup_is_text_in_the_browser_and_runs_nothing(browser, web_server: Server) -> None:
    browser.delete_all_cookies()
    log_in(browser, web_server, "erin")
    evil = "<script>alert(1)</script>"
    create(browser, evil)
    no_alert(browser)
    assert evil in names_shown(browser)
    assert f"Created “{evil}”." in browser.find_element(By.CSS_SELECTOR, ".done").text
    link = next(a for a in browser.find_elements(By.CSS_SELECTOR, "a.danger") if evil in a.text)
    submit(browser, link)
    no_alert(browser)
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Delete “{evil}”?"
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form.confirm button"))
    no_alert(browser)
    assert f"Deleted “{evil}”." in browser.find_element(By.CSS_SELECTOR, ".done").text


def test_deleting_says_who_loses_access(browser, web_server: Server) -> None:
    browser.delete_all_cookies()
    log_in(browser, web_server, "carol")
    create(browser, "Chor")
    web_server.ok("share", "add", "carol/Chor", "--user", "dave", "--role", "collaborator")
    web_server.ok("circle", "create", "choir", "--manager", "carol")
    web_server.ok("circle", "add", "choir", "frank", "grace", acting_as="carol")
    web_server.ok("share", "add", "carol/Chor", "--circle", "choir", "--role", "subscriber", "--invite")
    web_server.ok("invitation", "accept", "carol/Chor", acting_as="frank")
    go(browser, web_server, "/")
    card = next(li for li in browser.find_elements(By.CSS_SELECTOR, "li.collection") if "Chor" in li.text)
    assert "2 people" in card.text   # dave at once, frank accepted; grace has not answered
    submit(browser, card.find_element(By.CSS_SELECTOR, "a.danger"))
    losing = browser.find_element(By.ID, "losing").find_element(By.XPATH, "..").text
    assert "dave" in losing and "frank" in losing and "grace" in losing
    assert "collaborator" in losing and "accepted" in losing and "invited, no answer yet" in losing
    screenshot(browser, "delete-confirmation")
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form.confirm button"))
    assert "Chor" not in names_shown(browser)
    assert web_server.request("PROPFIND", "/dave/Chor~carol/", "dave", headers={"Depth": "0"}).status_code == 404


def test_the_page_in_chinese(browser, web_server: Server) -> None:
    browser.delete_all_cookies()
    log_in(browser, web_server, "bob")
    pick_language(browser, "zh_Hans")
    assert browser.find_element(By.TAG_NAME, "h1").text == "我的日历和通讯录"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-Hans"
    create(browser, "家庭")
    assert "已创建“家庭”。" in browser.find_element(By.CSS_SELECTOR, ".done").text
    screenshot(browser, "calendars-zh-Hans")
    pick_language(browser, "en")
    assert browser.find_element(By.TAG_NAME, "h1").text == "My calendars and address books"


def test_usable_at_a_phones_width_and_by_keyboard(browser, web_server: Server) -> None:
    browser.delete_all_cookies()
    browser.set_window_size(390, 844)
    try:
        log_in(browser, web_server, "grace")
        create(browser, "Familie Müller")
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width}px wide on a 390px screen"
        body = browser.find_element(By.TAG_NAME, "body")
        body.send_keys("\ue004")   # Tab: the first stop is the skip link
        assert browser.switch_to.active_element.get_attribute("class") == "skip"
        screenshot(browser, "calendars-phone")
    finally:
        browser.set_window_size(1280, 1000)
