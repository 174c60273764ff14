"""Screenshots of a rendered video in the Dagster UI, taken in a real headless browser.

Renders one example spec with ``videogen render`` into a fresh instance and store, starts
``dagster-webserver`` on 127.0.0.1, and has Playwright drive the system's Chromium to the
``final_video``, ``storyboard`` and ``chunks`` asset pages: their metadata (chunk list, this
run's cost beside the video's whole spend) and the animated previews and contact sheet that
``[Show Markdown]`` opens. The PNGs land in ``docs/screenshots/``.

Not part of the default test run (it needs a browser from apt). A documented check::

    apt-get install -y chromium
    pip install -e '.[screenshots]'
    python docs/screenshots.py            # about 2 minutes on 2 cores

It fails (exit status 1) when a page does not show what it should: the preview images must
have loaded in the browser (an ``<img>`` with a ``data:image/webp`` source and a natural width).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
#: No network, no updates, no first-run UI: the browser talks to 127.0.0.1 only.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1600, "height": 1400}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--spec", type=Path, default=ROOT / "specs/examples/market-mixed-beats.yaml"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs/screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    video_id = args.spec.stem
    with tempfile.TemporaryDirectory(prefix="videogen-screenshots-") as tmp:
        env = _environment(Path(tmp))
        print(f"rendering {args.spec.name} ...", flush=True)
        subprocess.run([BIN / "videogen", "render", args.spec], env=env, check=True)
        port = _free_port()
        server = subprocess.Popen(
            [BIN / "dagster-webserver", "-h", "127.0.0.1", "-p", str(port)]
            + ["-m", "videogen_dagster.definitions"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_for(f"{base}/server_info")
            problems = _screenshots(base, video_id, args.out)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    for problem in problems:
        print(f"screenshots: {problem}", file=sys.stderr)
    print(f"wrote {sorted(p.name for p in args.out.glob('*.png'))}")
    return 1 if problems else 0


def _environment(tmp: Path) -> dict[str, str]:
    from videogen_dagster.instance import write_instance_config

    home = tmp / "dagster_home"
    home.mkdir()
    write_instance_config(home)
    return {**os.environ, "DAGSTER_HOME": str(home), "VIDEOGEN_STORE": str(tmp / "store")}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _screenshots(base: str, video_id: str, out: Path) -> list[str]:
    """Take every screenshot; what a page failed to show, in words."""
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport=VIEWPORT)
        shots = [
            ("final_video", "", "video_spent_usd", None, "final_video.png"),
            ("final_video", "checks", "final_video_plays", "preview", "final_video_preview.png"),
            ("storyboard", "", "contact_sheet", "contact_sheet", "storyboard.png"),
            ("chunks", "", "video_spent_usd", None, "chunks.png"),
            ("chunks", "checks", "every_clip_plays", "previews", "chunks_previews.png"),
        ]
        for asset, view, wait_for, markdown, name in shots:
            query = f"?partition={video_id}" + (f"&view={view}" if view else "")
            page.goto(f"{base}/assets/{asset}{query}", timeout=120_000)
            page.get_by_text(wait_for).first.wait_for(timeout=120_000)
            _dismiss_the_newsletter_dialog(page)
            if view == "checks":
                page.get_by_text(wait_for).first.click()
                page.get_by_text("Latest execution").first.wait_for(timeout=60_000)
            if markdown is not None:
                problem = _open_markdown(page, markdown)
                if problem:
                    problems.append(f"{name}: {problem}")
            page.wait_for_timeout(1500)  # let the WebPs play a few frames
            page.screenshot(path=str(out / name), full_page=True)
            print(f"  {name}", flush=True)
        browser.close()
    return problems


def _dismiss_the_newsletter_dialog(page: Page) -> None:
    """The UI's first visit asks to join the community; skip it."""
    page.wait_for_timeout(1000)
    skip = page.get_by_role("button", name="Skip")
    if skip.count():
        skip.first.click()


def _open_markdown(page: Page, key: str) -> str | None:
    """Click ``[Show Markdown]`` on the metadata row ``key``; None once its images loaded."""
    row = page.locator("tr", has=page.get_by_text(key, exact=True)).first
    row.get_by_text("[Show Markdown]").first.click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for(timeout=30_000)
    images = dialog.locator("img")
    images.first.wait_for(timeout=30_000)
    widths = images.evaluate_all("imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    if not widths or min(widths) == 0:
        return f"{key}: {len(widths)} image(s), not all loaded: {widths}"
    return None


if __name__ == "__main__":
    sys.exit(main())
