#!/usr/bin/env python3
"""Takes the README's picture of a `charrnn explain` page (docs/images/explain.png) with headless
Chromium through Playwright (`make browser` installs both), as a reader would see it: the hovered
character's alternatives showing, and the cells panel on the unit that follows the position in the line.
With pngquant (Debian's package) on PATH, the PNG is quantised to a palette: a third of the size.

usage: scripts/explain-screenshot.py PAGE.html OUT.png [--hover N] [--rank variance|quotes|column|newline]
"""

import argparse
import os
import shutil
import subprocess

from playwright.sync_api import sync_playwright

parser = argparse.ArgumentParser()
parser.add_argument("page")
parser.add_argument("out")
parser.add_argument("--hover", type=int, default=0, help="the character (1-based) whose tip shows")
parser.add_argument("--rank", default="column", help="what the units are ranked by")
parser.add_argument("--width", type=int, default=980)
parser.add_argument("--height", type=int, default=1000)
args = parser.parse_args()

with sync_playwright() as p:
    browser = p.chromium.launch(
        executable_path=os.environ.get("CHROMIUM") or shutil.which("chromium"), args=["--no-sandbox"]
    )
    page = browser.new_page(viewport={"width": args.width, "height": args.height})
    page.goto("file://" + os.path.abspath(args.page))
    page.wait_for_selector("body[data-ready='1']")
    page.select_option("#rank", args.rank)
    page.locator("#ranking button").first.click()
    if args.hover:
        page.hover(f"#text span:nth-child({args.hover})")
    page.screenshot(path=args.out)
    browser.close()
if shutil.which("pngquant"):
    subprocess.run(
        ["pngquant", "--quality", "70-95", "--speed", "1", "--force", "--output", args.out, args.out], check=True
    )
