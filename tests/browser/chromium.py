"""Debian's headless chromium, driven by Selenium through Debian's chromedriver.

`make browser` installs both (`apt-get install chromium chromium-driver`). The driver's path is
given to Selenium explicitly, so Selenium Manager never looks for (or downloads) one, and the
flags keep chromium from reaching out to Google's services, which a closed network refuses.
Selenium is synchronous: callers run it in a thread (`asyncio.to_thread`) while the server
runs in the event loop.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))

DESKTOP = (1440, 900)
PHONE = (390, 844)  # a phone's CSS width and height, as Telegram opens a Mini App there
# Headless chromium's windows are at least 500 pixels wide: narrower ones are emulated.
NARROWEST_WINDOW = 500

FLAGS = (
    "--headless=new",
    "--no-sandbox",  # root in a container has no user namespace sandbox
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers have a small /dev/shm
    "--lang=pl-PL",
)


def missing() -> str | None:
    """Why the browser cannot run here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} not found: `make browser` installs Debian's {package}"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: `make install` installs the dev dependencies"
    return None


def browser_required() -> bool:
    return os.environ.get("REQUIRE_BROWSER", "") not in ("", "0", "false")


@contextlib.contextmanager
def chromium(size: tuple[int, int] = DESKTOP) -> Iterator[Any]:
    """A fresh headless chromium with a profile of its own, quit and removed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="win4ua-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    if size[0] < NARROWEST_WINDOW:
        options.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": size[0], "height": size[1], "pixelRatio": 1.0,
                              "touch": True, "mobile": True},
        })
        options.add_argument(f"--window-size={NARROWEST_WINDOW},{size[1]}")
    else:
        options.add_argument(f"--window-size={size[0]},{size[1]}")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver: Any, path: Path, *, full_page: bool = True) -> Path:
    """A PNG of the page; with `full_page` the window grows to the document's height first
    (headless chromium draws only what fits the window)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if full_page:
        width = driver.get_window_size()["width"]
        height = driver.execute_script(
            "return Math.ceil(document.documentElement.scrollHeight)"
        )
        driver.set_window_size(width, min(max(int(height) + 120, 400), 2400))
    driver.save_screenshot(str(path))
    return path
