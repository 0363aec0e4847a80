"""npae.report.html: the Markdown subset of the report, rendered and escaped as GitHub would show it."""
import base64
from html.parser import HTMLParser

import pytest

from npae.report.html import embed_images, inline, page, render
from npae.report.markdown import notice, table


def _inline(text):
    return inline(text, lambda source: source)


@pytest.mark.parametrize("markdown, expected", [
    ("plain text", "plain text"),
    ("`a < b`", "<code>a &lt; b</code>"),
    ("``code with ` inside``", "<code>code with ` inside</code>"),
    ("**strong** and *emphasis*", "<strong>strong</strong> and <em>emphasis</em>"),
    ("**bold *nested* here**", "<strong>bold <em>nested</em> here</strong>"),
    ("2 * 3 * 4", "2 * 3 * 4"),                              # spaced asterisks are multiplication
    ("a \\* b and \\| and \\`", "a * b and | and `"),
    ("*unclosed", "*unclosed"),
    ("[npae](#top)", '<a href="#top">npae</a>'),
    ("[paper](https://arxiv.org/abs/2201.03898)", '<a href="https://arxiv.org/abs/2201.03898">paper</a>'),
    ("[click](javascript:alert(1))", "click"),               # a link that would run code is plain text
    ("![a <b>](figures/x.png)", '<img src="figures/x.png" alt="a &lt;b&gt;" loading="eager">'),
    ("<script>alert('x')</script> & \"q\"", "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;q&quot;"),
    ("x^2 and l_16 - l_17", "x^2 and l_16 - l_17"),           # no underscore emphasis: formulas stay formulas
])
def test_inline_markup(markdown, expected):
    assert _inline(markdown) == expected


def test_headings_get_unique_ids():
    html = render("# Title\n\n## 1. Reconstructions (paper figures 4-8)\n\n## Title")
    assert '<h1 id="title">Title</h1>' in html
    assert '<h2 id="1-reconstructions-paper-figures-4-8">' in html and '<h2 id="title-2">Title</h2>' in html


def test_a_table_keeps_its_alignment_and_header_count():
    markdown = table(["model", "BCE", "ok"], [["784-8-784, BCE", "0.1757", "yes"], ["a | b", "1", "**NO**"]],
                     align="lrc")
    html = render(markdown)
    assert html.count("<th ") == 3 and html.count("<tr>") == 3
    assert '<th style="text-align: left">model</th>' in html and '<td style="text-align: right">0.1757</td>' in html
    assert "<td style=\"text-align: left\">a | b</td>" in html           # the escaped pipe is a pipe, not a cell
    assert '<td style="text-align: center"><strong>NO</strong></td>' in html
    assert html.startswith('<div class="table">')                      # the box that scrolls sideways


def test_rows_with_too_few_or_too_many_cells_get_as_many_as_the_header():
    html = render("| a | b |\n|---|---|\n| 1 |\n| 1 | 2 | 3 |")
    assert [row.count("<td") for row in html.split("<tr>")[2:]] == [2, 2]


def test_the_report_notice_becomes_a_warning_box():
    html = render(notice("QUICK RUN: REDUCED WORK", ["every model trains for 6 epochs;", "", "Run `npae reproduce`."]))
    assert html.startswith('<div class="notice notice-warning" role="note"><p class="notice-title">Warning</p>')
    assert "<p><strong>QUICK RUN: REDUCED WORK</strong></p>" in html
    assert "<p>every model trains for 6 epochs;</p>\n<p>Run <code>npae reproduce</code>.</p>" in html


def test_paragraphs_lists_quotes_and_code_blocks():
    html = render("one\nparagraph\n\n- a\n  continued\n- *b*\n\n1. first\n2. second\n\n> quoted\n\n"
                  "```\nTraceback <here>\n  line\n```\nafter")
    assert "<p>one paragraph</p>" in html
    assert "<ul>\n<li>a continued</li>\n<li><em>b</em></li>\n</ul>" in html
    assert "<ol>\n<li>first</li>\n<li>second</li>\n</ol>" in html
    assert "<blockquote>\n<p>quoted</p>\n</blockquote>" in html
    assert "<pre><code>Traceback &lt;here&gt;\n  line</code></pre>\n<p>after</p>" in html


def test_images_go_through_the_callback():
    html = render("![curves](figures/training-curves.png)", images=lambda source: "data:image/png;base64,AAAA")
    assert html == '<p class="figure"><img src="data:image/png;base64,AAAA" alt="curves" loading="eager"></p>'


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def test_embed_images_reads_the_report_pngs_and_nothing_else(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.png").write_bytes(PNG)
    (tmp_path / "secret.txt").write_text("x")
    resolve = embed_images(tmp_path)
    assert resolve("figures/a.png") == "data:image/png;base64," + base64.b64encode(PNG).decode()
    for source in ("https://example.com/a.png", "file:///etc/passwd.png", "../a.png", "/etc/x.png", "secret.txt"):
        with pytest.raises(ValueError, match="is not a PNG file under"):
            resolve(source)


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attributes):
        self.tags.append((tag, dict(attributes)))


def test_the_page_is_a_complete_document_for_phones():
    html = page("# A <title>\n\ntext", "npae <report>")
    assert html.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    assert "<title>npae &lt;report&gt;</title>" in html
    parser = _Elements()
    parser.feed(html)
    metas = [attributes for tag, attributes in parser.tags if tag == "meta"]
    assert {"charset": "utf-8"} in metas
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in metas
    assert "max-width" in html and "overflow-x: auto" in html
    assert not [tag for tag, _ in parser.tags if tag in ("script", "link", "iframe")]


def test_a_table_of_prose_becomes_cards_on_a_phone_and_a_table_of_numbers_scrolls():
    prose = render("| claim | holds |\n|:---|:---:|\n| " + "a claim of the paper, long enough to be prose" + " | yes |")
    assert prose.startswith('<div class="table stack">')
    assert '<td style="text-align: center" data-label="holds">yes</td>' in prose
    numbers = render("| q | MSE |\n|---|---:|\n| 8 | 0.0300 |")
    assert numbers.startswith('<div class="table">') and "data-label" not in numbers
    assert "@media (max-width: 40rem)" in page("x", "t") and '.stack td::before { content: attr(data-label)' in page("x", "t")


def test_a_paragraph_of_images_is_a_figure_that_keeps_a_legible_size():
    assert render("![a](a.png) ![b](b.png)").startswith('<p class="figure"><img src="a.png"')
    assert render("see ![a](a.png)").startswith("<p>see ")
    assert ".figure img { max-width: 52rem" in page("x", "t")
