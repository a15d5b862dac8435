"""``nnlib report --pdf``: report.html printed by a local Chromium (skipped without one unless
NNLIB_REQUIRE_BROWSER=1), and the one-line error when there is none."""
import pytest

from nnlib import report
from nnlib.cli import main
from nnlib.cli import report as cli_report  # the command's module: what it calls
from nnlib.report.browser import CHROMIUM_ENV, INSTALL_HINT, print_to_pdf

SECTIONS = ["Activations", "Optimizers", "Grid search", "Scheduler gamma"]


def write_html(path):
    """A small report: one ``<h2>`` section per page."""
    body = "".join(f'<section style="page-break-before: always"><h2>{title}</h2>'
                   f"<p>What we see in {title.lower()}.</p></section>" for title in SECTIONS)
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>Report</title>"
                    f"</head><body><h1>Lab report</h1>{body}</body></html>", encoding="utf-8")
    return path


def pdf_text(path):
    from pypdf import PdfReader
    reader = PdfReader(str(path))
    return len(reader.pages), " ".join(page.extract_text() for page in reader.pages)


def test_print_to_pdf_one_page_per_section(chromium, tmp_path):
    pdf = print_to_pdf(write_html(tmp_path / "report.html"), tmp_path / "report.pdf")
    assert pdf == tmp_path / "report.pdf"
    pages, text = pdf_text(pdf)
    assert pages > 1
    assert pages >= len(SECTIONS)
    for title in ["Lab report", *SECTIONS]:
        assert title in text, f"{title!r} not in the PDF's text"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.pdf"]


def test_report_pdf_asks_the_build_for_it(tmp_path, monkeypatch):
    """--pdf: the build must print report.pdf (render_report's pdf=True), not merely may."""
    calls = []
    monkeypatch.setattr(cli_report, "build_report", lambda **kw: calls.append(kw) or 0)
    monkeypatch.setattr(cli_report, "require_chromium", lambda: "/usr/bin/chromium")
    assert main(["report", "--pdf", "--only", "03", "--out", str(tmp_path)]) == 0
    assert calls[0]["only"] == ["03"] and calls[0]["pdf"] is True
    assert main(["report", "--only", "03", "--out", str(tmp_path)]) == 0
    assert calls[1]["pdf"] == "auto"  # printed when a browser is there


def test_report_pdf_without_a_browser(tmp_path, monkeypatch, capsys):
    """No browser: one line with the install hint and exit code 1, before anything is built."""
    monkeypatch.setenv(CHROMIUM_ENV, str(tmp_path / "no-such-chromium"))
    monkeypatch.setenv("NNLIB_HOME", str(tmp_path))
    monkeypatch.delenv("NNLIB_DEBUG", raising=False)
    calls = []
    monkeypatch.setattr(cli_report, "build_report", lambda **kw: calls.append(kw) or 0)
    assert main(["report", "--pdf", "--only", "01"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"nnlib: error: --pdf needs Chromium or Chrome and none was found: "
                   f"{INSTALL_HINT}"]
    assert calls == []  # refused before a long build
    # print_to_pdf itself says the same
    with pytest.raises(report.ReportError, match="none was found"):
        print_to_pdf(write_html(tmp_path / "r.html"), tmp_path / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()


def test_render_without_a_built_report(tmp_path, capsys):
    assert main(["report", "--render", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "index.json does not exist: no report was built" in err[0]
