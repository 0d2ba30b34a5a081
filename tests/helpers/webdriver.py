"""A minimal W3C WebDriver client over HTTP, for the one real-browser test (Debian chromium +
chromium-driver; no extra Python dependency)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tests.helpers.server_process import free_port

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def chromium_available() -> bool:
    return bool(shutil.which("chromedriver") and (shutil.which("chromium") or shutil.which("chromium-browser")))


class Browser:
    def __init__(self, endpoint: str, session_id: str) -> None:
        self._base = f"{endpoint}/session/{session_id}"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.request(method, f"{self._base}{path}", json=body, timeout=60)
        payload = response.json()
        if response.status_code != 200:
            raise AssertionError(f"webdriver {method} {path}: {payload}")
        return payload["value"]

    def go(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    @property
    def url(self) -> str:
        return self._call("GET", "/url")

    def find(self, css: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while True:
            found = self._call("POST", "/elements", {"using": "css selector", "value": css})
            if found:
                return found[0][ELEMENT]
            if time.monotonic() > deadline:
                raise AssertionError(f"no element {css!r} on {self.url}")
            time.sleep(0.1)

    def type(self, element: str, text: str) -> None:
        self._call("POST", f"/element/{element}/value", {"text": text})

    def click(self, element: str) -> None:
        self._call("POST", f"/element/{element}/click", {})

    def run_async(self, script: str, *args: Any) -> Any:
        return self._call("POST", "/execute/async", {"script": script, "args": list(args)})

    def wait_for_url(self, prefix: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while not self.url.startswith(prefix):
            if time.monotonic() > deadline:
                raise AssertionError(f"expected to reach {prefix}, still at {self.url}")
            time.sleep(0.1)
        return self.url


@contextmanager
def headless_chromium() -> Iterator[Browser]:
    port = free_port()
    driver = subprocess.Popen([shutil.which("chromedriver") or "chromedriver", f"--port={port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{endpoint}/status", timeout=2).json()["value"]["ready"]:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("chromedriver did not start")
            time.sleep(0.1)
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        options = {"binary": binary, "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                              "--disable-dev-shm-usage", "--no-first-run"]}
        created = httpx.post(f"{endpoint}/session", json={"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options}}}, timeout=60).json()["value"]
        browser = Browser(endpoint, created["sessionId"])
        try:
            yield browser
        finally:
            httpx.delete(f"{endpoint}/session/{created['sessionId']}", timeout=30)
    finally:
        driver.terminate()
        driver.wait(10)
