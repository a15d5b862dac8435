"""The quick report read in a real browser (headless system Chromium through playwright):
report.html and two notebook pages load without console errors, every image loads, code is
hidden until asked for, every TOC link lands, and print media hides the sidebar.

Skips naming what is missing when there is no Chromium (or no playwright); NNLIB_REQUIRE_BROWSER=1
(CI) turns that skip into a failure.
"""
import contextlib
from pathlib import Path

import pytest

PAGES = ["report.html", "01_activations.html", "06_cnn.html", "09_beyond.html"]


@contextlib.contextmanager
def opened(browser, path):
    """``(page, console problems)`` of ``path`` loaded in a fresh page, closed afterwards."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        yield page, problems
    finally:
        page.close()


def _visible_code(page) -> int:
    return page.evaluate("""() => [...document.querySelectorAll(
        '.jp-CodeCell .jp-Cell-inputWrapper')].filter(
        e => e.offsetParent !== null && getComputedStyle(e).display !== 'none').length""")


@pytest.mark.slow
@pytest.mark.parametrize("name", PAGES)
def test_page_loads_cleanly_with_every_image(quick_report, browser, name):
    _, out = quick_report
    with opened(browser, out / name) as (page, problems):
        n_img, broken = page.evaluate("""() => { const imgs = [...document.images];
            return [imgs.length, imgs.filter(i => !(i.complete && i.naturalWidth > 0))
                                     .map(i => i.alt)]; }""")
        assert n_img >= 2, f"{name}: {n_img} images"
        assert not broken, f"{name}: images that did not load: {broken}"
        assert not problems, f"{name}: console errors {problems}"


@pytest.mark.slow
@pytest.mark.parametrize("name", PAGES)
def test_code_is_hidden_on_load_and_the_toggles_show_it(quick_report, browser, name):
    _, out = quick_report
    with opened(browser, out / name) as (page, _):
        assert page.locator(".jp-CodeCell").count() > 3
        assert _visible_code(page) == 0, f"{name}: code visible on load"
        page.click("#nnlib-toggle-code")
        shown = _visible_code(page)
        assert shown > 3, f"{name}: the global toggle showed {shown} code cells"
        assert page.inner_text("#nnlib-toggle-code") == "Hide code"
        page.click("#nnlib-toggle-code")
        assert _visible_code(page) == 0
        cell = page.locator(".jp-CodeCell:has(.nnlib-code-toggle):not(.jp-mod-noOutputs)").first
        cell.locator(".nnlib-code-toggle").click()
        assert _visible_code(page) == 1, "the per-cell toggle shows exactly its own code"
        assert cell.locator(".nnlib-code-toggle").inner_text() == "hide code"


@pytest.mark.slow
def test_every_toc_link_targets_an_element_and_print_hides_the_sidebar(quick_report, browser):
    _, out = quick_report
    with opened(browser, out / "report.html") as (page, _):
        hrefs = page.eval_on_selector_all("nav.nnlib-toc a[href^='#']",
                                          "els => els.map(a => a.getAttribute('href'))")
        assert len(hrefs) > 20
        # a fragment names an id as written, else percent-decoded (the HTML spec's order)
        missing = page.evaluate("""hrefs => hrefs.filter(h => !document.getElementById(h.slice(1))
            && !document.getElementById(decodeURIComponent(h.slice(1))))""", hrefs)
        assert not missing, f"TOC links without a target: {missing}"
        sections = page.locator("section.nnlib-section").count()
        notebooks = len(list((Path(__file__).parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb")))
        assert sections == notebooks + 2  # one per notebook, "What we found", "How ... was built"
        assert page.locator("nav.nnlib-toc").is_visible()
        page.emulate_media(media="print")
        assert not page.locator("nav.nnlib-toc").is_visible()
        assert not page.locator("#nnlib-toggle-code").is_visible()
        assert page.evaluate("""() => getComputedStyle(
            document.querySelectorAll('section.nnlib-section')[1]).breakBefore""") == "page"


@pytest.mark.slow
def test_page_navigation_links_lead_to_existing_pages(quick_report, browser):
    _, out = quick_report
    with opened(browser, out / "06_cnn.html") as (page, _):
        prev = page.get_attribute("nav.nnlib-nav.top a[rel=prev]", "href")
        nxt = page.get_attribute("nav.nnlib-nav.top a[rel=next]", "href")
        assert (prev, nxt) == ("05_regularization.html", "07_augmentation.html")
        page.click("nav.nnlib-nav.top a[rel=next]")
        page.wait_for_load_state("load")
        assert page.url.endswith("07_augmentation.html")
        page.click("nav.nnlib-nav.top >> text=Whole report")
        page.wait_for_load_state("load")
        assert page.url.endswith("report.html")


@pytest.mark.slow
def test_the_quick_reports_pdf_has_every_section(quick_report, chromium, tmp_path):
    import json
    import unicodedata

    from pypdf import PdfReader

    from nnlib.report.browser import print_to_pdf
    _, out = quick_report
    pdf = print_to_pdf(out / "report.html", tmp_path / "report.pdf")
    reader = PdfReader(str(pdf))
    # NFKC: the PDF sets "fi" as a ligature ("ﬁnal")
    text = unicodedata.normalize("NFKC", " ".join(" ".join((p.extract_text() or "").split())
                                                  for p in reader.pages))
    index = json.loads((out / "index.json").read_text())
    assert len(reader.pages) > len(index["notebooks"])  # a page break before every section
    for title in [r["title"] for r in index["notebooks"]] + ["What we found", "Summary"]:
        assert " ".join(title.split()) in text, f"{title!r} is not in report.pdf"
    assert "Show code" not in text and "import numpy" not in text  # print hides code
