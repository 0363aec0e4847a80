"""``report.html``: the report's Markdown rendered as one self-contained page.

The page is made from the very text of ``report.md`` (nothing is written twice), so a section added
to the report later needs no HTML of its own.  It is self-contained: the figures are embedded as
``data:`` URIs, the style sheet is inline, and nothing is fetched from the network (a link to
another site stays a link: following it is the reader's choice).  It reads on a phone (390 px): a viewport
meta tag, a bounded text width, wide tables of numbers that scroll sideways inside their own box,
tables of prose (the claims and their verdicts) that become one card per row, each cell under its
header's name, so that no column is off-screen; and figures that keep a legible size (up to 52rem, their
labels about as large as the text) inside a box that scrolls sideways, instead of shrinking to a third.

The Markdown is the subset the report uses, rendered as GitHub renders it:

    # ... ######          headings (each gets an id, so sections can be linked)
    paragraph lines        joined into one paragraph; a blank line ends it
    | a | b |  + rule      tables, with the rule's alignment (:---, ---:, :---:) and ``\\|`` in cells
    ![alt](src)            images: ``src`` is given to ``images(src)``, which returns the URI to use
    - item / 1. item       lists (one level, an item may continue on indented lines)
    > text                 block quotes; ``> [!WARNING]`` first makes a GitHub notice (NOTE, TIP,
                           IMPORTANT, WARNING, CAUTION)
    ``` ... ```            code blocks
    `code`  **strong**  *emphasis*  [text](href)  \\*      inline: code spans, emphasis, links, escapes

Everything else is text.  Every piece of text and every attribute is escaped, so no input can
inject markup.
"""
import base64
import os
import re
from html import escape

__all__ = ["render", "page", "embed_images"]

NOTICES = {"NOTE": "Note", "TIP": "Tip", "IMPORTANT": "Important", "WARNING": "Warning", "CAUTION": "Caution"}
ALIGNMENTS = {"l": "left", "r": "right", "c": "center"}
ESCAPABLE = set("\\`*_{}[]()#+-.!|>")
SAFE_LINK = re.compile(r"^(https?://|mailto:|#|[^:]*$)", re.IGNORECASE)   # web, mail, fragment, relative

STYLE = """
:root { color-scheme: light; }
body { margin: 0 auto; max-width: 60rem; padding: 0 1rem 3rem; font: 16px/1.5 system-ui, -apple-system,
       "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1f2328; background: #fff;
       overflow-wrap: break-word; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 1.2rem 0 0.8rem; }
h2 { font-size: 1.3rem; margin: 2rem 0 0.6rem; padding-bottom: 0.2rem; border-bottom: 1px solid #d1d9e0; }
h3 { font-size: 1.1rem; margin: 1.5rem 0 0.5rem; }
img { max-width: 100%; height: auto; display: block; margin: 0.5rem auto; }
code { font: 0.88em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f0f2f4;
       padding: 0.1em 0.3em; border-radius: 4px; }
pre { overflow-x: auto; background: #f6f8fa; padding: 0.8rem; border-radius: 6px; }
pre code { background: none; padding: 0; }
.table, .figure { overflow-x: auto; margin: 0.8rem 0; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { border: 1px solid #d1d9e0; padding: 0.3rem 0.6rem; vertical-align: top; }
th { background: #f6f8fa; }
tbody tr:nth-child(even) { background: #fafbfc; }
blockquote { margin: 0.8rem 0; padding: 0 1rem; color: #59636e; border-left: 0.25rem solid #d1d9e0; }
.notice { margin: 1rem 0; padding: 0.5rem 1rem; border-left: 0.25rem solid #0969da; background: #f3f8ff; }
.notice-title { font-weight: 600; margin: 0.3rem 0; }
.notice-warning, .notice-caution { border-color: #bf8700; background: #fff8e5; }
.notice-caution { border-color: #cf222e; background: #ffebe9; }
@media (max-width: 40rem) {
  .figure img { max-width: 52rem; width: auto; margin: 0.5rem 0; }
  .stack table, .stack tbody, .stack tr, .stack td { display: block; }
  .stack thead { display: none; }
  .stack tr { border: 1px solid #d1d9e0; margin: 0 0 0.6rem; }
  .stack td { border: none; text-align: left !important; padding: 0.15rem 0.6rem; }
  .stack td::before { content: attr(data-label) ": "; font-weight: 600; }
}
"""
PROSE_CELL = 40   # characters: a table with a longer cell is prose, and becomes cards on a phone


# ------------------------------------------------------------------------------------------------
# Inline text

def _find_closing(text, start, delimiter):
    """Index of the ``delimiter`` that closes an emphasis whose content starts at ``start``, or -1.  The
    content is not empty, the closing delimiter follows a non-space and is not escaped, and a single
    ``*`` is not half of a ``**``."""
    index = start + 1
    while (index := text.find(delimiter, index)) >= 0:
        if delimiter == "*" and text.startswith("**", index):
            index += 2
        elif text[index - 1].isspace() or text[index - 1] == "\\":
            index += 1
        else:
            return index
    return -1


def _bracketed(text, start):
    """For ``[label](target)`` starting at ``start`` (the ``[``): (label, target, end) or None."""
    depth, index = 0, start
    while index < len(text):
        character = text[index]
        if character == "\\":
            index += 2
            continue
        if character == "[":
            depth += 1
        elif character == "]":
            depth -= 1
            if depth == 0:
                break
        index += 1
    else:
        return None
    if not text.startswith("(", index + 1):
        return None
    depth = 0
    for close in range(index + 1, len(text)):           # the target may hold balanced parentheses
        depth += {"(": 1, ")": -1}.get(text[close], 0)
        if depth == 0:
            return text[start + 1:index], text[index + 2:close].strip(), close + 1
    return None


def inline(text, images):
    """Markdown inline markup of ``text`` -> HTML, every character of text escaped."""
    out, index = [], 0
    while index < len(text):
        character = text[index]
        if character == "\\" and index + 1 < len(text) and text[index + 1] in ESCAPABLE:
            out.append(escape(text[index + 1]))
            index += 2
        elif character == "`":
            run = len(text[index:]) - len(text[index:].lstrip("`"))
            close = text.find("`" * run, index + run)
            if close < 0:
                out.append(escape("`" * run))
                index += run
            else:
                out.append(f"<code>{escape(text[index + run:close].strip())}</code>")
                index = close + run
        elif text.startswith("![", index) and (parts := _bracketed(text, index + 1)):
            alt, source, index = parts
            out.append(f'<img src="{escape(images(source))}" alt="{escape(_plain(alt))}" loading="eager">')
        elif character == "[" and (parts := _bracketed(text, index)):
            label, target, index = parts
            if SAFE_LINK.match(target):
                out.append(f'<a href="{escape(target)}">{inline(label, images)}</a>')
            else:  # javascript:, data: and other schemes that run or embed something stay plain text
                out.append(inline(label, images))
        elif text.startswith("**", index) and index + 2 < len(text) and not text[index + 2].isspace() \
                and (close := _find_closing(text, index + 2, "**")) > 0:
            out.append(f"<strong>{inline(text[index + 2:close], images)}</strong>")
            index = close + 2
        elif character == "*" and index + 1 < len(text) and not text[index + 1].isspace() \
                and (close := _find_closing(text, index + 1, "*")) > 0:
            out.append(f"<em>{inline(text[index + 1:close], images)}</em>")
            index = close + 1
        else:
            out.append(escape(character))
            index += 1
    return "".join(out)


def _plain(text):
    """Alt text: the label without its markup characters."""
    return re.sub(r"\\(.)|[*`]", lambda match: match.group(1) or "", text)


# ------------------------------------------------------------------------------------------------
# Blocks

def _split_row(line):
    """The cells of a table line ``| a | b \\| c |``: split on the pipes that are not escaped."""
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", body)]


def _is_rule(line):
    cells = _split_row(line)
    return line.lstrip().startswith("|") and all(re.fullmatch(r":?-+:?", cell) for cell in cells)


def _alignment(rule_cell):
    if rule_cell.startswith(":") and rule_cell.endswith(":"):
        return "center"
    return "right" if rule_cell.endswith(":") else "left" if rule_cell.startswith(":") else None


def _table(lines, images):
    headers, rule, body = _split_row(lines[0]), _split_row(lines[1]), [_split_row(line) for line in lines[2:]]
    aligns = [_alignment(cell) for cell in rule] + [None] * len(headers)

    body = [(cells + [""] * len(headers))[:len(headers)] for cells in body]   # GitHub pads short rows, drops extra
    stack = any(len(text) > PROSE_CELL for cells in body for text in cells)

    def cell(tag, text, column):
        style = f' style="text-align: {aligns[column]}"' if aligns[column] else ""
        label = f' data-label="{escape(_plain(headers[column]))}"' if stack and tag == "td" else ""
        # As GitHub does, "\|" is a pipe in a cell before anything else, even inside a code span.
        return f"<{tag}{style}{label}>{inline(text.replace(chr(92) + '|', '|'), images)}</{tag}>"

    head = "".join(cell("th", text, column) for column, text in enumerate(headers))
    rows = ["<tr>" + "".join(cell("td", text, column) for column, text in enumerate(cells)) + "</tr>" for cells in body]
    return (f'<div class="table{" stack" if stack else ""}"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(rows) + "\n</tbody></table></div>")


def _slug(text, used):
    """A heading's id: lower-case words joined by hyphens, made unique within the page."""
    base = re.sub(r"[^a-z0-9]+", "-", _plain(text).lower()).strip("-") or "section"
    slug, number = base, 2
    while slug in used:
        slug, number = f"{base}-{number}", number + 1
    used.add(slug)
    return slug


LIST_ITEM = re.compile(r"^(?:[-*+]|(\d+)[.)])\s+(.*)$")


def _blocks(lines, images, used_ids):
    """HTML of the block-level elements in ``lines`` (a list of strings without newlines)."""
    out, index = [], 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if not stripped:
            index += 1
        elif stripped.startswith("```"):
            end = next((j for j in range(index + 1, len(lines)) if lines[j].strip().startswith("```")), len(lines))
            out.append("<pre><code>" + escape("\n".join(lines[index + 1:end])) + "</code></pre>")
            index = end + 1
        elif match := re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", stripped):
            level, text = len(match.group(1)), match.group(2)
            out.append(f'<h{level} id="{_slug(text, used_ids)}">{inline(text, images)}</h{level}>')
            index += 1
        elif stripped.startswith("|") and index + 1 < len(lines) and _is_rule(lines[index + 1]):
            end = index + 2
            while end < len(lines) and lines[end].strip().startswith("|"):
                end += 1
            out.append(_table(lines[index:end], images))
            index = end
        elif stripped.startswith(">"):
            end = index
            while end < len(lines) and lines[end].strip().startswith(">"):
                end += 1
            quoted = [re.sub(r"^\s*>\s?", "", text) for text in lines[index:end]]
            out.append(_quote(quoted, images, used_ids))
            index = end
        elif LIST_ITEM.match(stripped):
            index = _list(lines, index, images, out)
        else:
            end = index
            while end < len(lines) and lines[end].strip() and not _starts_block(lines, end):
                end += 1
            end = max(end, index + 1)
            text = " ".join(text.strip() for text in lines[index:end])
            figure = re.fullmatch(r"(\s*!\[[^\]]*\]\([^)]*\))+\s*", text)      # nothing but images: a figure
            out.append(('<p class="figure">' if figure else "<p>") + inline(text, images) + "</p>")
            index = end
    return "\n".join(out)


def _starts_block(lines, index):
    stripped = lines[index].strip()
    return (stripped.startswith(("```", ">", "#")) or bool(LIST_ITEM.match(stripped))
            or (stripped.startswith("|") and index + 1 < len(lines) and _is_rule(lines[index + 1])))


def _quote(lines, images, used_ids):
    match = re.fullmatch(r"\[!([A-Z]+)\]", lines[0].strip()) if lines else None
    if match and match.group(1) in NOTICES:
        kind = match.group(1)
        return (f'<div class="notice notice-{kind.lower()}" role="note"><p class="notice-title">{NOTICES[kind]}</p>\n'
                + _blocks(lines[1:], images, used_ids) + "</div>")
    return "<blockquote>\n" + _blocks(lines, images, used_ids) + "\n</blockquote>"


def _list(lines, index, images, out):
    """Append the list starting at ``lines[index]`` to ``out``; returns the index after it."""
    ordered = LIST_ITEM.match(lines[index].strip()).group(1) is not None
    items = []
    while index < len(lines):
        match = LIST_ITEM.match(lines[index].strip())
        if match and (match.group(1) is not None) == ordered:
            items.append([match.group(2)])
        elif lines[index].startswith((" ", "\t")) and lines[index].strip() and items:
            items[-1].append(lines[index].strip())              # an item continued on an indented line
        else:
            break
        index += 1
    tag = "ol" if ordered else "ul"
    out.append(f"<{tag}>\n" + "\n".join(f"<li>{inline(' '.join(item), images)}</li>" for item in items)
               + f"\n</{tag}>")
    return index


def render(markdown, images=lambda source: source):
    """The HTML of ``markdown`` (a fragment, no ``<html>``); ``images(src)`` gives each image's URI."""
    return _blocks(markdown.replace("\r\n", "\n").split("\n"), images, set())


# ------------------------------------------------------------------------------------------------
# The page

def embed_images(out_dir):
    """``images`` for :func:`render`: a figure of the report (a relative path to a PNG under ``out_dir``)
    becomes a ``data:image/png;base64`` URI.  Anything else is a ValueError: a page that would need
    a file or the network to show a figure is not self-contained."""
    root = os.path.realpath(out_dir)

    def resolve(source):
        path = os.path.realpath(os.path.join(root, source))
        if re.match(r"^[a-z][a-z0-9+.-]*:", source, flags=re.IGNORECASE) or not path.startswith(root + os.sep) \
                or not source.lower().endswith(".png"):
            raise ValueError(f"the report's image {source!r} is not a PNG file under {out_dir}")
        with open(path, "rb") as stream:
            return "data:image/png;base64," + base64.b64encode(stream.read()).decode("ascii")
    return resolve


def page(markdown, title, images=lambda source: source):
    """A complete HTML5 document: ``title``, the inline style sheet and ``render(markdown, images)``."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n"
        + render(markdown, images) + "\n</main>\n</body>\n</html>\n"
    )
