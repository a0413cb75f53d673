"""Reading the XML of one part into blocks, in reading order (lxml only).

The paragraph walker joins a paragraph's runs (``w:tab`` as ``'\\t'``, ``w:br``/``w:cr`` as
``'\\n'``, inserted text kept, deleted text and field instructions skipped, field results kept),
reads content controls and legacy form fields, and shows Wingdings/Symbol tick boxes as
glyphs; the block reader turns paragraphs, tables and block-level controls into
:mod:`mailbot.documents.text_blocks`. Used through :mod:`mailbot.documents.text`.
"""

from __future__ import annotations

import re
from typing import Iterator

from mailbot.documents.text_blocks import (CHECKED, TICK, UNCHECKED, Block, Cell, ContentControl, FormField,
                                           Paragraph, Table)

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
W14 = "http://schemas.microsoft.com/office/word/2010/wordml"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
NS = {"w": W, "w14": W14, "mc": MC}


def qn(tag: str) -> str:
    prefix, local = tag.split(":")
    return "{%s}%s" % (NS[prefix], local)


T_P, T_R, T_T, T_TBL, T_TR, T_TC = (qn(t) for t in ("w:p", "w:r", "w:t", "w:tbl", "w:tr", "w:tc"))
T_TAB, T_BR, T_CR, T_SYM = (qn(t) for t in ("w:tab", "w:br", "w:cr", "w:sym"))
T_SDT, T_SDTPR, T_SDTCONTENT = qn("w:sdt"), qn("w:sdtPr"), qn("w:sdtContent")
T_DEL, T_MOVEFROM, T_INS = qn("w:del"), qn("w:moveFrom"), qn("w:ins")
T_PPR, T_RPR, T_FLDCHAR, T_INSTR = qn("w:pPr"), qn("w:rPr"), qn("w:fldChar"), qn("w:instrText")
T_NOBREAKHYPHEN, T_SOFTHYPHEN = qn("w:noBreakHyphen"), qn("w:softHyphen")
T_ALT, T_CHOICE, T_FALLBACK = qn("mc:AlternateContent"), qn("mc:Choice"), qn("mc:Fallback")
T_TXBX = qn("w:txbxContent")
T_CUSTOMXML = qn("w:customXml")
T_FLDSIMPLE = qn("w:fldSimple")
T_DELTEXT, T_DELINSTR = qn("w:delText"), qn("w:delInstrText")
T_FOOTNOTEREF = qn("w:footnoteReference")
A_VAL = qn("w:val")

# Wingdings / Wingdings 2 / Symbol code points used for boxes and ticks.
_SYM_GLYPHS = {
    # Wingdings
    "F0FE": CHECKED, "F0FD": CHECKED, "F078": CHECKED, "F0FB": "\u2717", "F0FC": TICK,
    "F0A8": UNCHECKED, "F06F": UNCHECKED, "F071": UNCHECKED, "F0A1": UNCHECKED,
    # Wingdings 2
    "F053": CHECKED, "F054": CHECKED, "F052": CHECKED, "F051": CHECKED, "F0A3": UNCHECKED,
    "F0A2": UNCHECKED, "F050": TICK, "F04F": "\u2717",
}


class ReadContext:
    """Per-part reading context: list styles and every content control seen."""

    def __init__(self, list_styles: frozenset[str]):
        self.list_styles = list_styles
        self.controls: list[ContentControl] = []


def _list_styles(pkg) -> frozenset[str]:
    name = "word/styles.xml"
    if name not in pkg.parts:
        return frozenset()
    cached = getattr(pkg, "_mailbot_list_styles", None)
    if cached is not None:
        return cached
    raw = pkg.parts[name]
    if b"<w:style " in raw and b"<!ENTITY" not in raw.upper():
        # fast path (styles.xml is large): a byte scan, no tree needed
        ids = set()
        for chunk in raw.split(b"<w:style ")[1:]:
            chunk = chunk.split(b"</w:style>", 1)[0]
            m = re.search(rb'w:styleId="([^"]*)"', chunk)
            if not m:
                continue
            sid = m.group(1).decode("utf-8", "replace")
            if b"<w:numPr" in chunk or "list" in sid.lower():
                ids.add(sid)
        result = frozenset(ids)
        try:
            pkg._mailbot_list_styles = result
        except AttributeError:
            pass
        return result
    try:
        root = pkg.xml(name)
    except Exception:  # a damaged styles part must not stop us reading text
        return frozenset()
    ids = set()
    for st in root.iter(qn("w:style")):
        sid = st.get(qn("w:styleId")) or ""
        if st.find("w:pPr/w:numPr", NS) is not None or "list" in sid.lower():
            ids.add(sid)
    return frozenset(ids)


def _sdt_props(sdt) -> ContentControl:
    pr = sdt.find(T_SDTPR)
    cc = ContentControl()
    if pr is None:
        return cc
    el = pr.find("w:alias", NS)
    if el is not None:
        cc.alias = (el.get(A_VAL) or "").strip()
    el = pr.find("w:tag", NS)
    if el is not None:
        cc.tag = (el.get(A_VAL) or "").strip()
    cc.placeholder = pr.find("w:showingPlcHdr", NS) is not None
    cb = pr.find("w14:checkbox", NS)
    if cb is not None:
        cc.kind = "checkbox"
        ch = cb.find("w14:checked", NS)
        val = (ch.get("{%s}val" % W14) if ch is not None else "0") or "0"
        cc.checked = val.lower() in ("1", "true", "on")
    elif pr.find("w:dropDownList", NS) is not None or pr.find("w:comboBox", NS) is not None:
        cc.kind = "dropdown"
    elif pr.find("w:date", NS) is not None:
        cc.kind = "date"
    elif pr.find("w:text", NS) is not None:
        cc.kind = "text"
    elif pr.find("w:richText", NS) is not None:
        cc.kind = "richtext"
    elif any(pr.find(t, NS) is not None for t in ("w:picture", "w:docPartObj", "w:group", "w:citation",
                                                  "w:bibliography", "w:equation")):
        cc.kind = "other"
    else:
        cc.kind = "richtext"
    return cc


def _ffdata(fld) -> FormField | None:
    ff = fld.find("w:ffData", NS)
    if ff is None:
        return None
    f = FormField()
    el = ff.find("w:name", NS)
    if el is not None:
        f.name = el.get(A_VAL) or ""
    cb = ff.find("w:checkBox", NS)
    if cb is not None:
        f.kind = "checkbox"
        el = cb.find("w:checked", NS)
        if el is None:
            el = cb.find("w:default", NS)
        if el is None:
            f.checked = False
        else:
            v = el.get(A_VAL)
            f.checked = v is None or v.lower() in ("1", "true", "on")
        f.text = CHECKED if f.checked else UNCHECKED
        return f
    dd = ff.find("w:ddList", NS)
    if dd is not None:
        f.kind = "dropdown"
        entries = [e.get(A_VAL) or "" for e in dd.findall("w:listEntry", NS)]
        idx_el = dd.find("w:result", NS)
        if idx_el is None:
            idx_el = dd.find("w:default", NS)
        try:
            idx = int(idx_el.get(A_VAL)) if idx_el is not None else 0
        except (TypeError, ValueError):
            idx = 0
        f.text = entries[idx] if 0 <= idx < len(entries) else ""
        return f
    f.kind = "text"
    return f


class _ParaWalker:
    """Collects the visible text of one paragraph (or of inline content)."""

    def __init__(self, ctx: ReadContext):
        self.ctx = ctx
        self.out: list[str] = []
        self.sdts: list[ContentControl] = []
        self.fields: list[FormField] = []
        self.extra_blocks: list[Block] = []  # text boxes found inside the paragraph
        # field stack: [formfield|None, in_instruction, suppress_result, result_parts]
        self.fstack: list[list] = []

    def _visible(self) -> bool:
        return not any(fr[1] or fr[2] for fr in self.fstack)

    def emit(self, s: str) -> None:
        if s and self._visible():
            self.out.append(s)
            for fr in self.fstack:
                fr[3].append(s)

    def walk(self, el) -> None:
        for child in el:
            tag = child.tag
            if not isinstance(tag, str):
                continue  # comments, processing instructions
            if tag == T_R:
                self.run(child)
            elif tag in (T_DEL, T_MOVEFROM, T_PPR, T_RPR):
                continue
            elif tag == T_SDT:
                self.inline_sdt(child)
            elif tag == T_ALT:
                self.alternate(child)
            elif tag == T_SDTPR:
                continue
            elif tag == T_TXBX:
                self.extra_blocks.extend(read_blocks(child, self.ctx))
            elif tag == T_P:
                self.extra_blocks.extend(read_blocks([child], self.ctx))
            else:
                # w:ins, w:moveTo, w:hyperlink, w:smartTag, w:customXml, w:fldSimple, w:dir, w:bdo...
                self.walk(child)

    def alternate(self, alt) -> None:
        choice = alt.find(T_CHOICE)
        if choice is None:
            choice = alt.find(T_FALLBACK)
        if choice is not None:
            self.walk(choice)

    def textboxes(self, el) -> None:
        """Text boxes inside a drawing become blocks after the paragraph."""
        for child in el:
            if not isinstance(child.tag, str) or child.tag == T_FALLBACK:
                continue
            if child.tag == T_TXBX:
                self.extra_blocks.extend(read_blocks(child, self.ctx))
            else:
                self.textboxes(child)

    def inline_sdt(self, sdt) -> None:
        cc = _sdt_props(sdt)
        content = sdt.find(T_SDTCONTENT)
        sub = _ParaWalker(self.ctx)
        sub.fstack = []
        if content is not None:
            sub.walk(content)
        raw = "".join(sub.out)
        if cc.kind == "checkbox":
            text = CHECKED if cc.checked else UNCHECKED
        elif cc.placeholder:
            text = ""
        else:
            text = raw
        cc.text = text
        self.ctx.controls.append(cc)
        self.sdts.append(cc)
        self.sdts.extend(sub.sdts)
        self.fields.extend(sub.fields)
        self.extra_blocks.extend(sub.extra_blocks)
        self.emit(text)

    def run(self, r) -> None:
        for child in r:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            if tag == T_T:
                self.emit(child.text or "")
            elif tag == T_TAB:
                self.emit("\t")
            elif tag in (T_BR, T_CR):
                self.emit("\n")
            elif tag == T_NOBREAKHYPHEN:
                self.emit("-")
            elif tag == T_SYM:
                code = (child.get(qn("w:char")) or "").upper().lstrip("0") or "0"
                code = code.rjust(4, "0")
                glyph = _SYM_GLYPHS.get(code)
                if glyph is None:
                    try:
                        n = int(code, 16)
                        glyph = chr(n - 0xF000) if n >= 0xF000 else chr(n)
                    except ValueError:
                        glyph = ""
                self.emit(glyph)
            elif tag == T_FLDCHAR:
                self.fldchar(child)
            elif tag in (T_INSTR, T_DELTEXT, T_DELINSTR, T_RPR):
                continue
            elif tag == T_SDT:
                self.inline_sdt(child)
            else:
                # drawings, pictures, alternate content: look for text boxes
                self.textboxes(child)

    def fldchar(self, fc) -> None:
        kind = fc.get(qn("w:fldCharType"))
        if kind == "begin":
            ff = _ffdata(fc)
            suppress = False
            if ff is not None:
                self.fields.append(ff)
                if ff.kind in ("checkbox", "dropdown"):
                    self.emit(ff.text)
                    suppress = True
            self.fstack.append([ff, True, suppress, []])
        elif kind == "separate":
            if self.fstack:
                self.fstack[-1][1] = False
        elif kind == "end":
            if self.fstack:
                ff, _instr, _sup, parts = self.fstack.pop()
                if ff is not None and ff.kind == "text":
                    ff.text = "".join(parts)


def _paragraph(p, ctx: ReadContext, container: ContentControl | None) -> tuple[Paragraph, list[Block]]:
    w = _ParaWalker(ctx)
    w.walk(p)
    style = ""
    is_list = False
    ppr = p.find(T_PPR)
    if ppr is not None:
        st = ppr.find("w:pStyle", NS)
        if st is not None:
            style = st.get(A_VAL) or ""
        num = ppr.find("w:numPr/w:numId", NS)
        if num is not None:
            is_list = (num.get(A_VAL) or "0") != "0"
        elif style in ctx.list_styles:
            is_list = True
    text = "".join(w.out)
    if not is_list and text.lstrip()[:1] in ("\u2022", "\u00b7", "\u25aa", "\u25cf", "\u2013", "\u2043", "\u25e6"):
        is_list = True
    return Paragraph(text, is_list, w.sdts, w.fields, style, container), w.extra_blocks


def _cell(tc, ctx: ReadContext) -> Cell:
    before = len(ctx.controls)
    blocks = read_blocks(tc, ctx)
    lines = [b.text for b in blocks]
    return Cell("\n".join(lines), blocks, ctx.controls[before:])


def _rows(tbl, ctx: ReadContext) -> Iterator[list[Cell]]:
    for child in tbl:
        tag = child.tag
        if tag == T_TR:
            cells: list[Cell] = []
            for tc in _unwrap(child, T_TC, ctx):
                cells.append(_cell(tc, ctx))
            yield cells
        elif tag in (T_SDT, T_CUSTOMXML):
            inner = child.find(T_SDTCONTENT) if tag == T_SDT else child
            if inner is not None:
                yield from _rows(inner, ctx)


def _unwrap(parent, want: str, ctx: ReadContext) -> Iterator:
    """Children with tag ``want``, looking through sdt/customXml wrappers."""
    for child in parent:
        if child.tag == want:
            yield child
        elif child.tag == T_SDT:
            content = child.find(T_SDTCONTENT)
            if content is not None:
                yield from _unwrap(content, want, ctx)
        elif child.tag == T_CUSTOMXML:
            yield from _unwrap(child, want, ctx)


def read_blocks(container_el, ctx: ReadContext, container: ContentControl | None = None) -> list[Block]:
    out: list[Block] = []
    for child in container_el:
        tag = child.tag
        if tag == T_P:
            para, extra = _paragraph(child, ctx, container)
            out.append(para)
            out.extend(extra)
        elif tag == T_TBL:
            out.append(Table(list(_rows(child, ctx))))
        elif tag == T_SDT:
            cc = _sdt_props(child)
            ctx.controls.append(cc)
            content = child.find(T_SDTCONTENT)
            inner = read_blocks(content, ctx, cc) if content is not None else []
            if cc.kind == "checkbox":
                cc.text = CHECKED if cc.checked else UNCHECKED
            elif cc.placeholder:
                cc.text = ""
            else:
                cc.text = "\n".join(b.text for b in inner)
            out.extend(inner)
        elif tag in (T_CUSTOMXML, T_INS, qn("w:moveTo")):
            out.extend(read_blocks(child, ctx, container))
        elif tag == T_ALT:
            choice = child.find(T_CHOICE)
            if choice is not None:
                out.extend(read_blocks(choice, ctx, container))
    return out



def context(pkg) -> ReadContext:
    """A fresh reading context for a part of ``pkg`` (its list styles known)."""
    return ReadContext(_list_styles(pkg))
