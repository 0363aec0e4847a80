"""The report of ``npae reproduce``: Markdown with the paper's numbers beside ours, and PNG figures.

    runner.py    runs the experiments (sharing trained models), times each part, writes the report
    sections.py  one function per experiment: its result dict -> Markdown and figures, plus the checks
    figures.py   the figures, matplotlib's object-oriented API on the Agg canvas (imported on first use)
    markdown.py  tables, notices, number formats
    machine.py   the machine and software versions the report states
"""
from .runner import reproduce  # noqa: F401
