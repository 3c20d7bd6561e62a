"""The book, tested like a reader: build a tiny book and open it in headless Chromium.

One small artist, the `ci` profile's tiny models, every notebook executed by the real batch,
the real `jupyter-book build`; then a browser loads each page and checks that it renders,
that every image and audio source resolves, that the results table has the artist's row,
and that names such as ``<script>`` appear as text instead of running. A screenshot is
saved next to the built HTML (``_build/screenshot.png``).
"""

from __future__ import annotations

import functools
import http.server
import random
import shutil
import threading
from pathlib import Path

import pytest
from midi_factory import write_midi_file

from pianogen.book import build_book, pages_showing, repo_root

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIST = "tiny artist"
# A file name cannot hold "/", so "</script>" is out; an onerror handler runs just as well.
EVIL_FILE = "<img src=x onerror=alert('pwned')><script>alert('pwned')<.mid"


def _piece(seed: int, length: int = 120) -> list[tuple[float, float, int]]:
    """A seeded random walk in C major with a chord every bar: plenty of tokens, few types."""
    rng = random.Random(seed)
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    notes, step, t = [], 3, 0.0
    for i in range(length):
        step = max(0, min(len(scale) - 1, step + rng.choice([-1, 1])))
        notes.append((t, 0.5, scale[step]))
        if i % 8 == 0:
            notes += [(t, 1.0, 48), (t, 1.0, 52), (t, 1.0, 55)]
        t += 0.5
    return notes


def _make_root(tmp_path: Path) -> Path:
    """A copy of the book sources (config, chapters, notebooks) around a tiny dataset."""
    root = tmp_path / "study"
    src = repo_root()
    shutil.copytree(src / "notebooks", root / "notebooks")
    (root / "book").mkdir(parents=True)
    for path in sorted((src / "book").iterdir()):  # the chapters and the bibliography
        if path.is_file() and path.suffix in (".md", ".bib"):
            shutil.copy(path, root / "book" / path.name)
    shutil.copy(src / "_config.yml", root / "_config.yml")
    artist_dir = root / "data" / ARTIST
    for i in range(5):
        write_midi_file(artist_dir / f"piece {i}.mid", _piece(i))
    (artist_dir / EVIL_FILE).write_bytes(b"not a MIDI file at all")
    return root


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (make test installs it with apt when root)")
    from pianogen.batch import run_batch

    tmp = tmp_path_factory.mktemp("book")
    root = _make_root(tmp)
    summary = run_batch(
        root / "data",
        profile="ci",
        jobs=1,
        out_book=root / "book" / "artists",
        runs_root=root / "runs",
        cache_dir=root / ".cache",
        notebooks_dir=root / "notebooks",
    )
    assert summary.exit_code == 0, summary.to_json()
    index = build_book(
        data_dir=root / "data", runs_root=root / "runs", cache_dir=root / ".cache", root=root
    )
    assert index.exists()
    return root / "book" / "_build" / "html"


@pytest.fixture(scope="module")
def server(built_book):
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


def _open(browser, url):
    """Load a page; collect failed same-origin requests and any JavaScript dialog."""
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    problems: list[str] = []
    origin = url.split("/", 3)[:3]
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))

    def on_response(response):
        if response.url.split("/", 3)[:3] == origin and response.status >= 400:
            problems.append(f"{response.status} {response.url}")

    page.on("response", on_response)
    page.on(
        "requestfailed",
        lambda r: problems.append(f"failed {r.url}") if r.url.split("/", 3)[:3] == origin else None,
    )
    page.goto(url, wait_until="networkidle")
    return page, problems


def _check_media(page, base_url: str) -> tuple[int, int]:
    """Every <img> decoded and every <audio> source answers 200; returns the counts."""
    images = page.eval_on_selector_all(
        "article img",
        "els => els.map(e => [e.currentSrc || e.src, e.complete && e.naturalWidth > 0])",
    )
    broken = [src for src, ok in images if not ok]
    assert not broken, f"images that did not load: {broken}"
    sources = page.eval_on_selector_all(
        "audio, audio source", "els => els.map(e => e.src).filter(Boolean)"
    )
    for src in sources:
        response = page.request.get(src)
        assert response.status == 200, f"audio {src}: HTTP {response.status}"
        assert len(response.body()) > 1000, f"audio {src} is nearly empty"
    return len(images), len(sources)


def _check_audio_plays(page) -> None:
    """Every <audio> has a positive duration once the browser decoded its metadata. Run after
    the page's own requests are checked: media loading may abort requests it no longer needs."""
    durations = page.eval_on_selector_all("audio", AUDIO_DURATIONS)
    assert all(d > 0 for d in durations), f"audio that does not play (duration <= 0): {durations}"


# Each <audio> loaded by the browser itself: its duration once the metadata arrived (-1: the
# browser could not decode it; 0: no answer within 10 s).
AUDIO_DURATIONS = """els => Promise.all(els.map(a => new Promise(done => {
    if (a.readyState >= 1) { done(a.duration); return; }
    a.addEventListener("loadedmetadata", () => done(a.duration));
    a.addEventListener("error", () => done(-1));
    setTimeout(() => done(0), 10000);
    a.preload = "metadata"; a.load();
})))"""


def test_artist_pages_load_with_images_and_audio(browser, server, built_book):
    artist_dir = built_book / "book" / "artists" / ARTIST
    pages = sorted(p.name for p in artist_dir.glob("*.html"))
    assert "01_explore.html" in pages and "03_evaluate.html" in pages
    assert any(p.startswith("02_train_") for p in pages)
    totals = {"images": 0, "audio": 0}
    for name in pages:
        page, problems = _open(browser, f"{server}/book/artists/{ARTIST}/{name}")
        assert page.locator("article h1").count() >= 1, f"{name} has no title"
        images, audio = _check_media(page, server)
        totals["images"] += images
        totals["audio"] += audio
        assert not problems, f"{name}: {problems}"
        _check_audio_plays(page)
        if name == "03_evaluate.html":
            page.screenshot(path=str(built_book.parent / "screenshot.png"), full_page=False)
        page.close()
    assert totals["images"] >= 4, totals  # plots, piano rolls, scores
    assert totals["audio"] >= 2, totals  # primer + continuation at least
    assert (built_book.parent / "screenshot.png").stat().st_size > 10_000


def test_artist_index_downloads_resolve(browser, server):
    page, problems = _open(browser, f"{server}/book/artists/{ARTIST}/index.html")
    assert not problems, problems
    assert page.locator("article", has_text="Reproduce this page").count() == 1
    links = page.eval_on_selector_all("article a.download", "els => els.map(e => e.href)")
    kinds = {Path(link).suffix for link in links}
    assert {".ipynb", ".json", ".mid"} <= kinds, links
    for link in links:
        response = page.request.get(link)
        assert response.status == 200, f"download {link}: HTTP {response.status}"
        if link.endswith(".mid"):
            assert response.body().startswith(b"MThd"), link
    page.close()


def test_execution_statistics_page(browser, server):
    page, problems = _open(browser, f"{server}/book/generated/execution.html")
    assert not problems, problems
    rows = page.locator("article table tr", has_text=f"{ARTIST} / Exploring the data")
    assert rows.count() == 1, "the execution page has no row for the artist's exploration"
    text = page.locator("article").inner_text()
    assert "cores" in text and "music21" in text and "ci" in rows.first.inner_text()
    page.close()


def test_no_path_of_the_checkout_in_the_pages(built_book):
    # e.g. a warning or traceback naming pianogen's own files; the pages of `make book`,
    # built inside the checkout, name everything relative to it (`pianogen book` warns
    # about any page that shows the folder it was built in)
    leaks = pages_showing(built_book, str(repo_root()))
    assert not leaks, f"pages showing the checkout's path {repo_root()}: {leaks}"


def test_results_table_has_the_artist_row(browser, server):
    page, problems = _open(browser, f"{server}/book/generated/results.html")
    assert not problems, problems
    rows = page.locator("article table tr", has_text=ARTIST)
    assert rows.count() >= 1, "the results page has no row for the artist"
    page.close()


def test_names_are_shown_as_text_never_run(browser, server):
    page, problems = _open(browser, f"{server}/book/artists/{ARTIST}/01_explore.html")
    assert not [p for p in problems if p.startswith("dialog")], problems
    text = page.locator("article").inner_text()
    assert EVIL_FILE in text, "the skipped file's name should be listed, as text"
    assert page.locator("article img[onerror]").count() == 0
    assert page.locator("article script", has_text="pwned").count() == 0
    page.close()


def test_citations_link_to_the_bibliography(browser, server):
    page, problems = _open(browser, f"{server}/book/method.html")
    assert not problems, problems
    links = page.locator("article a[href*='references.html#']")
    assert links.count() >= 5, "the method chapter should cite the works it uses"
    page.close()
    page, problems = _open(browser, f"{server}/book/references.html")
    assert not problems, problems
    text = page.locator("article").inner_text()
    for author in ("Cuthbert", "Yang", "Yin", "Krueger"):
        assert author in text, f"{author} missing from the bibliography"
    page.close()
