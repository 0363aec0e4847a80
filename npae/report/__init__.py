"""The report of ``npae reproduce``: Markdown with the paper's numbers beside ours, PNG figures, and the
same report as one self-contained HTML page.

    runner.py    runs the experiments (sharing trained models), times each part, writes the report
    sections.py  one function per experiment: its result dict -> Markdown and figures, plus the checks
    claims.py    the verdict of each claim (yes / NO / not shown), from the numbers alone
    figures.py   the figures, matplotlib's object-oriented API on the Agg canvas (imported on first use)
    markdown.py  tables, notices, number formats
    html.py      report.md -> report.html: the Markdown subset the report uses, figures as data: URIs
    machine.py   the machine and software versions the report states
"""
from .runner import reproduce  # noqa: F401
