"""The book as its readers see it: every chapter opened in a real browser, offline.

Headless Chromium (Debian's ``chromium``, installed as the corpus installs its Debian packages) opens each
page of the built book with the network cut off (every host name resolves to nothing, every request goes to
a closed local port), and the test reads what the page shows once its scripts have run: no raw TeX delimiter
in the visible text, no broken image, every formula typeset by MathJax, every figure with a caption. A book that loads MathJax from a CDN
fails here, as it fails its readers without a network. Screenshots of two chapters are kept in
``<build>/browser/`` for a person to look at.

The browser is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: fd 3 to the browser,
fd 4 from it, NUL-separated JSON), with the standard library only.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

from asvnb import book, config

ROOT = Path(__file__).resolve().parents[1]
# the chapters whose screenshots are kept: the leaderboard's metrics and study 02's equations
SCREENSHOTS = ("notebooks/05_leaderboard", "notebooks/02_overlap_pipeline")
WIDTH, HEIGHT = 1280, 2000
# what a reader would see instead of a formula if MathJax did not run
RAW_TEX = ("\\(", "\\[", "$$")

# Run in the page once it has loaded: wait for MathJax's first typesetting (when MathJax is there at all),
# load every image now (lazy ones too), then report what the reader sees.
INSPECT = r"""
(async () => {
  if (document.readyState !== "complete") {
    await new Promise(r => window.addEventListener("load", r, {once: true}));
  }
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const images = [...document.images];
  for (const img of images) { img.loading = "eager"; }
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  // visible text outside code: hidden nodes (a folded cell, a closed menu) are not read
  const parts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest("pre, code, script, style, noscript, mjx-container, mjx-assistive-mml")) continue;
    if (!el.getClientRects().length || getComputedStyle(el).visibility === "hidden") continue;
    parts.push(node.textContent);
  }
  const math = [...document.querySelectorAll(".math")];
  // a figure a cell shows must say what to look at: an image in a <figure> with a caption
  const uncaptioned = [...document.querySelectorAll(".cell_output img")].filter(img => {
    const caption = img.closest("figure")?.querySelector("figcaption");
    return !caption || !caption.textContent.trim();
  });
  return JSON.stringify({
    title: document.title,
    text: parts.join(" "),
    images: images.map(img => ({src: img.getAttribute("src"), width: img.naturalWidth,
                                complete: img.complete})),
    math: math.length,
    typeset: math.filter(m => m.querySelector("mjx-container")).length,
    mjx: document.querySelectorAll("mjx-container").length,
    mathjax: !!(window.MathJax && MathJax.version),
    uncaptioned: uncaptioned.length,
  });
})()
"""


class Browser:
    """Headless Chromium without a network, spoken to over its DevTools pipe."""

    def __init__(self, exe: str, profile_dir: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def fds() -> None:
            """In the child: the pipe ends on fd 3 (commands in) and fd 4 (replies out)."""
            # moved above 4 first: a pipe end may itself be fd 3 or 4, which the other dup2 would clobber
            ends = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser_r, from_browser_w)]
            for target, fd in zip((3, 4), ends):
                os.dup2(fd, target)  # inheritable, unlike os.pipe()'s ends
                os.close(fd)

        self.proc = subprocess.Popen(
            [
                exe,
                "--headless",
                "--no-sandbox",  # the tests run as root
                "--disable-gpu",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile_dir}",
                f"--window-size={WIDTH},{HEIGHT}",
                "--hide-scrollbars",
                # the network off: no proxy answers on port 9, no name resolves
                "--proxy-server=127.0.0.1:9",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "about:blank",
            ],
            # dup2 leaves fds 3 and 4 inheritable; closing the others would close them too
            close_fds=False,
            preexec_fn=fds,
            # its own process group: chromium's helpers (renderers, crashpad) outlive the main process and keep
            # writing into the profile, so close() stops the whole group before the profile is removed
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._id = 0

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """One DevTools command; its result (events that arrive before it are dropped)."""
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def open(self, url: str, timeout_s: float = 60.0) -> tuple[str, str]:
        """A new tab that has loaded ``url`` (its load event fired); (target id, session id)."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        self.send("Page.enable", {}, session)
        self.send("Page.navigate", {"url": url}, session)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            event = self._read()
            if event.get("method") == "Page.loadEventFired" and event.get("sessionId") == session:
                return target, session
        raise TimeoutError(f"{url} did not load in {timeout_s:.0f} s")

    def evaluate(self, session: str, script: str) -> Any:
        """The value of a script (awaited if it is a promise) in the tab."""
        res = self.send(
            "Runtime.evaluate",
            {"expression": script, "awaitPromise": True, "returnByValue": True},
            session,
        )
        if "exceptionDetails" in res:
            raise RuntimeError(f"script failed: {res['exceptionDetails']}")
        return res["result"].get("value")

    def screenshot(self, session: str, path: Path) -> None:
        """The tab's viewport (what a reader sees first) as a PNG."""
        data = self.send("Page.captureScreenshot", {"format": "png"}, session)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        """Stop the browser and every helper it started (they are ours: started above)."""
        try:
            # the graceful way: chromium flushes its profile and exits; its reply is not awaited (a helper that
            # kept the pipe open would make the read block)
            self._id += 1
            os.write(
                self._to_browser,
                json.dumps({"id": self._id, "method": "Browser.close"}).encode() + b"\0",
            )
            self.proc.wait(10)
        except (RuntimeError, OSError, subprocess.TimeoutExpired):
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # helpers still alive in the group are stopped, and waited for, before the profile goes
        deadline = time.monotonic() + 10
        while alive := group_members(self.proc.pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"chromium's helpers {alive} did not stop in 10 s")
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        os.close(self._to_browser)
        os.close(self._from_browser)


def group_members(pgid: int) -> list[int]:
    """Live processes (zombies aside: they write nothing) of process group ``pgid``, from /proc."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # the command name, in parentheses, may hold spaces: the fields after its last ")" are fixed
            state, _ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
            if int(pgrp) == pgid and state != "Z":
                out.append(int(stat.parent.name))
    return out


def chapters(root: Path = ROOT) -> list[str]:
    """Every page of ``_toc.yml`` (the root page first), as paths without suffix."""
    return [f.removesuffix(".ipynb").removesuffix(".md") for f in book.toc_files(root)]


def chromium() -> str:
    """Debian's chromium, installed with apt as the corpus's packages are (as root; else the install line)."""
    from asvnb.data.synth.sources import ensure_packages

    ensure_packages(("chromium",))
    exe = shutil.which("chromium")
    assert exe, "the chromium package is installed but no chromium command is on PATH"
    return exe


def html_root() -> Path:
    """The CI profile's book, built (or brought up to date) first: `make test` runs this in build/ci, where the
    notebooks' executions are cached, so only what changed is executed and rendered again."""
    book.prepare_embedded(profile="ci", progress=False)
    return book.build_book(profile="ci")


def inspect_book(html: Path, shots: Path) -> dict[str, dict]:
    """Open every chapter of the book at ``html`` offline; what each shows (see INSPECT), screenshots in ``shots``."""
    exe = chromium()
    shots.mkdir(parents=True, exist_ok=True)
    seen = {}
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(exe, Path(profile))
        try:
            for chapter in chapters():
                page = html / f"{chapter}.html"
                assert page.is_file(), f"{chapter}: no page {page} in the built book"
                target, session = browser.open(page.as_uri())
                seen[chapter] = json.loads(browser.evaluate(session, INSPECT))
                if chapter in SCREENSHOTS:
                    browser.screenshot(session, shots / f"{Path(chapter).name}.png")
                browser.send("Target.closeTarget", {"targetId": target})
        finally:
            browser.close()
    return seen


def problems(seen: dict[str, dict]) -> list[str]:
    """What a reader would see wrong, chapter by chapter: raw TeX, broken images, untypeset formulas."""
    out = []
    for chapter, page in seen.items():
        for delim in RAW_TEX:
            if delim in page["text"]:
                i = page["text"].index(delim)
                out.append(
                    f"{chapter}: raw TeX {delim!r} shown: ...{page['text'][i - 40 : i + 60]}..."
                )
        for img in page["images"]:
            if not img["complete"] or img["width"] == 0:
                out.append(f"{chapter}: broken image {img['src']}")
        if page.get("uncaptioned"):
            out.append(f"{chapter}: {page['uncaptioned']} figure(s) without a caption")
        if page["typeset"] < page["math"]:
            out.append(
                f"{chapter}: {page['math'] - page['typeset']} of {page['math']} formulas not typeset "
                f"(MathJax loaded: {page['mathjax']})"
            )
    return out


@pytest.mark.slow
def test_every_chapter_reads_right_in_a_browser_without_network() -> None:
    html = html_root()
    shots = config.build_root() / "browser"
    seen = inspect_book(html, shots)
    assert set(seen) == set(chapters())
    bad = problems(seen)
    assert not bad, "\n".join(bad)
    # a known formula typeset: the leaderboard's DCF and study 02's SI-SNR equations are MathJax's output
    for chapter in SCREENSHOTS:
        assert seen[chapter]["mathjax"] and seen[chapter]["mjx"] >= 3, (chapter, seen[chapter])
        assert (shots / f"{Path(chapter).name}.png").stat().st_size > 10_000
    # the Colab badge is the book's own image, and it loaded
    badges = [
        img
        for chapter, page in seen.items()
        if chapter.startswith("notebooks/")
        for img in page["images"]
        if img["src"].endswith("colab-badge.svg")
    ]
    assert len(badges) == sum(c.startswith("notebooks/") for c in seen)
    assert all(b["width"] > 0 for b in badges)


# ----------------------------------------------------------------------------- what feeds the pages (fast)


def test_what_a_reader_would_see_wrong_is_reported_per_chapter() -> None:
    good = {"text": "the EER", "images": [{"src": "a.svg", "width": 117, "complete": True}]}
    seen = {
        "ok": good | {"math": 2, "typeset": 2},
        "tex": good | {"text": "rate \\(P_\\mathrm{miss}\\) and $$x$$", "math": 1, "typeset": 0},
        "img": good | {"images": [{"src": "b.png", "width": 0, "complete": True}]},
    }
    seen["img"] |= {"math": 0, "typeset": 0, "mathjax": True, "uncaptioned": 2}
    seen["tex"]["mathjax"] = False
    out = problems(seen)
    assert [p.split(":")[0] for p in out] == ["tex", "tex", "tex", "img", "img"], out
    assert "1 of 1 formulas not typeset (MathJax loaded: False)" in out[2]
    assert out[3:] == ["img: broken image b.png", "img: 2 figure(s) without a caption"]


def test_every_chapter_of_the_toc_is_opened() -> None:
    pages = chapters()
    assert pages[0] == "book/intro" and set(SCREENSHOTS) <= set(pages)
    assert {f"notebooks/{p.stem}" for p in (ROOT / "notebooks").glob("0*.ipynb")} <= set(pages)


def test_the_staged_notebook_reads_as_the_book_shows_it(tmp_path: Path) -> None:
    """An executed copy (tags lost, papermill's injected cell) takes the repository's tags, loses the
    formatter's markers; the repository's notebook keeps them."""
    source = ROOT / "notebooks" / "02_overlap_pipeline.ipynb"
    nb = nbformat.read(str(source), as_version=4)
    i = next(k for k, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    for cell in nb.cells:  # an execution cached before the tags existed
        cell.metadata.pop("tags", None)
    nb.cells[i].metadata["tags"] = ["parameters"]
    injected = nbformat.v4.new_code_cell('# Parameters\nprofile = "ci"\n')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(i + 1, injected)
    executed = tmp_path / "02_overlap_pipeline.ipynb"
    nbformat.write(nb, str(executed))

    assert book.tidy_staged_notebook(executed, source) is True
    mtime = executed.stat().st_mtime_ns
    assert (
        book.tidy_staged_notebook(executed, source) is False
    )  # again: nothing to do, file untouched
    assert executed.stat().st_mtime_ns == mtime
    cells = nbformat.read(str(executed), as_version=4).cells
    params, injected, colab, setup = cells[i : i + 4]
    assert params.metadata["tags"] == ["parameters"] and "# fmt:" not in params.source
    assert params.source.startswith('profile = "embedded"')
    assert injected.metadata["tags"] == ["injected-parameters"]
    assert colab.metadata["tags"] == ["remove-cell"] and "google.colab" in colab.source
    assert setup.metadata["tags"] == ["hide-input"]
    assert "# fmt: off" in source.read_text()  # the repository's notebook is not touched


def test_results_tables_show_no_row_numbers_in_a_notebook() -> None:
    """Every DataFrame a chapter displays goes through one formatter: no pandas index column."""
    import pandas as pd
    from IPython.core.interactiveshell import InteractiveShell

    from asvnb import report

    shell = InteractiveShell.instance()
    report.register_display(
        pd.DataFrame, {"text/html": report.table_html}
    )  # as on import, in IPython
    table = report.comparison_table(
        [{"model": "CNN", "metric": "EER", "ours": [0.31, 0.29], "percent": True}], "embedded"
    )
    html = shell.display_formatter.format(table)[0]["text/html"]
    assert "<th>model</th>" in html and "<th></th>" not in html and "<th>0</th>" not in html
    named = pd.DataFrame({"system": ["a", "b"], "eer": [0.1, 0.2]}).set_index("system")
    html = shell.display_formatter.format(named)[0]["text/html"]
    assert "<th>a</th>" in html  # a named index is the table's first column: kept
