"""The text streams of an XML part, as the name stripper and its verifier both read them.

Inside a paragraph, the text is the concatenation of its text nodes (w:t, a:t, m:t; deleted
text and field instructions as their own streams), so that a name split over runs with
different formatting, spell-check or bookmark marks between them is one text; tabs and line
breaks separate words; a run formatted all capitals (w:caps, w:smallCaps) is read in upper
case, as it is shown ("hope" under w:caps is the name HOPE). Pure.
"""

from __future__ import annotations

from lxml import etree

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
A = "http://schemas.openxmlformats.org/drawingml/2006/main"
M = "http://schemas.openxmlformats.org/officeDocument/2006/math"

# text-node tag -> stream kind (streams are matched separately inside a paragraph)
TEXT_TAGS = {
    f"{{{W}}}t": "t", f"{{{A}}}t": "t", f"{{{M}}}t": "t",
    f"{{{W}}}delText": "del",
    f"{{{W}}}instrText": "instr", f"{{{W}}}delInstrText": "delinstr",
}
# elements that separate words inside a paragraph
SEP_TAGS = {f"{{{W}}}tab": "\t", f"{{{W}}}br": "\n", f"{{{W}}}cr": "\n", f"{{{W}}}ptab": "\t",
            f"{{{A}}}br": "\n", f"{{{W}}}noBreakHyphen": "-"}
# paragraphs; the ruby text over a word and the word itself are each their own text
_PARA_TAGS = {f"{{{W}}}p", f"{{{A}}}p", f"{{{M}}}oMathPara", f"{{{W}}}rt", f"{{{W}}}rubyBase"}
SYM = f"{{{W}}}sym"
_SCAN_TAGS = tuple(TEXT_TAGS) + tuple(SEP_TAGS) + (SYM,)
# fonts whose characters are pictures or Greek, not the letter of their code
_SYMBOL_FONTS = frozenset({"symbol", "wingdings", "wingdings 2", "wingdings 3", "webdings", "mt extra", "marlett",
                           "zapf dingbats", "zapfdingbats", "segoe ui symbol", "ms outlook", "bookshelf symbol 7"})


def sym_text(el: etree._Element) -> str:
    """The letter a w:sym shows (a character given by its code, "0054" in Arial is T); "" for a
    symbol font's picture or a code that is not a letter or digit."""
    if (el.get(f"{{{W}}}font") or "").strip().lower() in _SYMBOL_FONTS:
        return ""
    try:
        code = int(el.get(f"{{{W}}}char") or "", 16)
    except ValueError:
        return ""
    if 0xF000 <= code <= 0xF0FF:  # Word's private-use form of a one-byte code
        code -= 0xF000
    ch = chr(code) if 0 < code < 0x110000 else ""
    return ch if ch.isalnum() else ""
_CAPS = (f"{{{W}}}caps", f"{{{W}}}smallCaps")
_OFF = ("0", "false", "off")


DEFAULT_STYLE = ""  # in a set of style ids: the default paragraph style


def caps_style_ids(styles: etree._Element | None) -> frozenset[str]:
    """Ids of the styles (word/styles.xml) that show their text in capitals, through w:basedOn;
    DEFAULT_STYLE when the default paragraph style does."""
    if styles is None:
        return frozenset()
    flags, based, default = {}, {}, None
    for st in styles.iter(f"{{{W}}}style"):
        sid = st.get(f"{{{W}}}styleId") or ""
        rpr = st.find(f"{{{W}}}rPr")
        flags[sid] = _caps_flag(rpr)
        b = st.find(f"{{{W}}}basedOn")
        if b is not None:
            based[sid] = b.get(f"{{{W}}}val") or ""
        if st.get(f"{{{W}}}type") == "paragraph" and (st.get(f"{{{W}}}default") or "").lower() in ("1", "true", "on"):
            default = sid
    out = set()
    for sid in flags:
        seen, cur = set(), sid
        while cur in flags and cur not in seen:
            seen.add(cur)
            if flags[cur] is not None:
                if flags[cur]:
                    out.add(sid)
                break
            cur = based.get(cur)
    if default in out:
        out.add(DEFAULT_STYLE)
    return frozenset(out)


def _caps_flag(rpr) -> bool | None:
    """True/False when run properties set capitals on or off, None when they say nothing."""
    if rpr is None:
        return None
    for tag in _CAPS:
        flag = rpr.find(tag)
        if flag is not None:
            return (flag.get(f"{{{W}}}val") or "1").lower() not in _OFF
    return None


def _shown_upper(el: etree._Element, caps_styles: frozenset[str] = frozenset()) -> bool:
    """A w:t shown in upper case: its run formatted all capitals (w:caps, w:smallCaps), or its
    character or paragraph style is (``caps_styles``: from :func:`caps_style_ids`)."""
    run = el.getparent()
    rpr = run.find(f"{{{W}}}rPr") if run is not None else None
    direct = _caps_flag(rpr)
    if direct is not None or not caps_styles:
        return bool(direct)
    rstyle = rpr.find(f"{{{W}}}rStyle") if rpr is not None else None
    if rstyle is not None and (rstyle.get(f"{{{W}}}val") or "") in caps_styles:
        return True
    p = run.getparent() if run is not None else None
    while p is not None and p.tag != f"{{{W}}}p":
        p = p.getparent()
    if p is None:
        return False
    pstyle = p.find(f"{{{W}}}pPr/{{{W}}}pStyle")
    return (pstyle.get(f"{{{W}}}val") or "" if pstyle is not None else DEFAULT_STYLE) in caps_styles


def as_shown(el: etree._Element, caps_styles: frozenset[str] = frozenset()) -> str:
    text = el.text or ""
    if text and el.tag == f"{{{W}}}t" and _shown_upper(el, caps_styles):
        upper = text.upper()
        if len(upper) == len(text):  # the stripper edits by position
            return upper
    return text


def looks_xml(name: str, data: bytes) -> bool:
    if name.endswith((".xml", ".rels", ".vml")):
        return True
    head = data[:64].lstrip()
    return head.startswith(b"<") or head.startswith(b"\xef\xbb\xbf<")


def _owner(el: etree._Element) -> etree._Element | None:
    p = el.getparent()
    while p is not None:
        if p.tag in _PARA_TAGS:
            return p
        p = p.getparent()
    return None


def streams(root: etree._Element, caps_styles: frozenset[str] = frozenset()):
    """Yield lists of (element or None, text) per paragraph and stream kind, in document order.

    An entry with element None is a separator (tab, line break) that belongs to no node.
    ``caps_styles``: the style ids that show capitals (:func:`caps_style_ids`).
    """
    groups: dict[tuple[int, str], list] = {}
    order: list[tuple[int, str]] = []
    owners: dict[int, etree._Element] = {}
    for el in root.iter(_SCAN_TAGS):
        owner = _owner(el)
        oid = id(owner) if owner is not None else id(el)
        owners[oid] = owner if owner is not None else el
        if el.tag in SEP_TAGS:
            for kind in ("t", "del", "instr", "delinstr"):
                key = (oid, kind)
                if key in groups:
                    groups[key].append((None, SEP_TAGS[el.tag]))
            continue
        if el.tag == SYM:  # a letter written as a symbol character: part of the text it is in
            key, text = (oid, "t"), sym_text(el)
            if not text:
                continue
        else:
            key, text = (oid, TEXT_TAGS[el.tag]), as_shown(el, caps_styles)  # text formatted all caps is read as shown
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append((el, text))
    for key in order:
        yield groups[key]



def package_caps_styles(pkg) -> frozenset[str]:
    """The style ids of a package's word/styles.xml that show capitals (empty without one)."""
    if "word/styles.xml" not in pkg.parts:
        return frozenset()
    try:
        return caps_style_ids(pkg.xml("word/styles.xml"))
    except Exception:  # noqa: BLE001 - unreadable styles are refused elsewhere; no style then
        return frozenset()


def uses_styles(data: bytes, style_ids: frozenset[str]) -> bool:
    """Whether a part can show text in one of these styles (the cheap part test cannot tell)."""
    if not style_ids:
        return False
    if DEFAULT_STYLE in style_ids and b"<w:t" in data:
        return True
    return any(f'w:val="{sid}"'.encode() in data for sid in style_ids if sid)
