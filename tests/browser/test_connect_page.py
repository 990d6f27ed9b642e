"""End-to-end tests of the one-click connect page in a real headless Chromium.

They run `woolink dev` (the real binary, in-memory backend) with its https listener, a fake
WooCommerce shop that implements `/wc-auth/v1/` as WooCommerce does (fake_wc_auth.py), and,
when WOOLINK_TEST_WOO_STACK names a running real store (../shared/woocommerce-stack), the
same flow through WooCommerce 7.9's own login and consent pages.

Run by scripts/test (scripts/browser-test); screenshots go to target/browser/.
Environment: WOOLINK_BIN (the woolink binary), WOOLINK_TEST_WOO_STACK (the stack's JSON line;
optional only when WOOLINK_BROWSER_NO_REAL_STORE=1 is set, never in scripts/test).
"""

import json
import os
import pathlib
import re
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from fake_wc_auth import ADMIN_PASSWORD, ADMIN_USER, Shop

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "target" / "browser"
WOOLINK = os.environ.get("WOOLINK_BIN", str(ROOT / "target" / "debug" / "woolink"))
DEMO_KEY = "wlt_demo_key_for_local_runs_only_0000000"
HEADINGS = {
    "en": "Who delivers your orders?",
    "es": "¿Quién entrega tus pedidos?",
    "zh-Hans": "谁为您配送订单？",
    "pl": "Kto dostarcza Twoje zamówienia?",
}


class Woolink:
    """`woolink dev` on free ports, until stopped."""

    def __init__(self, name, env=None, seed=None):
        OUT.mkdir(parents=True, exist_ok=True)
        self.cert = str(OUT / f"{name}-cert.pem")
        args = [WOOLINK, "dev", "--port", "0", "--tls-port", "0", "--tls-cert", self.cert, "--poll-minutes", "0"]
        if seed:
            args += ["--seed", seed]
        e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT")}
        e.update(env or {})
        self.log = open(OUT / f"{name}-woolink.log", "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True, env=e)
        self.url = self.https = None
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"woolink dev ended: see {self.log.name}")
            self.log.write(line)
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                self.url = m.group(1)
            m = re.search(r"https on (https://\S+)", line)
            if m:
                self.https = m.group(1)
            if line.startswith("listening on"):
                break
        assert self.url and self.https, "woolink dev did not say where it listens"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stdout.close()
        self.log.close()

    def api(self, path, key=DEMO_KEY):
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {key}"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")


def chromium(width=1024, height=900):
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--window-size={width},{height}",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='woolink-chromium-')}"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def wait_for(driver, css, timeout=30):
    return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def shot(driver, name):
    OUT.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(OUT / f"{name}.png"))


def walk_to_shop(driver, woolink, tenant, email, password, store_id, shop_url, lang="en", name=None):
    """Steps 1-4 of the page, by keyboard where a merchant would type: ends on the shop."""
    driver.get(f"{woolink.url}/connect?lang={lang}")
    field = wait_for(driver, "#tenant")
    if name:
        shot(driver, f"{name}-1-tenant")
    field.send_keys(tenant, Keys.ENTER)
    wait_for(driver, "#email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password)
    if name:
        shot(driver, f"{name}-2-login")
    driver.find_element(By.ID, "password").send_keys(Keys.ENTER)
    wait_for(driver, "#url")
    driver.find_element(By.CSS_SELECTOR, f"input[name=store][value='{store_id}']").click()
    driver.find_element(By.ID, "url").send_keys(shop_url)
    if name:
        shot(driver, f"{name}-3-store")
    driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    approve = wait_for(driver, "#approve")
    if name:
        shot(driver, f"{name}-4-ready")
    approve.click()


def shop_login_and_consent(driver, user, password, name=None, click="#approve"):
    wait_for(driver, "#username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    if name:
        shot(driver, f"{name}-5-shop-login")
    driver.find_element(By.CSS_SELECTOR, "form.wc-auth-login button[type=submit]").click()
    button = wait_for(driver, click)
    if name:
        shot(driver, f"{name}-6-shop-consent")
    button.click()


class FakeShopFlows(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.woolink = Woolink("fake")
        cls.shop = Shop(trust_cert=cls.woolink.cert)
        cls.driver = chromium()

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        cls.shop.stop()
        cls.woolink.stop()

    def setUp(self):
        self.driver.delete_all_cookies()
        urllib.request.urlopen(urllib.request.Request(self.shop.url + "/_test/mode", method="POST", data=b""))

    def shop_state(self):
        with urllib.request.urlopen(self.shop.url + "/_test/state") as r:
            return json.loads(r.read())

    def test_1_a_store_connects_and_a_replay_changes_nothing(self):
        d = self.driver
        walk_to_shop(d, self.woolink, "demo", "ops@demo.test", "demo-password-1", "st_demo_1", self.shop.url,
                     name="fake-en")
        shop_login_and_consent(d, ADMIN_USER, ADMIN_PASSWORD, name="fake-en")
        wait_for(d, "#connected")
        shot(d, "fake-en-7-connected")
        self.assertIn("is connected", d.find_element(By.TAG_NAME, "h1").text)
        self.assertEqual(d.find_element(By.ID, "webhooks").text, "8")
        state = self.shop_state()
        self.assertEqual(len(state["webhooks"]), 8, state)
        self.assertTrue(all(w["delivery_url"].endswith("/v1/webhooks/woocommerce/st_demo_1") for w in state["webhooks"]))
        self.assertEqual([c["status"] for c in state["callbacks"]], [200])
        self.assertTrue(state["callbacks"][0]["url"].startswith(self.woolink.https))
        self.assertEqual([k["permissions"] for k in state["keys"].values()], ["read_write"])
        status, body = self.woolink.api("/v1/tenant/stores/st_demo_1")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["status"], "connected", body)
        # WooCommerce's callback sent again: refused, nothing changes.
        with urllib.request.urlopen(urllib.request.Request(self.shop.url + "/_test/replay", method="POST", data=b"")) as r:
            self.assertEqual(json.loads(r.read())["status"], 409)
        after = self.shop_state()
        self.assertEqual(after["webhooks"], state["webhooks"])

    def test_2_denied_at_the_shop(self):
        d = self.driver
        walk_to_shop(d, self.woolink, "DEMO", "ops@demo.test", "demo-password-1", "st_demo_2", self.shop.url)
        shop_login_and_consent(d, ADMIN_USER, ADMIN_PASSWORD, click="#deny")
        wait_for(d, "main h1")
        shot(d, "fake-denied")
        self.assertIn("You did not approve woolink", d.find_element(By.TAG_NAME, "h1").text)
        status, body = self.woolink.api("/v1/tenant/stores/st_demo_2")
        self.assertNotEqual(body.get("status"), "connected", body)

    def test_3_read_only_keys_are_explained(self):
        urllib.request.urlopen(urllib.request.Request(self.shop.url + "/_test/mode?permissions=read", method="POST", data=b""))
        d = self.driver
        walk_to_shop(d, self.woolink, "DEMO", "ops@demo.test", "demo-password-1", "st_demo_2", self.shop.url)
        shop_login_and_consent(d, ADMIN_USER, ADMIN_PASSWORD)
        problem = wait_for(d, "#problem")
        shot(d, "fake-read-only")
        self.assertEqual(problem.get_attribute("data-problem"), "read_only")
        self.assertIn("read-only", problem.text)
        status, body = self.woolink.api("/v1/tenant/stores/st_demo_2")
        self.assertNotEqual(body.get("status"), "connected", body)

    def test_4_every_language_renders_on_a_phone_too(self):
        d = self.driver
        for lang, heading in HEADINGS.items():
            d.get(f"{self.woolink.url}/connect?lang={lang}")
            h1 = wait_for(d, "h1")
            self.assertEqual(h1.text, heading)
            self.assertEqual(d.find_element(By.TAG_NAME, "html").get_attribute("lang"), lang)
            shot(d, f"lang-{lang}-1-tenant")
            d.get(f"{self.woolink.url}/connect/DEMO?lang={lang}")
            wait_for(d, "#email")
            shot(d, f"lang-{lang}-2-login")
        # Accept-Language alone (Chromium's own setting) picks the language too.
        opts_driver = chromium(390, 844)
        try:
            for lang in HEADINGS:
                opts_driver.get(f"{self.woolink.url}/connect/DEMO?lang={lang}")
                wait_for(opts_driver, "#email")
                wide = opts_driver.execute_script(
                    "return document.documentElement.scrollWidth > window.innerWidth")
                self.assertFalse(wide, f"{lang}: the page scrolls sideways on a phone")
                shot(opts_driver, f"phone-{lang}-login")
        finally:
            opts_driver.quit()

    def test_5_keyboard_only(self):
        d = self.driver
        d.get(f"{self.woolink.url}/connect/DEMO?lang=en")
        wait_for(d, "#email")
        self.assertEqual(d.switch_to.active_element.get_attribute("id"), "email", "autofocus on the first field")
        order = []
        for _ in range(3):
            order.append(d.switch_to.active_element.get_attribute("id") or d.switch_to.active_element.tag_name)
            d.switch_to.active_element.send_keys(Keys.TAB)
        self.assertEqual(order, ["email", "password", "button"])
        # Every field has a label that names it.
        for field in d.find_elements(By.CSS_SELECTOR, "input:not([type=hidden])"):
            label = d.find_element(By.CSS_SELECTOR, f"label[for='{field.get_attribute('id')}']")
            self.assertTrue(label.text.strip(), field.get_attribute("id"))

    def test_6_the_page_does_not_run_in_a_frame_and_calls_no_one_else(self):
        d = self.driver
        d.get(f"{self.woolink.url}/connect")
        wait_for(d, "#tenant")
        entries = d.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        self.assertEqual([e for e in entries if not e.startswith(self.woolink.url)], [])
        # A page of another origin framing it gets nothing (frame-ancestors 'none').
        framing = OUT / "framing.html"
        framing.write_text(f'<iframe id="f" src="{self.woolink.url}/connect"></iframe>')
        d.get(framing.as_uri())
        time.sleep(1)
        d.switch_to.frame(d.find_element(By.ID, "f"))
        self.assertEqual(d.find_elements(By.ID, "tenant"), [])
        d.switch_to.default_content()


class ExpiredState(unittest.TestCase):
    def test_a_state_that_expired_at_the_shop_is_refused(self):
        woolink = Woolink("expired", env={"WOOLINK_CONSENT_TTL_SECS": "3"})
        shop = Shop(trust_cert=woolink.cert)
        d = chromium()
        try:
            walk_to_shop(d, woolink, "DEMO", "ops@demo.test", "demo-password-1", "st_demo_1", shop.url)
            wait_for(d, "#username")
            time.sleep(4)
            shop_login_and_consent(d, ADMIN_USER, ADMIN_PASSWORD)
            wait_for(d, "#error-page")
            shot(d, "fake-expired")
            self.assertIn("unable to send the consumer data", d.find_element(By.ID, "error-page").text)
            with urllib.request.urlopen(shop.url + "/_test/state") as r:
                state = json.loads(r.read())
            self.assertEqual([c["status"] for c in state["callbacks"]], [401])
            self.assertEqual(state["keys"], {}, "WooCommerce deletes the refused key")
            self.assertEqual(state["webhooks"], [])
            status, body = woolink.api("/v1/tenant/stores/st_demo_1")
            self.assertNotEqual(body.get("status"), "connected", body)
        finally:
            d.quit()
            shop.stop()
            woolink.stop()


class RealStore(unittest.TestCase):
    """The flow through WooCommerce 7.9's own `/wc-auth/v1/` pages on the real test store."""

    def test_the_real_store_connects_through_its_consent_screen(self):
        stack_json = os.environ.get("WOOLINK_TEST_WOO_STACK")
        if not stack_json:
            if os.environ.get("WOOLINK_BROWSER_NO_REAL_STORE") == "1":
                self.skipTest("WOOLINK_BROWSER_NO_REAL_STORE=1")
            self.fail("WOOLINK_TEST_WOO_STACK is not set: the real-store test cannot run")
        stack = json.loads(pathlib.Path(stack_json).read_text())
        seed = OUT / "real-seed.json"
        seed.write_text(json.dumps({"tenants": [{
            "code": "TRACKTECH", "name": "TrackingTech Chile", "active": True,
            "users": [{"email": "ops@tracktech.test", "password": "tracktech-password-1"}],
            "stores": [{"id": "st_real_consent", "name": "Tienda Real", "customerId": "cus_real"}]}]}))
        woolink = Woolink("real", seed=str(seed))
        trust = pathlib.Path(stack["wp_dir"]) / "wp-content" / "mu-plugins" / "woolink-test-trust.php"
        trust.write_text(trust_plugin(woolink.cert))
        d = chromium()
        try:
            walk_to_shop(d, woolink, "tracktech", "ops@tracktech.test", "tracktech-password-1",
                         "st_real_consent", stack["url"], lang="es", name="real-es")
            shop_login_and_consent(d, stack["admin_user"], stack["admin_password"], name="real-es",
                                   click="a.wc-auth-approve")
            wait_for(d, "#connected", timeout=60)
            shot(d, "real-es-7-connected")
            self.assertIn("está conectada", d.find_element(By.TAG_NAME, "h1").text)
            self.assertEqual(d.find_element(By.ID, "webhooks").text, "8")
            # The store has woolink's eight webhooks, active, made with the keys it was given.
            hooks = rest_get(stack, "webhooks?per_page=100")
            delivery = f"{woolink.url}/v1/webhooks/woocommerce/st_real_consent"
            mine = [h for h in hooks if h["delivery_url"] == delivery]
            self.assertEqual(len(mine), 8, [(h["topic"], h["delivery_url"]) for h in hooks])
            self.assertTrue(all(h["status"] == "active" for h in mine), mine)
            self.assertEqual(
                sorted(h["topic"] for h in mine),
                sorted(["order.created", "order.updated", "order.deleted", "order.restored",
                        "product.created", "product.updated", "product.deleted", "product.restored"]))
        finally:
            d.quit()
            trust.unlink(missing_ok=True)
            # Leave the shared store as it was for the tests that run after this one.
            for h in rest_get(stack, "webhooks?per_page=100"):
                if "/v1/webhooks/woocommerce/st_real_consent" in h["delivery_url"]:
                    rest_call(stack, "DELETE", f"webhooks/{h['id']}?force=true")
            woolink.stop()


def trust_plugin(cert_path):
    """A must-use plugin for the test store: WordPress verifies https callbacks to loopback
    hosts against woolink dev's certificate (a real shop verifies a real woolink's publicly
    trusted certificate; the test stack trusts only the system's CAs)."""
    return f"""<?php
// woolink browser test: trust woolink dev's self-signed certificate for loopback https.
add_filter('http_request_args', function ($args, $url) {{
    $host = wp_parse_url($url, PHP_URL_HOST);
    if (wp_parse_url($url, PHP_URL_SCHEME) === 'https' && in_array($host, array('127.0.0.1', 'localhost'), true)) {{
        $args['sslcertificates'] = {json.dumps(cert_path)};
    }}
    return $args;
}}, 10, 2);
"""


def rest_call(stack, method, path):
    import base64
    auth = base64.b64encode(f"{stack['consumer_key']}:{stack['consumer_secret']}".encode()).decode()
    req = urllib.request.Request(f"{stack['rest_base']}/{path}", method=method,
                                 headers={"Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def rest_get(stack, path):
    return rest_call(stack, "GET", path)


if __name__ == "__main__":
    unittest.main(verbosity=2)
