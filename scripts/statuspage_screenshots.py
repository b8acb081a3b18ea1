"""Take docs/img/statuspage*.png: the demo's public status page on a desktop and a phone.

Run from the repository root: `python scripts/statuspage_screenshots.py` (needs Playwright
and Debian's chromium, as the browser tests do). It uses a throwaway SQLite database.
"""

from __future__ import annotations

from demo_server import OUT, chromium, demo_server
from playwright.sync_api import sync_playwright


def main() -> None:
    with demo_server() as (base, _container), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        for name, width, height, full in (
            ("statuspage.png", 1280, 900, True),
            ("statuspage-phone.png", 390, 844, False),
        ):
            page = browser.new_page(viewport={"width": width, "height": height},
                                    device_scale_factor=1)  # fmt: skip
            page.goto(f"{base}/status/acme/")
            page.screenshot(path=str(OUT / name), full_page=full)
            page.close()
        browser.close()
    print("wrote", OUT / "statuspage.png", "and", OUT / "statuspage-phone.png")


if __name__ == "__main__":
    main()
