"""``npae reproduce`` as a user runs it, in a subprocess whose output is not a terminal: the console lines,
``report.html`` parsed, and ``report.html`` rendered by a real browser (headless Chromium).

One quick run on the embedded sample of three experiments (reconstruction, dimensionality, denoising)
serves every test: it draws every kind of figure of the report (image grids, error maps, scatter
plots, curves) and writes a report with notices, tables, lists of numbers and code spans.
"""
import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
from html import unescape
from html.parser import HTMLParser

import pytest

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXPERIMENTS_RUN = ["reconstruction", "dimensionality", "denoising"]


def _environment(**changes):
    environment = dict(os.environ, MPLBACKEND="Agg")
    environment.update(changes)
    return {key: value for key, value in environment.items() if value is not None}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(completed process, output folder) of ``npae reproduce --quick --sample --only ...``."""
    out = tmp_path_factory.mktemp("report") / "out"
    process = subprocess.run([sys.executable, "-m", "npae", "reproduce", "--quick", "--sample", "--out", str(out),
                              "--only", *EXPERIMENTS_RUN], capture_output=True, text=True, env=_environment(),
                             timeout=900)
    assert process.returncode == 0, process.stderr
    return process, out


# ------------------------------------------------------------------------------------------------
# The console: one line per model and per experiment, never one per epoch

MODEL_LINE = re.compile(r"^.+: \d+ epochs? in [\d.]+ s, loss \d\.\d{4}(, val_loss \d\.\d{4})?$")


def test_the_console_has_one_line_per_model_and_per_experiment(run):
    process, out = run
    assert process.stdout == ""                                       # progress goes to stderr
    lines = process.stderr.splitlines()
    assert "\r" not in process.stderr                                  # not a terminal: nothing rewritten
    assert not [line for line in lines if re.search(r"epoch \d+/\d+", line)]
    kinds, slowed = [], False
    for line in lines:
        # Under load (other programs on the same cores) the run says so: at the start, and last, with the remedy.
        if line.startswith("NOTICE: the machine is busy (load average "):
            continue
        if line.startswith("NOTICE: SLOWED BY OTHER PROGRAMS. ") or (slowed and line.startswith("  ")):
            slowed = True
            continue
        if line.startswith("npae reproduce (QUICK run): reconstruction, dimensionality, denoising -> "):
            kinds.append("start")
        elif line.startswith("NOTICE: running on the EMBEDDED SAMPLE of MNIST"):
            kinds.append("notice")
        elif MODEL_LINE.match(line):
            kinds.append("model")
        elif re.match(r"^\[\d/3\] experiment \d, .+: done in [\d.]+ s$", line):
            kinds.append("experiment")
        elif line.startswith(f"report: {out / 'report.md'} and report.html (6 figures), "):
            kinds.append("report")
        elif re.match(r"^  \[(yes|NO|not shown)\] \d\. ", line):
            kinds.append("verdict")
        else:
            kinds.append(f"unexpected: {line}")
    # Models: the reference FFAs q = 8, 16, 64, the MSE one, the two with q = 2, the denoiser.
    assert kinds == (["start", "notice"] + ["model"] * 6 + ["experiment"] * 2 + ["model", "experiment", "report"]
                     + ["verdict"] * 6), process.stderr
    assert len(kinds) == 19


def test_on_a_terminal_the_running_experiment_is_a_status_line_that_gives_way(tmp_path):
    from npae.progress import Progress
    from npae.report import reproduce

    screen = io.StringIO()
    assert reproduce(tmp_path, quick=True, only=["dimensionality"], progress=Progress(screen, tty=True)) == 0
    output = screen.getvalue()
    status = "[1/1] experiment 3, The curse of dimensionality..."
    assert f"\r{status}\r{' ' * len(status)}\r[1/1] experiment 3, The curse of dimensionality: done in " in output
    # What stays on the screen once every "\r" has done its work: the permanent lines only.
    shown = [line.rsplit("\r", 1)[-1] for line in output.split("\n") if line.rsplit("\r", 1)[-1]]
    shown = [line for line in shown if not _load_notice(line)]           # present only on a busy machine
    assert len(shown) == 5 and shown[1].startswith("[1/1] experiment 3") and shown[2].startswith("report: ")


def _load_notice(line):
    """A console line of the notice that the run was slowed by other programs (npae.report.machine)."""
    return line.startswith(("NOTICE: the machine is busy", "NOTICE: SLOWED BY OTHER PROGRAMS", "  Every time in",
                            "  What to do: "))


def test_quiet_prints_only_why_the_full_data_could_not_be_had(tmp_path):
    """-q: nothing but the failed download and the fall-back to the sample (the real path: no data found,
    and a mirror that refuses the connection)."""
    environment = _environment(NPAE_DATA=None, XDG_CACHE_HOME=str(tmp_path / "cache"),
                               KERAS_HOME=str(tmp_path / "keras"), NPAE_MIRROR="http://127.0.0.1:9")
    process = subprocess.run([sys.executable, "-m", "npae", "reproduce", "-q", "--quick", "--only", "denoising",
                              "--out", str(tmp_path / "out")], capture_output=True, text=True, env=environment,
                             cwd=tmp_path, timeout=600)
    assert process.returncode == 0, process.stderr
    assert process.stdout == ""
    assert "downloading it into" in process.stderr and "failed" in process.stderr
    assert "it could not be downloaded" in process.stderr                # the NOTICE says why, in a line
    assert "NOTICE: using the embedded mnist sample" in process.stderr
    assert not re.search(r"epochs? in|done in|^report:|\[yes\]", process.stderr, flags=re.MULTILINE)
    assert (tmp_path / "out" / "report.html").is_file()


# ------------------------------------------------------------------------------------------------
# report.html, parsed

class _Page(HTMLParser):
    """Every start tag with its attributes, and the cells of every table row."""

    def __init__(self):
        super().__init__()
        self.tags, self.tables = [], []

    def handle_starttag(self, tag, attributes):
        attributes = dict(attributes)
        self.tags.append((tag, attributes))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append(0)
        elif tag in ("td", "th"):
            self.tables[-1][-1] += 1


def _page(out):
    parser = _Page()
    parser.feed((out / "report.html").read_text(encoding="utf-8"))
    return parser


def test_report_html_is_self_contained_and_its_tables_are_whole(run):
    _, out = run
    page = _page(out)
    images = [attributes for tag, attributes in page.tags if tag == "img"]
    figures = sorted(os.listdir(out / "figures"))
    assert len(images) == len(figures) == 6
    for image in images:
        assert image["src"].startswith("data:image/png;base64,")
        data = base64.b64decode(image["src"].split(",", 1)[1], validate=True)
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
        assert image["alt"]
    # The figures are the report's own files, byte for byte.
    embedded = sorted(base64.b64decode(image["src"].split(",", 1)[1]) for image in images)
    assert embedded == sorted((out / "figures" / name).read_bytes() for name in figures)
    # Nothing to fetch: no external URL in any attribute, no scripts, style sheets or frames.
    urls = [value for _, attributes in page.tags for value in attributes.values() if value]
    assert not [url for url in urls if re.match(r"^\s*(https?:|//|file:|ftp:)", url)]
    assert not [tag for tag, _ in page.tags if tag in ("script", "link", "iframe", "object", "embed")]
    # Every table row has as many cells as its header; every table of report.md is there.
    markdown = (out / "report.md").read_text(encoding="utf-8")
    rules = [line for line in markdown.splitlines() if re.fullmatch(r"\|(:?-+:?\|)+", line)]
    assert len(page.tables) == len(rules) >= 7
    for rows in page.tables:
        assert len(rows) >= 2 and len(set(rows)) == 1, rows


def test_report_html_says_what_report_md_says(run):
    _, out = run
    html = (out / "report.html").read_text(encoding="utf-8")
    markdown = (out / "report.md").read_text(encoding="utf-8")
    text = unescape(re.sub(r"<[^>]+>", "", html))
    for heading in re.findall(r"^#{1,3} (.+)$", markdown, flags=re.MULTILINE):
        assert re.sub(r"[*`]", "", heading) in text, heading
    assert "EMBEDDED SAMPLE, NOT THE FULL DATA" in text and 'class="notice notice-warning"' in html


# ------------------------------------------------------------------------------------------------
# report.html in a real browser

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-extensions", "--hide-scrollbars", "--mute-audio"]

# Run after the page has loaded: each image's state and the page's width, written into the DOM.
PROBE = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.map.call(document.images, function (image) {
    return {complete: image.complete, naturalWidth: image.naturalWidth, naturalHeight: image.naturalHeight,
            shownWidth: image.getBoundingClientRect().width,
            boxWidth: image.parentElement.getBoundingClientRect().width,
            boxScrolls: getComputedStyle(image.parentElement).overflowX};
  });
  var verdicts = Array.prototype.map.call(document.querySelectorAll('td[data-label="holds"]'), function (cell) {
    var box = cell.getBoundingClientRect();
    return {left: box.left, right: box.right, width: box.width};
  });
  var probe = document.createElement("pre");
  probe.id = "npae-probe";
  probe.textContent = JSON.stringify({images: images, verdicts: verdicts,
                                      scrollWidth: document.documentElement.scrollWidth,
                                      innerWidth: window.innerWidth});
  document.body.appendChild(probe);
});
</script>"""


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no Chromium on PATH: install it (Debian: apt-get install chromium); .ci/run does")


def _browse(chromium, page, tmp_path, *options):
    profile = tmp_path / f"profile-{len(os.listdir(tmp_path))}"
    profile.mkdir()
    process = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *options, page.as_uri()],
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert process.returncode == 0, process.stderr[-2000:]
    return process.stdout


@pytest.mark.parametrize("width", [390, 412])
def test_every_image_and_every_verdict_of_report_html_is_readable_at_phone_width(run, tmp_path, width):
    chromium = _chromium()
    _, out = run
    html = (out / "report.html").read_text(encoding="utf-8")
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("</body>", PROBE + "\n</body>"), encoding="utf-8")
    dom = _browse(chromium, probed, tmp_path, f"--window-size={width},915", "--virtual-time-budget=10000",
                  "--dump-dom")
    match = re.search(r'<pre id="npae-probe">(.*?)</pre>', dom, flags=re.DOTALL)
    assert match, dom[-2000:]
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert len(probe["images"]) == 6
    for image in probe["images"]:
        assert image["complete"] and image["naturalWidth"] > 100 and image["naturalHeight"] > 100, image
        # legible: at its natural size up to 52rem (832 px), not shrunk to the phone's width ...
        assert image["shownWidth"] >= min(image["naturalWidth"], 832) - 1, image
        # ... inside a box of the phone's width that scrolls sideways
        assert image["boxWidth"] <= probe["innerWidth"] and image["boxScrolls"] == "auto", image
    assert probe["scrollWidth"] <= probe["innerWidth"], probe             # wide tables and figures scroll in their box
    assert probe["verdicts"], "the claims table has no verdict cells"    # a card per claim: each verdict on screen
    for cell in probe["verdicts"]:
        assert 0 <= cell["left"] and cell["right"] <= probe["innerWidth"] and cell["width"] > 0, cell


def test_a_screenshot_shows_every_figure_of_the_report(run, tmp_path):
    """The report's own images, each in a cell of known place; Chromium's screenshot must show something
    in every cell (a missing or broken image leaves its cell blank white)."""
    from matplotlib.image import imread

    chromium = _chromium()
    _, out = run
    sources = [attributes["src"] for tag, attributes in _page(out).tags if tag == "img"]
    cell, columns = 300, 3
    rows = -(-len(sources) // columns)
    cells = "".join(f'<img src="{source}" style="position: absolute; left: {cell * (index % columns)}px; '
                    f'top: {cell * (index // columns)}px; width: {cell - 20}px; height: {cell - 20}px; '
                    'object-fit: contain">' for index, source in enumerate(sources))
    grid = tmp_path / "grid.html"
    grid.write_text(f'<!DOCTYPE html><html><body style="margin: 0; background: #fff">{cells}</body></html>',
                    encoding="utf-8")
    screenshot = tmp_path / "grid.png"
    _browse(chromium, grid, tmp_path, f"--window-size={cell * columns},{cell * rows}", "--virtual-time-budget=10000",
            f"--screenshot={screenshot}")
    pixels = imread(screenshot)[..., :3]                                  # (height, width, RGB) in [0, 1]
    assert pixels.shape[0] >= cell * rows and pixels.shape[1] >= cell * columns
    for index in range(len(sources)):
        top, left = cell * (index // columns), cell * (index % columns)
        region = pixels[top:top + cell - 20, left:left + cell - 20]
        not_white = float((region.min(axis=2) < 0.9).mean())
        assert not_white > 0.02 and region.std() > 0.05, f"image {index} is not shown ({not_white:.3f} drawn)"
    # The space between the cells stays white: the check above can see a blank.
    gap = pixels[:cell * rows, cell - 18:cell - 2]
    assert float((gap.min(axis=2) < 0.9).mean()) < 0.01


def test_the_top_of_report_html_renders_at_phone_width(run, tmp_path):
    from matplotlib.image import imread

    chromium = _chromium()
    _, out = run
    screenshot = tmp_path / "phone.png"
    _browse(chromium, out / "report.html", tmp_path, "--window-size=412,915", "--virtual-time-budget=10000",
            f"--screenshot={screenshot}")
    pixels = imread(screenshot)[..., :3]
    assert pixels.shape[:2] == (915, 412)
    dark = pixels.max(axis=2) < 0.4                                        # text
    assert 0.01 < float(dark.mean()) < 0.5                                 # text on a light page, not blank
    warning = (pixels[..., 0] > 0.95) & (pixels[..., 1] > 0.9) & (pixels[..., 2] > 0.8) & (pixels[..., 2] < 0.93)
    assert float(warning.mean()) > 0.02                                    # the notice's yellow box (#fff8e5)


def test_the_convolutional_section_prices_the_full_set_up_with_the_small_code_comparison():
    """The reduced run's report says what the notebook's set-up would cost: the quiet estimate, this run's
    speed, and the small-code comparison's share of the time, taken from this run (it is no few percent: two
    more convolutional models train with the same set-up)."""
    from npae.experiments.convolutional import QUIET_SECONDS_PER_STEP
    from npae.report.sections import _convolutional_cost
    result = {"full_run_quiet_estimate_seconds": 3600.0, "full_run_steps": 9600, "seconds_per_step": 0.5,
              "full_run_estimate_seconds": 5000.0,
              "seconds": {"convolutional denoiser": 100.0, "FFA": 5.0, "small-code comparison": 40.0}}
    text = _convolutional_cost(result, {"full": False})
    assert "about 60 minutes on a quiet 2-core machine" in text
    assert f"{QUIET_SECONDS_PER_STEP:.2f} s" in text
    assert "about 83 minutes, for the convolutional denoiser" in text
    assert "adds about 40% of that" in text
    full = _convolutional_cost(dict(result, seconds={"convolutional denoiser": 7200.0}), {"full": True})
    assert full == "This is the notebook's full set-up; it took 120 min 00 s for the convolutional denoiser."
