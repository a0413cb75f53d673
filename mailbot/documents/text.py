"""The text of a Word document as an ordered list of blocks.

Pure functions over the parsed XML of a :class:`~mailbot.documents.package.Package`
(lxml only, no python-docx object model). A document becomes a list of
:class:`Paragraph` and :class:`Table` blocks, in reading order:

* paragraph text joins all runs (whatever proofing, bookmark or formatting
  marks sit between them), ``w:tab`` becomes ``'\\t'``, ``w:br``/``w:cr``
  become ``'\\n'``; inserted text (``w:ins``) is kept, deleted text
  (``w:del``) is not; field instructions are skipped, field results kept;
* content controls (``w:sdt``) are read with their alias, tag, text and, for
  check boxes, their checked state; a check box is shown as a glyph;
* legacy form fields (``FORMCHECKBOX``, ``FORMTEXT``, ``FORMDROPDOWN``) are
  read and a check box is shown as a glyph;
* Wingdings/Symbol tick boxes (``w:sym``) are shown as Unicode glyphs.

The glyphs used are ``CHECKED`` (☒) and ``UNCHECKED`` (☐). The block types and glyphs live in
:mod:`mailbot.documents.text_blocks`, the XML walk in :mod:`mailbot.documents.text_reader`;
this module is what the rest of mailbot asks: the blocks of a part, every paragraph or table,
all the text, the property and tracked-deletion texts.
"""

from __future__ import annotations

from typing import Iterable, Iterator

from mailbot.documents.text_blocks import Block, ContentControl, Paragraph, Table
from mailbot.documents.text_reader import NS, ReadContext, context, qn, read_blocks


def _body(pkg, part: str):
    root = pkg.xml(part)
    body = root.find("w:body", NS)
    return body if body is not None else root


def blocks(pkg, part: str = "word/document.xml") -> list[Block]:
    """The blocks of one part (the document body by default), in reading order."""
    return read_blocks(_body(pkg, part), context(pkg))


def content_controls(pkg, part: str = "word/document.xml") -> list[ContentControl]:
    """Every content control of a part, in document order (outer before inner)."""
    ctx = context(pkg)
    read_blocks(_body(pkg, part), ctx)
    return ctx.controls


def iter_paragraphs(items: Iterable[Block]) -> Iterator[Paragraph]:
    """Every paragraph, including those inside table cells (depth first)."""
    for b in items:
        if isinstance(b, Paragraph):
            yield b
        else:
            for row in b.rows:
                for cell in row:
                    yield from iter_paragraphs(cell.blocks)


def iter_tables(items: Iterable[Block]) -> Iterator[Table]:
    """Every table, including nested ones (outer first)."""
    for b in items:
        if isinstance(b, Table):
            yield b
            for row in b.rows:
                for cell in row:
                    yield from iter_tables(cell.blocks)


def text_of(items: Iterable[Block]) -> str:
    return "\n".join(b.text for b in items)


def text_parts(pkg) -> list[str]:
    """Names of the parts that hold document text: body, headers, footers, notes, comments."""
    names = []
    for n in pkg.parts:
        if not n.startswith("word/") or not n.endswith(".xml") or "/" in n[5:]:
            continue
        base = n[5:]
        if base == "document.xml" or base.startswith(("header", "footer")) or base in (
            "footnotes.xml", "endnotes.xml", "comments.xml", "commentsExtended.xml",
        ):
            names.append(n)
    names.sort(key=lambda n: (n != "word/document.xml", n))
    return names


def _part_blocks(pkg, part: str, ctx: ReadContext) -> list[Block]:
    root = pkg.xml(part)
    body = root.find("w:body", NS)
    if body is not None:
        return read_blocks(body, ctx)
    # headers/footers have blocks directly; notes/comments wrap them one level down
    out = read_blocks(root, ctx)
    for child in root:
        if isinstance(child.tag, str) and child.tag.endswith(("}footnote", "}endnote", "}comment")):
            out.extend(read_blocks(child, ctx))
    return out


def all_text(pkg, *, include_headers: bool = True) -> str:
    """All visible text: the body, then headers, footers, notes and comments."""
    ctx = context(pkg)
    parts = text_parts(pkg) if include_headers else ["word/document.xml"]
    return "\n".join(text_of(_part_blocks(pkg, p, ctx)) for p in parts)


def property_texts(pkg) -> list[str]:
    """The text values of the document properties (title, subject, author, keywords, company...)."""
    out = []
    for part in ("docProps/core.xml", "docProps/app.xml", "docProps/custom.xml"):
        if part in pkg.parts:
            try:
                root = pkg.xml(part)
            except Exception:  # noqa: BLE001 - an unreadable property part is the verifier's business
                continue
            out.extend(t.strip() for t in root.itertext() if t and t.strip())
    return out


def deleted_texts(pkg) -> list[str]:
    """The text of tracked deletions (w:del), one string per paragraph, in every text part."""
    out = []
    for part in text_parts(pkg):
        root = pkg.xml(part)
        for p in root.iter(qn("w:p")):
            text = "".join(t.text or "" for t in p.iter(qn("w:delText")))
            if text.strip():
                out.append(text)
    return out
