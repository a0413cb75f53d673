"""Reading one incoming email into data: headers, body text and attachments.

Pure functions on bytes: no network, no files. Incoming mail is untrusted, so
:func:`read_email` never raises on weird input; what it could not understand
is recorded in ``IncomingEmail.defects`` (technical, for logs) and
``IncomingEmail.problems`` (one plain line each, fit to send back to the
sender).

What is found as an attachment:

* ordinary attachments (anything with a file name, or any non-text part);
* the attachments inside a forwarded message (a ``message/rfc822`` part) and
  inside an attached ``.eml`` file, one level deep (``source="forwarded"``);
* the files inside ``winmail.dat`` (``application/ms-tnef``, Outlook's "Rich
  Text" format). Decision: a minimal TNEF reader is implemented here
  (attAttachTitle / attAttachData / attAttachRendData, and the MAPI
  properties PR_ATTACH_LONG_FILENAME / PR_ATTACH_DATA_BIN inside
  attAttachment). Files found get ``source="winmail"``. When nothing can be
  read out of it, a plain problem is recorded instead (:data:`WINMAIL_PROBLEM`).

When the raw message is larger than ``max_bytes`` only the headers are read,
``too_large`` is set and no attachment is decoded.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import hashlib
import logging
import re
import struct
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage, Message

log = logging.getLogger("mailbot.mailreader")

MAX_BYTES = 30 * 1024 * 1024

WINMAIL_PROBLEM = (
    "Your email program sent the form inside winmail.dat, which we could not open; "
    "please send the form again as a normal attachment (in Outlook, choose HTML or plain text format)."
)
TOO_LARGE_PROBLEM = "Your email is too large for us to accept ({mb} MB; the limit is {limit} MB). Please send the form on its own."


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes
    source: str = "direct"  # "direct" | "forwarded" | "winmail"


@dataclass
class AuthResult:
    method: str          # "spf" | "dkim" | "dmarc" | other method names, lowercased
    result: str          # "pass" | "fail" | "softfail" | "none" | ... lowercased
    domain: str          # spf: smtp.mailfrom domain; dkim: header.d; dmarc: header.from ("" if absent)
    authserv_id: str = ""
    index: int = 0       # which Authentication-Results header (0 = topmost, added last)
    top: bool = False    # in the first contiguous block of Authentication-Results headers at the top


@dataclass
class IncomingEmail:
    message_id: str
    key: str
    from_address: str
    from_display: str
    subject: str
    date: datetime | None
    in_reply_to: str
    references: list[str]
    auto_submitted: bool
    is_bounce: bool
    text_body: str
    attachments: list[Attachment]
    too_large: bool = False
    size: int = 0
    auth_results: list[AuthResult] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: why the From line does not name exactly one sender unambiguously ("" when it does): see parse_from
    from_problem: str = ""

    @property
    def from_domain(self) -> str:
        return self.from_address.rpartition("@")[2]


# --------------------------------------------------------------------------
# headers

def _raw_header_values(msg: Message, name: str) -> list[str]:
    out = []
    lname = name.lower()
    try:
        items = msg.raw_items()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001
        items = []
    for k, v in items:
        if k.lower() == lname:
            out.append(str(v))
    return out


def _header(msg: Message, name: str, defects: list[str] | None = None) -> str:
    """A header's decoded value as a single line, or "" (never raises)."""
    try:
        value = msg.get(name)
        if value is None:
            return ""
        text = str(value)
    except Exception as exc:  # noqa: BLE001 - malformed header
        if defects is not None:
            defects.append(f"header {name}: {type(exc).__name__}")
        raw = _raw_header_values(msg, name)
        if not raw:
            return ""
        try:
            text = str(email.header.make_header(email.header.decode_header(raw[0])))
        except Exception:  # noqa: BLE001
            text = raw[0]
    return " ".join(text.split())


def _header_all(msg: Message, name: str) -> list[str]:
    try:
        values = msg.get_all(name) or []
        return [" ".join(str(v).split()) for v in values]
    except Exception:  # noqa: BLE001
        return [" ".join(v.split()) for v in _raw_header_values(msg, name)]


_MSGID = re.compile(r"<([^<>\s]+)>")


def _msg_ids(text: str) -> list[str]:
    ids = _MSGID.findall(text)
    if not ids and text.strip():
        ids = [t.strip("<>") for t in text.split() if t.strip("<>")]
    return ids


def normalize_message_id(text: str) -> str:
    ids = _msg_ids(text or "")
    return ids[0] if ids else ""


# The From line decides who is acting, so it is read strictly: the sender is the addr-spec of the
# single mailbox in it (what DMARC and mail clients use), never a display name. Anything that makes
# the sender ambiguous is recorded in ``from_problem`` and refused by mailbot.mail.senders.

FROM_MISSING = "the email has no From line"
FROM_SEVERAL_HEADERS = "the email has more than one From line"
FROM_SEVERAL = "the From line names more than one sender"
FROM_GROUP = "the From line uses group syntax instead of one sender"
FROM_UNREADABLE = "the From line could not be read as one email address"
FROM_HIDDEN_ADDRESS = "the From line shows a different email address than the one it was sent from"

_ADDR_LIKE = re.compile(r"[^\s<>\"'(),;:\[\]\\@]+@[^\s<>\"'(),;:\[\]\\@]+\.[^\s<>\"'(),;:\[\]\\@.]+")
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_DOMAIN = re.compile(r"^[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)+$")


def _split_from(value: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Tokens of a From value: ("quoted"|"angle"|"text"|"special", text), plus the comments' texts.

    Raises ValueError on unbalanced quotes, angle brackets or comments."""
    tokens: list[tuple[str, str]] = []
    comments: list[str] = []
    i, n = 0, len(value)
    text = []

    def flush():
        if text:
            tokens.append(("text", "".join(text)))
            text.clear()

    while i < n:
        ch = value[i]
        if ch == '"':
            flush()
            j, buf = i + 1, []
            while j < n and value[j] != '"':
                if value[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(value[j])
                j += 1
            if j >= n:
                raise ValueError("unbalanced quote")
            tokens.append(("quoted", "".join(buf)))
            i = j + 1
        elif ch == "(":
            flush()
            depth, j, buf = 1, i + 1, []
            while j < n and depth:
                c = value[j]
                if c == "\\" and j + 1 < n:
                    buf.append(value[j + 1])
                    j += 2
                    continue
                depth += c == "("
                depth -= c == ")"
                if depth:
                    buf.append(c)
                j += 1
            if depth:
                raise ValueError("unbalanced comment")
            comments.append("".join(buf))
            tokens.append(("text", " "))
            i = j
        elif ch == "<":
            flush()
            j = value.find(">", i + 1)
            if j < 0 or "<" in value[i + 1:j]:
                raise ValueError("unbalanced angle bracket")
            tokens.append(("angle", value[i + 1:j]))
            i = j + 1
        elif ch in ">)":
            raise ValueError("stray bracket")
        elif ch in ",;:":
            flush()
            tokens.append(("special", ch))
            i += 1
        else:
            text.append(ch)
            i += 1
    flush()
    return tokens, comments


def _decode_words(text: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except Exception:  # noqa: BLE001
        return text


def _valid_addr_spec(addr: str) -> bool:
    local, at, domain = addr.rpartition("@")
    return bool(at and local and domain and _LOCAL.match(local) and ".." not in local
                and not local.startswith(".") and not local.endswith(".") and _DOMAIN.match(domain))


def parse_from(values: list[str]) -> tuple[str, str, str]:
    """(addr-spec lowercased, display name, problem) from the raw value(s) of the From header(s).

    ``problem`` is "" when the From line names exactly one mailbox unambiguously; otherwise it is
    one of the FROM_* lines, and the address is the one mailbox's addr-spec where there is one
    (``"coordinator@network.test" <evil@attacker.test>`` is evil@attacker.test), else "".
    """
    if not values:
        return "", "", FROM_MISSING
    if len(values) > 1:
        return "", "", FROM_SEVERAL_HEADERS
    value = values[0]
    try:  # raw 8-bit header bytes arrive as surrogate escapes: read them as UTF-8
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        pass
    value = " ".join(value.replace("\r", " ").replace("\n", " ").split())
    try:
        tokens, comments = _split_from(value)
    except ValueError:
        return "", "", FROM_UNREADABLE
    specials = [t for kind, t in tokens if kind == "special"]
    if ":" in specials or ";" in specials:
        return "", "", FROM_GROUP
    if "," in specials:
        return "", "", FROM_SEVERAL
    angles = [t for kind, t in tokens if kind == "angle"]
    if len(angles) > 1:
        return "", "", FROM_SEVERAL
    display = ""
    if angles:
        at = next(i for i, (kind, _t) in enumerate(tokens) if kind == "angle")
        if any(kind != "text" or t.strip() for kind, t in tokens[at + 1:]):
            return "", "", FROM_UNREADABLE  # something after <addr>: a second mailbox, or junk
        addr = angles[0].strip()
        parts = []
        for kind, t in tokens[:at]:
            parts.append(t if kind == "quoted" else _decode_words(t))
        display = " ".join("".join(parts).split())
    else:
        if any(kind == "quoted" for kind, _t in tokens):
            return "", "", FROM_UNREADABLE  # a quoted local part ("a@b"@c) or a bare phrase
        words = "".join(t for _kind, t in tokens).split()
        if len(words) != 1:
            return "", "", FROM_UNREADABLE if len(words) < 2 or not any("@" in w for w in words) else FROM_SEVERAL
        addr = words[0]
    if not _valid_addr_spec(addr):
        return "", display, FROM_UNREADABLE
    addr = addr.lower()
    # An address shown anywhere else in the line (display name, comment, an encoded-word) that is
    # not the sender's own is how a forger makes the coordinator's address appear on screen.
    shown = unicodedata.normalize("NFKC", " ".join([display] + [_decode_words(c) for c in comments]))
    for candidate in _ADDR_LIKE.findall(shown.replace("\uff20", "@")):
        if candidate.strip(".").lower() != addr:
            return addr, display, FROM_HIDDEN_ADDRESS
    return addr, display, ""


def _from(msg: Message, defects: list[str]) -> tuple[str, str, str]:
    """The sender's (addr-spec, display name, problem): see :func:`parse_from`."""
    raw = _raw_header_values(msg, "From")
    addr, display, problem = parse_from(raw)
    if problem:
        defects.append("From: " + problem)
        return addr, display, problem
    # a second opinion: the standard library's header parser must see the same single mailbox
    try:
        header = msg.get("From")
        addresses = list(getattr(header, "addresses", ()) or ())
        groups = [g for g in getattr(header, "groups", ()) or () if g.display_name is not None]
        if groups or len(addresses) != 1 or (addresses[0].addr_spec or "").strip().lower() != addr:
            defects.append("From: parsers disagree")
            return addr, display, FROM_UNREADABLE
    except Exception as exc:  # noqa: BLE001
        defects.append(f"header From: {type(exc).__name__}")
    return addr, display, ""


def _date(msg: Message, defects: list[str]) -> datetime | None:
    raw = _header(msg, "Date", defects)
    if not raw:
        return None
    try:
        return email.utils.parsedate_to_datetime(raw)
    except Exception:  # noqa: BLE001
        defects.append("header Date: unparseable")
        return None


# --------------------------------------------------------------------------
# automatic mail

_AUTO_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|"
    r"undeliverable|undelivered mail|delivery status notification|mail delivery (failed|failure|system)|"
    r"returned mail|failure notice)",
    re.IGNORECASE,
)
_DAEMON = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)


def _is_bounce(msg: Message, from_address: str) -> bool:
    ctype = msg.get_content_type()
    if ctype == "multipart/report":
        return True
    if _DAEMON.match(from_address or ""):
        return True
    if msg.is_multipart():
        for part in msg.iter_parts() if isinstance(msg, EmailMessage) else msg.get_payload():
            try:
                if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
                    return True
            except Exception:  # noqa: BLE001
                continue
    return False


def _is_auto(msg: Message, from_address: str, subject: str, bounce: bool, defects: list[str]) -> bool:
    if bounce:
        return True
    auto = _header(msg, "Auto-Submitted", defects).lower()
    if auto and auto.split(";")[0].strip() != "no":
        return True
    for name in ("X-Autoreply", "X-Autorespond", "X-Autogenerated"):
        if _header(msg, name, defects):
            return True
    if _header(msg, "Precedence", defects).lower() in ("bulk", "junk", "auto_reply"):
        return True
    return_path = _header(msg, "Return-Path", defects)
    if return_path and return_path.replace(" ", "") in ("<>", ""):
        return True
    if return_path and _DAEMON.match(return_path.strip("<> ")):
        return True
    if _DAEMON.match(from_address or ""):
        return True
    if _AUTO_SUBJECT.match(subject or ""):
        return True
    return False


# --------------------------------------------------------------------------
# bodies

# HTML bodies: only the text a reader sees. Commands and notice fields are read from it, so text a
# mail client does not show (hidden by CSS, comments, scripts, the head) must never be read.

_HTML_BLOCK = {"p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "pre",
               "hr", "ul", "ol", "dl", "dt", "dd", "section", "article", "header", "footer", "address"}
_HTML_SKIP = {"script", "style", "head", "title", "template", "meta", "link", "object", "embed", "iframe",
              "frame", "frameset", "applet", "svg", "math", "audio", "video", "canvas", "select", "option",
              "textarea", "input", "button", "datalist", "map"}
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_CSS_RULE = re.compile(r"([^{}]*)\{([^{}]*)\}")
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


def _stylesheet(doc) -> list[tuple[object, dict[str, str]]]:
    """(elements matched, declarations) of each rule in the <style> elements that could hide text."""
    from lxml.cssselect import CSSSelector

    rules = []
    for style in doc.iter("style"):
        css = _CSS_COMMENT.sub(" ", style.text or "")
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


def part_text(part: Message) -> str:
    """Decoded text of a text/* part, tolerant of bad charsets and encodings."""
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content
        if isinstance(content, bytes):
            return content.decode("utf-8", "replace")
    except Exception:  # noqa: BLE001
        pass
    try:
        payload = part.get_payload(decode=True) or b""
    except Exception:  # noqa: BLE001
        payload = b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def part_bytes(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        payload = None
    if payload is None:
        raw = part.get_payload()
        if isinstance(raw, str):
            return raw.encode("utf-8", "replace")
        return b""
    return payload


def part_filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001
        name = None
    if not name:
        try:
            name = part.get_param("name")
            if isinstance(name, tuple):
                name = email.utils.collapse_rfc2231_value(name)
        except Exception:  # noqa: BLE001
            name = None
    return " ".join(str(name).split()) if name else ""


def _is_attachment_part(part: Message) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    if disposition == "attachment" or part_filename(part):
        return True
    return part.get_content_type() not in ("text/plain", "text/html")


def _leaves(msg: Message, max_depth: int = 1):
    """Yield (kind, part, inner, depth): leaf parts, and message/rfc822 parts (kind "message").

    A forwarded message's parts count one level deeper; messages deeper than
    ``max_depth`` are yielded but not opened."""
    stack = [(msg, 0)]
    while stack:
        part, depth = stack.pop(0)
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                yield ("message", part, inner, depth)
                if depth < max_depth:
                    stack[0:0] = [(inner, depth + 1)]
            continue
        if ctype.startswith("message/"):
            continue  # delivery-status and the like: no files in there
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                stack[0:0] = [(p, depth) for p in payload if isinstance(p, Message)]
            continue
        yield ("leaf", part, None, depth)


# --------------------------------------------------------------------------
# attachments

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
TNEF_SIGNATURE = 0x223E9F78


def kind_of_attachment(att: Attachment) -> str:
    """"docx" | "doc" | "docm" | "pdf" | "eml" | "other", by name and magic bytes."""
    name = (att.filename or "").lower().strip()
    data = att.data or b""
    ctype = (att.content_type or "").lower()
    if data.startswith(b"%PDF-") or (name.endswith(".pdf") and not data.startswith(b"PK")):
        return "pdf"
    if ctype == "message/rfc822" or name.endswith(".eml"):
        return "eml"
    if data.startswith(OLE_MAGIC):
        # old Word, or an encrypted/password-protected Office file
        return "doc" if name.endswith((".doc", ".docx", ".dot", ".rtf")) or not name else "other"
    if name.endswith(".doc") and not data.startswith(b"PK"):
        return "doc"
    if data.startswith(b"PK\x03\x04"):
        head = data[:65536]
        if name.endswith((".docm", ".dotm")) or b"vbaProject.bin" in head or b"macroEnabled" in head:
            return "docm"
        if name.endswith((".docx", ".dotx")) or b"word/document.xml" in head or b"word/" in head:
            return "docx"
        return "other"
    if name.endswith((".docm", ".dotm")):
        return "docm"
    if name.endswith(".docx"):
        return "docx"  # named docx but not a zip: the docx reader refuses it plainly
    return "other"


def _looks_like_message(data: bytes) -> bool:
    head = data[:2048].lstrip()
    return bool(re.match(rb"(?i)^(from|received|return-path|date|subject|message-id|to|mime-version|"
                         rb"delivered-to|x-[\w-]+|dkim-signature|arc-[\w-]+|authentication-results)\s*:", head))


def _is_tnef(part: Message, filename: str, data: bytes) -> bool:
    return (part.get_content_type() in ("application/ms-tnef", "application/vnd.ms-tnef")
            or filename.lower() == "winmail.dat"
            or (len(data) >= 4 and struct.unpack("<I", data[:4])[0] == TNEF_SIGNATURE))


def _collect(msg: Message, attachments: list[Attachment], problems: list[str], defects: list[str],
             *, base_depth: int = 0) -> None:
    for kind, part, inner, depth in _leaves(msg, max_depth=1 - base_depth):
        depth += base_depth
        if kind == "message":
            if depth >= 1:
                # a message inside a forwarded message: kept whole, not opened
                try:
                    data = inner.as_bytes(policy=email.policy.default)
                except Exception:  # noqa: BLE001
                    data = b""
                attachments.append(Attachment(part_filename(part) or "forwarded.eml", "message/rfc822",
                                              data, "forwarded"))
            continue
        if not _is_attachment_part(part):
            continue
        filename = part_filename(part)
        data = part_bytes(part)
        source = "forwarded" if depth >= 1 else "direct"
        ctype = part.get_content_type()
        if _is_tnef(part, filename, data):
            files = read_tnef(data)
            if files is None or not files:
                problems.append(WINMAIL_PROBLEM)
                defects.append("winmail.dat unreadable" if files is None else "winmail.dat without files")
            for name, blob in files or []:
                attachments.append(Attachment(name, _guess_type(name), blob, "winmail"))
            continue
        is_eml = filename.lower().endswith(".eml") or ctype == "message/rfc822"
        if is_eml and depth == 0 and _looks_like_message(data):
            try:
                inner_msg = email.message_from_bytes(data, policy=email.policy.default)
                _collect(inner_msg, attachments, problems, defects, base_depth=1)
                continue
            except Exception as exc:  # noqa: BLE001
                defects.append(f"attached .eml unreadable: {type(exc).__name__}")
        attachments.append(Attachment(filename, ctype, data, source))


_TYPES = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".doc": "application/msword",
    ".pdf": "application/pdf",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".txt": "text/plain",
}


def _guess_type(name: str) -> str:
    for ext, ctype in _TYPES.items():
        if name.lower().endswith(ext):
            return ctype
    return "application/octet-stream"


# --------------------------------------------------------------------------
# TNEF (winmail.dat)

ATT_ATTACH_DATA = 0x800F
ATT_ATTACH_TITLE = 0x8010
ATT_ATTACH_REND_DATA = 0x9002
ATT_ATTACHMENT = 0x9005
PR_ATTACH_DATA_BIN = 0x3701
PR_ATTACH_FILENAME = 0x3704
PR_ATTACH_LONG_FILENAME = 0x3707
LVL_ATTACHMENT = 0x02

_FIXED = {0x0001: 4, 0x0002: 4, 0x0003: 4, 0x0004: 4, 0x0005: 8, 0x0006: 8, 0x0007: 8,
          0x000A: 4, 0x000B: 4, 0x0014: 8, 0x0040: 8, 0x0048: 16}
_VARIABLE = {0x001E, 0x001F, 0x0102, 0x000D}


def _pad4(n: int) -> int:
    return (n + 3) & ~3


def _mapi_props(data: bytes) -> dict[int, bytes | str]:
    """The few MAPI attachment properties we need (raises on damaged data)."""
    props: dict[int, bytes | str] = {}
    (count,) = struct.unpack_from("<I", data, 0)
    pos = 4
    for _ in range(min(count, 10000)):
        ptype, pid = struct.unpack_from("<HH", data, pos)
        pos += 4
        if pid >= 0x8000:  # named property: GUID, kind, id or name
            pos += 16
            (kind,) = struct.unpack_from("<I", data, pos)
            pos += 4
            if kind == 0:
                pos += 4
            else:
                (nlen,) = struct.unpack_from("<I", data, pos)
                pos += 4 + _pad4(nlen)
        multi = bool(ptype & 0x1000)
        base = ptype & ~0x1000
        nvalues = 1
        if multi or base in _VARIABLE:
            (nvalues,) = struct.unpack_from("<I", data, pos)
            pos += 4
        values = []
        for _v in range(min(nvalues, 100000)):
            if base in _FIXED:
                values.append(data[pos:pos + _FIXED[base]])
                pos += _FIXED[base]
            elif base in _VARIABLE:
                (vlen,) = struct.unpack_from("<I", data, pos)
                pos += 4
                if pos + vlen > len(data):
                    raise ValueError("truncated")
                values.append(data[pos:pos + vlen])
                pos += _pad4(vlen)
            else:
                raise ValueError(f"unknown MAPI type {ptype:#x}")
        if pos > len(data):
            raise ValueError("truncated")
        if values and pid in (PR_ATTACH_DATA_BIN, PR_ATTACH_FILENAME, PR_ATTACH_LONG_FILENAME):
            raw = values[0]
            if base == 0x001F:
                props[pid] = raw.decode("utf-16-le", "replace").rstrip("\x00")
            elif base == 0x001E:
                props[pid] = raw.decode("cp1252", "replace").rstrip("\x00")
            elif base == 0x000D and pid == PR_ATTACH_DATA_BIN:
                props[pid] = raw[16:]  # an embedded object starts with its IID
            else:
                props[pid] = raw
    return props


def read_tnef(data: bytes) -> list[tuple[str, bytes]] | None:
    """The files inside a TNEF (winmail.dat) blob, or None when it is not readable."""
    if len(data) < 6 or struct.unpack_from("<I", data, 0)[0] != TNEF_SIGNATURE:
        return None
    pos = 6
    files: list[dict] = []
    current: dict | None = None
    try:
        while pos + 9 <= len(data):
            level = data[pos]
            attr, length = struct.unpack_from("<II", data, pos + 1)
            pos += 9
            if length > len(data) - pos:
                raise ValueError("truncated attribute")
            value = data[pos:pos + length]
            pos += length + 2  # checksum
            if level != LVL_ATTACHMENT:
                continue
            attr_id = attr & 0xFFFF
            if attr_id == (ATT_ATTACH_REND_DATA & 0xFFFF) or current is None:
                current = {}
                files.append(current)
            if attr_id == (ATT_ATTACH_TITLE & 0xFFFF):
                current["title"] = value.split(b"\x00", 1)[0].decode("cp1252", "replace")
            elif attr_id == (ATT_ATTACH_DATA & 0xFFFF):
                current["data"] = value
            elif attr_id == (ATT_ATTACHMENT & 0xFFFF):
                try:
                    props = _mapi_props(value)
                except (struct.error, ValueError):
                    props = {}
                if isinstance(props.get(PR_ATTACH_LONG_FILENAME), str):
                    current["long"] = props[PR_ATTACH_LONG_FILENAME]
                elif isinstance(props.get(PR_ATTACH_FILENAME), str):
                    current.setdefault("title", props[PR_ATTACH_FILENAME])
                if isinstance(props.get(PR_ATTACH_DATA_BIN), bytes) and "data" not in current:
                    current["data"] = props[PR_ATTACH_DATA_BIN]
    except (struct.error, ValueError, IndexError):
        if not any("data" in f for f in files):
            return None
    out = []
    for i, f in enumerate(files, 1):
        if "data" not in f:
            continue
        name = (f.get("long") or f.get("title") or f"attachment-{i}.bin").strip() or f"attachment-{i}.bin"
        out.append((name, f["data"]))
    return out


# --------------------------------------------------------------------------
# Authentication-Results (RFC 8601)

def _strip_comments(text: str) -> str:
    out, depth, quoted = [], 0, False
    for ch in text:
        if ch == '"' and depth == 0:
            quoted = not quoted
        if not quoted:
            if ch == "(":
                depth += 1
                continue
            if ch == ")" and depth:
                depth -= 1
                continue
        if depth == 0:
            out.append(ch)
    return "".join(out)


_RESINFO = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(?:/\s*\d+\s*)?=\s*([A-Za-z0-9_-]+)")
_PROP = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_.-]+)\s*=\s*(\"[^\"]*\"|[^\s;]+)")


def parse_authentication_results(value: str, index: int = 0) -> list[AuthResult]:
    text = _strip_comments(value or "")
    segments = text.split(";")
    head = segments[0].split()
    authserv = head[0].lower() if head else ""
    out = []
    for seg in segments[1:]:
        m = _RESINFO.match(seg)
        if not m:
            continue
        method, result = m.group(1).lower(), m.group(2).lower()
        props = {}
        for pm in _PROP.finditer(seg[m.end():]):
            props[f"{pm.group(1).lower()}.{pm.group(2).lower()}"] = pm.group(3).strip('"')
        domain = ""
        if method == "dkim":
            domain = props.get("header.d", "") or props.get("header.i", "").rpartition("@")[2]
        elif method == "dmarc":
            domain = props.get("header.from", "")
        elif method == "spf":
            domain = props.get("smtp.mailfrom", "").rpartition("@")[2] or props.get("smtp.helo", "")
        else:
            domain = props.get("header.from", "") or props.get("header.d", "")
        out.append(AuthResult(method, result, domain.strip().lower().rstrip("."), authserv, index))
    return out


def authentication_results(msg: Message | bytes) -> list[AuthResult]:
    """All results from all Authentication-Results headers, topmost header first.

    Results of the first contiguous block of Authentication-Results headers at the top (the ones
    the receiving server prepended) have ``top`` set; any lower one could have been written by the
    sender and is never read by mailbot.mail.senders."""
    if isinstance(msg, (bytes, bytearray)):
        msg = email.message_from_bytes(bytes(msg), policy=email.policy.default)
    try:
        items = list(msg.raw_items())  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001
        items = [(k, str(v)) for k, v in msg.items()]
    out: list[AuthResult] = []
    index = 0
    block = "before"  # before the first A-R header, inside the top block, or after it
    for name, value in items:
        if name.strip().lower() != "authentication-results":
            if block == "in":
                block = "after"
            continue
        if block == "before":
            block = "in"
        text = " ".join(str(value).split())
        for r in parse_authentication_results(text, index):
            r.top = block == "in"
            out.append(r)
        index += 1
    return out


# --------------------------------------------------------------------------
# the whole email

def _header_block(raw: bytes) -> bytes:
    for sep in (b"\r\n\r\n", b"\n\n"):
        idx = raw.find(sep)
        if idx >= 0:
            return raw[: idx + len(sep)]
    return raw[: 1024 * 1024]


def _text_body(msg: Message) -> str:
    plain = html = None
    fallback_plain = fallback_html = None
    for kind, part, _inner, depth in _leaves(msg):
        if kind != "leaf":
            continue
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html"):
            continue
        if (part.get_content_disposition() or "") == "attachment" or part_filename(part):
            continue
        if depth == 0:
            if ctype == "text/plain" and plain is None:
                plain = part
            elif ctype == "text/html" and html is None:
                html = part
        else:
            if ctype == "text/plain" and fallback_plain is None:
                fallback_plain = part
            elif ctype == "text/html" and fallback_html is None:
                fallback_html = part
    if plain is not None:
        return part_text(plain)
    if html is not None:
        return html_to_text(part_text(html))
    if fallback_plain is not None:
        return part_text(fallback_plain)
    if fallback_html is not None:
        return html_to_text(part_text(fallback_html))
    return ""


def dedup_key(message_id: str, from_address: str, date: str, raw: bytes) -> str:
    if message_id:
        basis = "\n".join((message_id, from_address.lower(), " ".join(date.split()))).encode("utf-8", "replace")
        return hashlib.sha256(b"mid\n" + basis).hexdigest()
    return hashlib.sha256(b"raw\n" + raw).hexdigest()


def read_email(raw: bytes, *, max_bytes: int = MAX_BYTES) -> IncomingEmail:
    """Read raw RFC 5322 bytes into an :class:`IncomingEmail` (never raises on bad input)."""
    raw = bytes(raw or b"")
    defects: list[str] = []
    problems: list[str] = []
    too_large = len(raw) > max_bytes
    source = _header_block(raw) if too_large else raw
    try:
        msg = email.message_from_bytes(source, policy=email.policy.default)
    except Exception as exc:  # noqa: BLE001 - the parser is lenient, but never crash
        defects.append(f"unparseable message: {type(exc).__name__}")
        msg = email.message_from_bytes(b"\r\n", policy=email.policy.default)
    for d in getattr(msg, "defects", []) or []:
        defects.append(type(d).__name__)

    message_id = normalize_message_id(_header(msg, "Message-ID", defects))
    from_address, from_display, from_problem = _from(msg, defects)
    subject = _header(msg, "Subject", defects)
    date_raw = _header(msg, "Date", defects)
    date = _date(msg, defects)
    in_reply_to = normalize_message_id(_header(msg, "In-Reply-To", defects))
    references = _msg_ids(_header(msg, "References", defects))
    try:
        bounce = _is_bounce(msg, from_address)
    except Exception:  # noqa: BLE001
        bounce = False
    auto = _is_auto(msg, from_address, subject, bounce, defects)
    try:
        auth = authentication_results(msg)
    except Exception:  # noqa: BLE001
        auth = []
        defects.append("Authentication-Results unparseable")

    attachments: list[Attachment] = []
    text = ""
    if too_large:
        limit = max(1, max_bytes // (1024 * 1024))
        problems.append(TOO_LARGE_PROBLEM.format(mb=len(raw) // (1024 * 1024), limit=limit))
    else:
        try:
            text = _text_body(msg)
        except Exception as exc:  # noqa: BLE001
            defects.append(f"body unreadable: {type(exc).__name__}")
        try:
            _collect(msg, attachments, problems, defects)
        except Exception as exc:  # noqa: BLE001
            defects.append(f"attachments unreadable: {type(exc).__name__}")
            problems.append("Part of your email could not be read; please send the form again as a normal attachment.")

    return IncomingEmail(
        message_id=message_id,
        key=dedup_key(message_id, from_address, date_raw, raw),
        from_address=from_address,
        from_display=from_display,
        subject=subject,
        date=date,
        in_reply_to=in_reply_to,
        references=references,
        auto_submitted=auto,
        is_bounce=bounce,
        text_body=text,
        attachments=attachments,
        too_large=too_large,
        size=len(raw),
        auth_results=auth,
        defects=defects,
        problems=problems,
        from_problem=from_problem,
    )
