"""Finding 2: `npae reproduce --out EXISTING` interrupted in its report stage leaves the previous report and
the figures it shows as they were (the new figures are staged and moved in with the report)."""
import os
import signal

import pytest

from npae.report import html, reproduce


def folder_contents(folder):
    return {os.path.relpath(os.path.join(root, name), folder): open(os.path.join(root, name), "rb").read()
            for root, _, names in os.walk(folder) for name in names}


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_report_stage_leaves_the_previous_report_whole(tmp_path, monkeypatch, signal_number):
    from npae.cli import _raise_terminated

    out = tmp_path / "report"
    assert reproduce(out, quick=True, only=["dimensionality"], seed=0, progress=_Silent()) == 0
    before = folder_contents(out)
    assert "figures/dimensionality.png" in before and "report.md" in before

    # The next run (another seed: another figure) gets the signal once its figures are drawn, while the
    # HTML page is being composed.
    real_page = html.page

    def page_then_signal(*arguments, **keywords):
        os.kill(os.getpid(), signal_number)
        return real_page(*arguments, **keywords)

    previous = signal.signal(signal.SIGTERM, _raise_terminated)   # as the command line installs it
    # Ctrl-C raises KeyboardInterrupt, as in a terminal, even when the tests run with SIGINT ignored (a job
    # started in the background by a non-interactive shell inherits SIG_IGN, and Python then keeps it).
    previous_interrupt = signal.signal(signal.SIGINT, signal.default_int_handler)
    monkeypatch.setattr(html, "page", page_then_signal)
    try:
        with pytest.raises(KeyboardInterrupt):
            reproduce(out, quick=True, only=["dimensionality"], seed=1, progress=_Silent())
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_interrupt)
    assert folder_contents(out) == before                        # nothing new, and no staging folder left

    monkeypatch.setattr(html, "page", real_page)
    assert reproduce(out, quick=True, only=["dimensionality"], seed=1, progress=_Silent()) == 0
    after = folder_contents(out)
    assert after["figures/dimensionality.png"] != before["figures/dimensionality.png"]
    assert "seed 1" in after["report.md"].decode() and sorted(after) == sorted(before)


class _Silent:
    """A Progress that prints nothing."""

    quiet, tty = True, False

    def line(self, text):
        pass

    def update(self, text, final=False):
        pass
