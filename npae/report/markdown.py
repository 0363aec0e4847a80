"""Small Markdown helpers for the report: tables, notices and number formats."""
import math

from .claims import VERDICTS

__all__ = ["table", "notice", "number", "percent", "signed_percent", "seconds", "ratio", "verdict"]


def _cell(value):
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def table(headers, rows, align=None):
    """A GitHub-flavoured Markdown table.  ``align``: one of "l"/"r"/"c" per column (default: the first
    column left, the others right, the usual layout for a label followed by numbers)."""
    align = align or "l" + "r" * (len(headers) - 1)
    rules = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(_cell(header) for header in headers) + " |",
             "|" + "|".join(rules[a] for a in align) + "|"]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"a table row has {len(row)} cells, expected {len(headers)}: {row!r}")
        lines.append("| " + " | ".join(_cell(value) for value in row) + " |")
    return "\n".join(lines)


def notice(title, lines):
    """A block quote that stands out at the top of the report (GitHub renders ``[!WARNING]`` as a box)."""
    body = ["> [!WARNING]", f"> **{title}**", ">"]
    body += [f"> {line}" if line else ">" for line in lines]
    return "\n".join(body)


def number(value, digits=4):
    """A float with ``digits`` significant digits; "n/a" for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}g}"


def percent(fraction, digits=2):
    """0.9712 -> "97.12 %"."""
    return "n/a" if fraction is None else f"{100 * fraction:.{digits}f} %"


def signed_percent(fraction, digits=2):
    """0.2176 -> "+21.76 %"; a difference that rounds to zero is "0.00 %", never "-0.00 %"."""
    text = f"{100 * fraction:+.{digits}f}"
    return (text if float(text) != 0 else f"{0:.{digits}f}") + " %"


def seconds(value):
    """Seconds with a sensible number of digits: 0.012 s, 1.23 s, 45.6 s, 812 s."""
    if value is None:
        return "n/a"
    if value < 0.1:
        return f"{value:.3f} s"
    if value < 10:
        return f"{value:.2f} s"
    return f"{value:.1f} s" if value < 100 else f"{value:.0f} s"


def ratio(value):
    """A speed-up or compression factor: 3.4x, 48x, 1200x; below 1, two significant digits (0.041x)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if value < 0.95:  # two significant digits: never "0.0x"
        return f"{value:.2g}x"
    return f"{value:.1f}x" if value < 10 else f"{value:.0f}x"


def verdict(holds):
    """True -> "yes", False -> "**NO**" (it must stand out), None -> "not shown", SAMPLE -> "not shown:
    sample" (see ``claims``)."""
    if holds is None or isinstance(holds, str):
        return VERDICTS[holds]
    return VERDICTS[True] if holds else f"**{VERDICTS[False]}**"
