"""The visible text of an HTML email body: only what a reader sees on screen.

Commands and notice fields are read from it, so text a mail client does not show (hidden by CSS,
comments, scripts, the head) must never be read."""

from __future__ import annotations

import re

_HTML_BLOCK = {"p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "pre",
               "hr", "ul", "ol", "dl", "dt", "dd", "section", "article", "header", "footer", "address"}
_HTML_SKIP = {"script", "style", "head", "title", "template", "meta", "link", "object", "embed", "iframe",
              "frame", "frameset", "applet", "svg", "math", "audio", "video", "canvas", "select", "option",
              "textarea", "input", "button", "datalist", "map"}
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
# starts only after a brace (or at the start): a start inside a run without braces finds nothing the
# run's start did not, and read from each letter of a long run it took long (30,000 letters: 5.7 s)
_CSS_RULE = re.compile(r"(?<![^{}])([^{}]*)\{([^{}]*)\}")
_NAMED_COLOURS = {"white": (255, 255, 255), "black": (0, 0, 0), "red": (255, 0, 0), "green": (0, 128, 0),
                  "blue": (0, 0, 255), "yellow": (255, 255, 0), "silver": (192, 192, 192), "gray": (128, 128, 128),
                  "grey": (128, 128, 128), "snow": (255, 250, 250), "ivory": (255, 255, 240),
                  "whitesmoke": (245, 245, 245), "ghostwhite": (248, 248, 255), "floralwhite": (255, 250, 240)}


class _HiddenHTML(Exception):
    """The HTML hides text in a way that cannot be worked out: none of it is read."""


def _css_declarations(text: str) -> dict[str, str]:
    out = {}
    for decl in (text or "").split(";"):
        name, colon, value = decl.partition(":")
        if colon:
            out[name.strip().lower()] = " ".join(value.replace("!important", "").split()).lower()
    return out


def _colour(value: str):
    """(r, g, b) for a CSS or HTML colour, "transparent", or None when not understood."""
    v = (value or "").strip().lower()
    if not v:
        return None
    if v == "transparent":
        return "transparent"
    if v in _NAMED_COLOURS:
        return _NAMED_COLOURS[v]
    m = re.fullmatch(r"#?([0-9a-f]{3}|[0-9a-f]{6})", v)
    if m and (v.startswith("#") or len(v) in (3, 6)):
        h = m.group(1)
        if len(h) == 3:
            h = "".join(c * 2 for c in h)
        return tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))
    m = re.fullmatch(r"rgba?\(\s*([\d.]+)%?\s*,?\s*([\d.]+)%?\s*,?\s*([\d.]+)%?\s*(?:[,/]\s*([\d.]+%?))?\s*\)", v)
    if m:
        alpha = m.group(4)
        if alpha is not None:
            a = float(alpha.rstrip("%")) / (100 if alpha.endswith("%") else 1)
            if a <= 0.05:
                return "transparent"
        return tuple(min(255, int(float(m.group(i)))) for i in (1, 2, 3))
    return None


def _length(value: str) -> tuple[float, str] | None:
    m = re.match(r"^\s*(-?[\d.]+)\s*([a-z%]*)", value or "")
    if not m:
        return None
    try:
        return float(m.group(1)), m.group(2)
    except ValueError:
        return None


def _tiny_font(value: str) -> bool | None:
    """True: a font too small to see; False: a readable size; None: relative or not understood."""
    length = _length(value)
    if length is None:
        return None
    number, unit = length
    if unit in ("em", "rem", "ex", "ch"):
        return number <= 0.1
    if unit == "%":
        return number <= 10
    return number <= 1  # px, pt, or a bare 0


def _without_comments(css: str) -> str:
    """``_CSS_COMMENT.sub(" ", css)`` in one pass: the pattern read the rest of the text again from each
    "/*" with no "*/" after it (30,000 of them: 48 s)."""
    out, i = [], 0
    while (p := css.find("/*", i)) >= 0 and (q := css.find("*/", p + 2)) >= 0:
        out += [css[i:p], " "]
        i = q + 2
    out.append(css[i:])
    return "".join(out)


def _stylesheet(doc) -> list[tuple[object, dict[str, str]]]:
    """(elements matched, declarations) of each rule in the <style> elements that could hide text."""
    from lxml.cssselect import CSSSelector

    rules = []
    for style in doc.iter("style"):
        css = _without_comments(style.text or "")
        for m in _CSS_RULE.finditer(css):
            selectors, decls = m.group(1).strip(), _css_declarations(m.group(2))
            if not selectors or selectors.startswith("@") or not decls:
                continue
            for sel in selectors.split(","):
                sel = sel.strip()
                if not sel:
                    continue
                try:
                    matched = set(CSSSelector(sel)(doc))
                except Exception:  # noqa: BLE001 - a selector we cannot evaluate
                    if _hides(decls):
                        raise _HiddenHTML(sel) from None
                    continue
                rules.append((matched, decls))
    return rules


def _hides(decls: dict[str, str]) -> bool:
    """Do these declarations by themselves make an element's text invisible?"""
    if decls.get("display", "").startswith("none"):
        return True
    if decls.get("visibility") in ("hidden", "collapse"):
        return True
    if _tiny_font(decls.get("font-size", "")):
        return True
    opacity = _length(decls.get("opacity", ""))
    if opacity is not None and opacity[0] <= 0.05:
        return True
    for key in ("max-height", "height", "max-width", "width"):
        size = _length(decls.get(key, ""))
        if size is not None and size[0] <= 1 and decls.get("overflow", "").startswith(("hidden", "clip")):
            return True
    for key in ("text-indent", "left", "top", "margin-left", "margin-top"):
        offset = _length(decls.get(key, ""))
        if offset is not None and offset[0] <= -500:
            return True
    if _colour(decls.get("color", "")) == "transparent":
        return True
    return False


def _visible_text(doc) -> str:
    rules = _stylesheet(doc)
    out: list[str] = []

    def walk(el, state) -> None:
        hidden, font_zero, colour, background = state
        tag = el.tag if isinstance(el.tag, str) else ""
        tag = tag.lower()
        if not tag or tag in _HTML_SKIP:  # comments, processing instructions, scripts, the head...
            if el.tail and not hidden and not font_zero:
                out.append(el.tail)
            return
        decls: dict[str, str] = {}
        for matched, rule in rules:
            if el in matched:
                decls.update(rule)
        decls.update(_css_declarations(el.get("style", "")))
        if el.get("color") and "color" not in decls:
            decls["color"] = el.get("color")
        if el.get("bgcolor") and "background-color" not in decls:
            decls["background-color"] = el.get("bgcolor")
        gone = el.get("hidden") is not None or decls.get("display", "").startswith("none")
        # visibility and font-size are inherited and a child may undo them: followed below
        if not gone and _hides({k: v for k, v in decls.items() if k not in ("visibility", "font-size")}):
            gone = True
        if gone:
            if el.tail and not hidden and not font_zero:
                out.append(el.tail)
            return
        vis = decls.get("visibility")
        if vis in ("hidden", "collapse"):
            hidden = True
        elif vis == "visible":
            hidden = False
        if "font-size" in decls:
            tiny = _tiny_font(decls["font-size"])
            if tiny is not None:
                font_zero = tiny
        bg = decls.get("background-color") or decls.get("background", "").split(" ")[0]
        if bg and _colour(bg) not in (None, "transparent"):
            background = _colour(bg)
        if decls.get("color") and _colour(decls["color"]) is not None:
            colour = _colour(decls["color"])
        invisible = hidden or font_zero or colour == background
        start = len(out)
        if tag in _HTML_BLOCK or tag == "br":
            out.append("\n")
        elif tag in ("td", "th"):
            out.append(" ")
        if el.text and not invisible:
            out.append(el.text)
        for child in el:
            walk(child, (hidden, font_zero, colour, background))
        if tag in _HTML_BLOCK:
            out.append("\n")
        if tag == "blockquote":  # quoted text reads as quoted, as "> " lines do in a plain-text body
            inner = "".join(out[start:])
            del out[start:]
            out.append("\n".join("> " + line if line.strip() else line for line in inner.split("\n")))
        outer_hidden, outer_zero, outer_colour, outer_bg = state
        if el.tail and not (outer_hidden or outer_zero or outer_colour == outer_bg):
            out.append(el.tail)

    body = doc.find("body")
    for el in ([body] if body is not None else list(doc)):
        walk(el, (False, False, (0, 0, 0), (255, 255, 255)))
    return "".join(out)


def html_to_text(html: str) -> str:
    """Visible text of an HTML body (no external resources are ever fetched).

    Read with lxml.html: comments, <script>/<style>, the <head> and <title>, and text hidden by CSS
    (display:none, visibility:hidden, a zero font size, zero opacity, text the colour of its
    background such as white on white, off-screen) are left out. An HTML body that hides text in a
    way that cannot be worked out (a stylesheet selector that cannot be evaluated) gives no text."""
    from lxml import etree
    from lxml import html as lxml_html

    if not html or not html.strip():
        return ""
    parser = lxml_html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True)
    try:
        doc = lxml_html.document_fromstring(html.encode("utf-8", "replace"), parser=parser)
        text = _visible_text(doc)
    except (etree.ParserError, ValueError, _HiddenHTML, RecursionError):
        return ""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
