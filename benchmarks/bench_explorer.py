"""The atlas explorer in headless Chromium: first paint, time to ready, redraws (issue 12).

The server is started the way a user starts it (``neuratlas serve --port <free>``, in a
subprocess, with a private, empty ``NEURATLAS_CACHE``), and the page is driven by
Playwright in Debian's Chromium (``/usr/bin/chromium`` or ``$NEURATLAS_CHROMIUM``).
Measurements, one run:

1. page load: ``--loads`` fresh loads of ``/`` (each in a new browser context: no HTTP
   cache, as a first visit), after one warm-up load that has the server make the
   default view's files (its template and resampled map; its time is shown too). Per
   load: first paint (Paint Timing ``first-contentful-paint``) and the time to
   ``ready`` (the first ``body[data-ready="true"]``: catalogue, region tree, template
   and labelled map fetched, decoded and drawn), both from navigation start; median;
2. redraws: ``--redraws`` clicks on the axial view and wheel steps over the coronal
   one, the page's ``explorer.lastRenderMs`` (drawing the three slices) after each,
   median and maximum; with the labelled map only (the default view), then with a
   probability map on top (Juelich, hIP1 left: three layers, the most work). The
   time from the input event to the end of the next frame (``requestAnimationFrame``
   then a task) is shown beside it;
3. for the choice between slices drawn in the browser and PNG tiles from the server
   (the explorer's contract): the round trip of a small route from the page
   (``fetch("/health")``, ``--redraws`` times, median) plus the in-process time to
   render one 218 x 182 slice of the MNI152 NLin6 template as a PNG with PIL
   (greyscale, and blended with the labelled map's colours), median of ``--redraws``:
   the least a tile could cost per view and step, before any image is decoded.

Targets (issue 12): first paint < 1 s, a slice update after a click or a scroll
< 100 ms; PASS/FAIL in the table. Progress goes to stderr, the table to stdout.

Run: ``.venv/bin/python benchmarks/bench_explorer.py`` (``--loads N``, ``--redraws N``,
``--keep`` to keep the server's log and cache).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

import bench_service  # the server start of the other service benchmark

ROOT = Path(__file__).resolve().parents[1]
NEURATLAS = ROOT / ".venv" / "bin" / "neuratlas"
VIEWPORT = {"width": 1400, "height": 900}
READY_TIMEOUT_MS = 180_000

SPACE = "neuratlas/space/mni152-nlin6-asym"
JUELICH = "neuratlas/parcellation/juelich-histological"
STAT_REGION = "hIP1 left"
PNG_MAP = ("aal1", "MNI152 NLin6")

FIRST_PAINT_MS = 1000
REDRAW_MS = 100

# in the page before its scripts: the first moment body[data-ready] turns "true", and the
# end of the frame after each click or wheel event (a rAF, then a task: after the paint)
PROBE = """
window.__bench = {readyAt: null, frames: []};
new MutationObserver(() => {
  if (window.__bench.readyAt === null && document.body?.dataset.ready === "true") {
    window.__bench.readyAt = performance.now();
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["data-ready"]});
for (const type of ["click", "wheel"]) {
  window.addEventListener(type, (event) => {
    const start = performance.now();
    requestAnimationFrame(() => setTimeout(() => {
      window.__bench.frames.push(performance.now() - start);
    }));
  }, {capture: true, passive: true});
}
"""


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def chromium() -> str | None:
    named = os.environ.get("NEURATLAS_CHROMIUM")
    return named or shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def server(work: Path) -> Iterator[str]:
    """``neuratlas serve`` on a free port with an empty cache, once ``/ready`` says so.

    Started and stopped as bench_service starts a server (the way a user does).
    """
    started, to_first = bench_service.start_server(work / "cache", work, None)
    try:
        ready = to_first + bench_service.wait_ready(started)
        log(f"server ready in {ready:.1f} s at {started.url('')}")
        yield started.url("")
    finally:
        bench_service.stop_server(started)


def wait_ready(page: Any) -> None:
    page.wait_for_function(
        "document.body.dataset.ready === 'true'", timeout=READY_TIMEOUT_MS, polling=50
    )
    page.evaluate("window.explorer.ready")


def fresh_page(browser: Any) -> tuple[Any, Any, list[str]]:
    """A new context (empty HTTP cache) and page with the probe; its console errors."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(PROBE)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    return context, page, errors


def load(browser: Any, url: str) -> tuple[float, float]:
    """One fresh load of the page: (first contentful paint, ready), ms from navigation."""
    context, page, errors = fresh_page(browser)
    try:
        page.goto(url)
        page.wait_for_function("window.__bench.readyAt !== null", timeout=READY_TIMEOUT_MS)
        paint = page.evaluate(
            "performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null"
        )
        ready = page.evaluate("window.__bench.readyAt")
        if errors:
            raise RuntimeError(f"console errors on load: {errors}")
        if paint is None:
            raise RuntimeError("no first-contentful-paint entry")
        return float(paint), float(ready)
    finally:
        context.close()


def redraws(
    page: Any, count: int, action: Callable[[int], None]
) -> tuple[list[float], list[float]]:
    """``action(i)`` ``count`` times: lastRenderMs after each, and event-to-frame times."""
    renders: list[float] = []
    page.evaluate("window.__bench.frames = []")
    for i in range(count):
        page.evaluate("window.explorer.lastRenderMs = null")
        action(i)
        page.wait_for_function("window.explorer.lastRenderMs !== null", timeout=10_000)
        renders.append(float(page.evaluate("window.explorer.lastRenderMs")))
        page.wait_for_function(f"window.__bench.frames.length >= {i + 1}", timeout=10_000)
        wait_ready(page)  # a click's assignment answered: the next input starts idle
    frames = [float(f) for f in page.evaluate("window.__bench.frames")]
    return renders, frames


def click_and_wheel(page: Any, count: int) -> dict[str, tuple[list[float], list[float]]]:
    """Redraws after clicks on the axial view and wheel steps over the coronal view."""
    rng = np.random.default_rng(12)
    axial = page.locator("#view-axial").bounding_box()
    spots = [
        (axial["x"] + axial["width"] * fx, axial["y"] + axial["height"] * fy)
        for fx, fy in rng.uniform(0.35, 0.65, size=(count, 2))
    ]
    clicks = redraws(page, count, lambda i: page.mouse.click(*spots[i]))
    coronal = page.locator("#view-coronal").bounding_box()
    page.mouse.move(coronal["x"] + coronal["width"] / 2, coronal["y"] + coronal["height"] / 2)
    # up then down: the slice stays inside the brain
    wheel = redraws(page, count, lambda i: page.mouse.wheel(0, -100 if i % 4 < 2 else 100))
    return {"click": clicks, "wheel": wheel}


def health_round_trips(page: Any, count: int) -> list[float]:
    """``fetch("/health")`` from the page, one after the other: ms each."""
    return page.evaluate(
        """async (count) => {
          const times = [];
          for (let i = 0; i < count; i++) {
            const start = performance.now();
            const response = await fetch("/health", {cache: "no-store"});
            await response.json();
            times.push(performance.now() - start);
          }
          return times;
        }""",
        count,
    )


def png_renders(count: int) -> dict[str, list[float]]:
    """PIL's time to render one 218 x 182 slice as PNG: greyscale, and with the labels."""
    from PIL import Image

    import neuratlas
    from neuratlas.volumes.resampling import resample_to_grid

    template = neuratlas.get_space(PNG_MAP[1]).get_template().fetch()
    data = np.asarray(template.dataobj)
    the_map = neuratlas.get_map(*PNG_MAP, "labelled")
    labels = np.asarray(
        resample_to_grid(the_map.fetch(), template.affine, template.shape, order=0).dataobj
    )
    low, high = np.percentile(data[data > 0], [1, 99.5])
    colours = np.random.default_rng(0).integers(0, 256, size=(int(labels.max()) + 1, 3))
    colours[0] = 0
    colours = colours.astype(np.uint8)
    x = data.shape[0] // 2 - 20  # a sagittal slice: 218 x 182 (y by z)
    assert data[x].shape == (218, 182), data[x].shape

    def grey() -> bytes:
        values = np.clip((data[x].astype(np.float32) - low) / (high - low), 0, 1) * 255
        image = Image.fromarray(np.flipud(values.astype(np.uint8).T))
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()

    def blended() -> bytes:
        values = np.clip((data[x].astype(np.float32) - low) / (high - low), 0, 1) * 255
        rgb = np.repeat(values[..., None], 3, axis=-1)
        label = labels[x].astype(np.intp)
        mask = label > 0
        rgb[mask] = 0.4 * rgb[mask] + 0.6 * colours[label[mask]]
        image = Image.fromarray(np.flipud(np.transpose(rgb.astype(np.uint8), (1, 0, 2))))
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()

    found = {}
    for name, render in (("greyscale", grey), ("with labels", blended)):
        render()  # warm-up
        times = []
        for _ in range(count):
            start = time.perf_counter()
            render()
            times.append((time.perf_counter() - start) * 1000)
        found[name] = times
        log(f"PNG {name}: {len(render())} bytes, median {statistics.median(times):.1f} ms")
    return found


def verdict(value: float, target: float) -> str:
    return "PASS" if value < target else "FAIL"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=5, help="fresh page loads (median)")
    parser.add_argument("--redraws", type=int, default=20, help="clicks, wheel steps, fetches")
    parser.add_argument("--keep", action="store_true", help="keep the server's log and cache")
    args = parser.parse_args()

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        log("error: needs playwright (pip install playwright, or make install)")
        return 1
    executable = chromium()
    if executable is None or not NEURATLAS.exists():
        log(f"error: needs Chromium (apt-get install chromium) and {NEURATLAS}")
        return 1
    version = subprocess.run(
        [executable, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()

    work = Path(tempfile.mkdtemp(prefix="bench_explorer_"))
    try:
        with server(work) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=executable, headless=True, args=["--no-sandbox"]
            )
            began = time.perf_counter()
            warm_paint, warm_ready = load(browser, f"{base}/")
            log(
                f"warm-up load (the server makes the files): first paint {warm_paint:.0f} ms,"
                f" ready {warm_ready:.0f} ms ({time.perf_counter() - began:.1f} s)"
            )
            paints, readies = [], []
            for i in range(args.loads):
                paint, ready = load(browser, f"{base}/")
                paints.append(paint)
                readies.append(ready)
                log(f"load {i + 1}/{args.loads}: first paint {paint:.0f} ms, ready {ready:.0f} ms")

            context, page, errors = fresh_page(browser)
            page.goto(f"{base}/")
            wait_ready(page)
            labelled = click_and_wheel(page, args.redraws)
            log("redraws with the labelled map: done")
            import neuratlas

            region = neuratlas.get_parcellation(JUELICH).get_region(STAT_REGION).id
            query = urlencode({"space": SPACE, "parcellation": JUELICH, "region": region})
            page.goto(f"{base}/?{query}")
            wait_ready(page)
            if page.locator("#colourbar").is_hidden():
                raise RuntimeError("the probability map is not shown")
            statistical = click_and_wheel(page, args.redraws)
            log("redraws with a probability map: done")
            round_trips = health_round_trips(page, args.redraws)
            if errors:
                raise RuntimeError(f"console errors: {errors}")
            context.close()
            browser.close()
        pngs = png_renders(args.redraws)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    med = statistics.median
    paint, ready = med(paints), med(readies)
    rtt = med(round_trips)
    print(f"\n## Atlas explorer in headless Chromium ({time.strftime('%Y-%m-%d')})")
    print(
        f"\n{version}, {VIEWPORT['width']} x {VIEWPORT['height']} px, `neuratlas serve` on"
        f" 127.0.0.1 with an empty cache; loads: median of {args.loads} fresh contexts"
        f" (no HTTP cache) after one warm-up load; redraws: median (max) of {args.redraws}."
    )
    print("\n| measurement | median | target | result |")
    print("|---|---:|---|---|")
    print(
        f"| first paint (`first-contentful-paint`), fresh load | {paint:.0f} ms |"
        f" < {FIRST_PAINT_MS} ms | {verdict(paint, FIRST_PAINT_MS)} |"
    )
    print(f"| time to `ready` (slices drawn), fresh load | {ready:.0f} ms | | |")
    print(
        f"| warm-up load on an empty server cache: first paint / ready |"
        f" {warm_paint:.0f} / {warm_ready:.0f} ms | | |"
    )
    for view, found in (("labelled map", labelled), ("probability map", statistical)):
        for kind, label in (("click", "a click"), ("wheel", "a wheel step")):
            renders, frames = found[kind]
            value = med(renders)
            print(
                f"| redraw after {label} (`lastRenderMs`), {view} |"
                f" {value:.1f} ms (max {max(renders):.1f}) | < {REDRAW_MS} ms |"
                f" {verdict(value, REDRAW_MS)} |"
            )
            print(
                f"| {label}: input event to frame painted, {view} |"
                f" {med(frames):.1f} ms (max {max(frames):.1f}) | < {REDRAW_MS} ms |"
                f" {verdict(med(frames), REDRAW_MS)} |"
            )
    print(f"| round trip of `fetch('/health')` from the page | {rtt:.1f} ms | | |")
    for name, times in pngs.items():
        print(
            f"| one 218 x 182 slice as PNG with PIL ({name}), in-process |"
            f" {med(times):.1f} ms | | |"
        )
    floor = rtt + med(pngs["greyscale"])
    in_browser = med(statistical["wheel"][0])
    print(
        f"\nA PNG tile could not cost less than {floor:.1f} ms per view and step (round trip"
        f" + greyscale render, before the browser decodes it; three views per step), against"
        f" {in_browser:.1f} ms to redraw all three views in the browser with a probability"
        f" map on top."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
