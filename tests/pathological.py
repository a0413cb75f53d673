"""Builders of pathological input for the hang guard (tests/test_no_hang.py).

Every input is built here from the shared samples (tests/fixtures/samples): a real form or minutes
with crafted paragraphs, tables or runs added, crafted e-mails, command and notice bodies. Sizes are
chosen so that linear work takes well under a second and quadratic work takes minutes.
All people named are fictional.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

SAMPLES = Path(__file__).resolve().parent / "fixtures" / "samples"
REFERRAL = SAMPLES / "S02-paragraphs.docx"  # a real form in paragraphs: "Young person's name: Isla Whitcombe"
MINUTES = SAMPLES / "minutes-1.docx"
CHILD = "Isla Whitcombe"

N = 100_000  # length of a run of one thing (a word, spaces, openers)

# -- text: one paragraph's worth of trouble ----------------------------------------------------------

TRIGGERS = ["known as", "also known as", "née", "nee", "formerly", "born", "brother", "sister", "mum",
            "his brother", "her sister called", "Name:", "Date of birth:", "DOB:", "Young person's name:",
            "Known as:", "Case Number:", "Lead Agency:", "Date:", "Chair:", "Minutes:", "In Attendance:",
            "Apologies:", "Next meeting:", "Actions", "Section 1", "nickname", "calls himself", "a.k.a."]
SPACES = {"spaces": " ", "tabs": "\t", "nbsp": "\u00a0", "mixed": " \t\u00a0\u2003"}


def huge_word(kind: str = "lower", n: int = 200_000) -> str:
    return {"lower": "a" * n, "capitals": "A" * n, "mixed": ("Ab" * n)[:n], "title": "A" + "b" * (n - 1),
            "digits": "1" * n, "zero-width": "\u200b".join("Ab" * (n // 3))}[kind]


def texts() -> dict[str, str]:
    """Named paragraph texts, each one pathological for some pattern."""
    out: dict[str, str] = {}
    for kind in ("lower", "capitals", "mixed", "title", "digits", "zero-width"):
        out[f"word-{kind}"] = huge_word(kind)
    for t in TRIGGERS:
        for sk, s in SPACES.items():
            out[f"after {t!r} {sk}"] = t + s * N + "x"
    out["after 'née' newline-ish"] = "née" + " \u2028" * (N // 2) + "x"
    for o in ["(", "‘", "“", "<", "[", "{", "'", '"', "<!--", "<?", "/*", "=\"", ">"]:
        out[f"openers {o!r}"] = o * (N // len(o))
    for pat in ["a.", "a-", "a'", "@", "www.", "a@", "a@b.", ".a", "http://", "-", "a ", "A ", "CN1 ", "1/", "1-",
                "1 ", "12.", "1st ", "of ", "name", "called", "knownas", "cn1", "+1", "(1)"]:
        out[f"repeat {pat!r}"] = (pat * (N // len(pat)))[:N] + "!"
    out["digits then letters"] = "1" * N + "x"
    out["date words"] = "1st of " * (N // 7) + "x"
    out["phone then x"] = "0" + " 7" * (N // 2) + "x"
    out["name woven"] = "I\u200bs\u200bl\u200ba " * (N // 10)
    return out


# -- documents ---------------------------------------------------------------------------------------

def _para(text: str) -> str:
    return f'<w:p><w:r><w:t xml:space="preserve">{escape(text)}</w:t></w:r></w:p>'


def _table(rows: list[list[str]]) -> str:
    body = "".join("<w:tr>" + "".join(f"<w:tc>{_para(c)}</w:tc>" for c in row) + "</w:tr>" for row in rows)
    return f"<w:tbl>{body}</w:tbl>"


def rebuild(base: Path, xml: str | None = None, add: dict[str, bytes] | None = None) -> bytes:
    src = zipfile.ZipFile(base)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "word/document.xml" and xml is not None:
                data = xml.encode("utf-8")
            zf.writestr(info.filename, data)
        for name, data in (add or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


def document_xml(base: Path) -> str:
    return zipfile.ZipFile(base).read("word/document.xml").decode("utf-8")


def with_body(base: Path, fragment: str, *, at_start: bool = False) -> bytes:
    """The document with raw body XML added after the body opens or before its section properties."""
    xml = document_xml(base)
    if at_start:
        i = xml.index("<w:body>") + len("<w:body>")
    else:
        i = xml.rfind("<w:sectPr")
        i = i if i >= 0 else xml.rindex("</w:body>")
    return rebuild(base, xml[:i] + fragment + xml[i:])


def with_paragraph(base: Path, text: str, **kw) -> bytes:
    return with_body(base, _para(text), **kw)


def with_value(base: Path, old: str, new: str) -> bytes:
    """The document with a run's text ``old`` replaced by ``new`` (e.g. the child's name's value)."""
    xml = document_xml(base)
    assert f">{old}<" in xml, old
    return rebuild(base, xml.replace(f">{old}<", f">{escape(new)}<", 1))


def structures() -> dict[str, str]:
    """Named body fragments that are big in structure rather than in one text."""
    return {
        "paragraphs 30k": "".join(_para(f"Line {i} of the notes.") for i in range(30_000)),
        "table rows 5k": _table([[f"Cell {i}", "Known as:", "x"] for i in range(5_000)]),
        "table cells 10k in one row": _table([[f"c{i}" for i in range(10_000)]]),
        "nested tables 60 deep": _nested(60),
        "runs 20k in one paragraph": "<w:p>" + "".join(f"<w:r><w:t>a{i % 10} </w:t></w:r>" for i in range(20_000))
        + "</w:p>",
        "runs 20k one letter each": "<w:p>" + "<w:r><w:t>A</w:t></w:r>" * 20_000 + "</w:p>",
        "huge attribute": f'<w:p><w:pPr><w:pStyle w:val={quoteattr("A" * 500_000)}/></w:pPr>'
        "<w:r><w:t>Text</w:t></w:r></w:p>",
        "comment of openers": "<!--" + "<" * N + "-->" + _para("After the comment."),
        "fields 5k": "<w:p>" + '<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> MERGEFIELD x '
        '</w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>v</w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r>' * 5_000 + "</w:p>",
    }


def _nested(depth: int) -> str:
    inner = _para("Deep inside")
    for i in range(depth):
        inner = f"<w:tbl><w:tr><w:tc>{_para(f'level {i}')}{inner}</w:tc></w:tr></w:tbl>"
    return inner


# -- e-mail ------------------------------------------------------------------------------------------

def email(headers: dict[str, str] | list[tuple[str, str]] | None = None, body: str = "Hello.\n",
          *, html: str | None = None, attachments: list[tuple[str, str, bytes]] | None = None) -> bytes:
    """Raw message bytes; header values are written as given (folding, encoded words included)."""
    base = {"From": "Nora Quill <nora.quill@agency.example>", "To": "coordinator@net.example",
            "Subject": "Referral", "Date": "Tue, 09 Feb 2027 10:00:00 +0000", "Message-ID": "<a1@agency.example>",
            "MIME-Version": "1.0"}
    items = list((headers.items() if isinstance(headers, dict) else headers) or [])
    names = {k.lower() for k, _ in items}
    lines = [f"{k}: {v}" for k, v in base.items() if k.lower() not in names] + [f"{k}: {v}" for k, v in items]
    parts = [("text/plain", body.encode("utf-8"))]
    if html is not None:
        parts.append(("text/html", html.encode("utf-8")))
    if not attachments and len(parts) == 1:
        return ("\r\n".join(lines + ["Content-Type: text/plain; charset=utf-8",
                                     "Content-Transfer-Encoding: 8bit", "", ""])).encode() + parts[0][1]
    b = "=-=-boundary-=-="
    out = ("\r\n".join(lines + [f'Content-Type: multipart/mixed; boundary="{b}"', "", ""])).encode()
    import base64
    for ctype, data in parts:
        out += (f"--{b}\r\nContent-Type: {ctype}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                ).encode() + base64.encodebytes(data) + b"\r\n"
    for name, ctype, data in attachments or []:
        out += (f'--{b}\r\nContent-Type: {ctype}; name="{name}"\r\nContent-Disposition: attachment; '
                f'filename="{name}"\r\nContent-Transfer-Encoding: base64\r\n\r\n').encode()
        out += base64.encodebytes(data) + b"\r\n"
    return out + f"--{b}--\r\n".encode()


def email_cases() -> dict[str, bytes]:
    n = 20_000
    enc = "=?utf-8?b?SXNsYQ==?= " * n
    return {
        "from display huge word": email({"From": "A" * N + " <nora.quill@agency.example>"}),
        "from many at signs": email({"From": "@" * N}),
        "from address dots": email({"From": "a" + ".a" * (N // 2) + "@agency.example"}),
        "from domain dots": email({"From": "nora@" + "a." * (N // 2)}),
        "from no closer": email({"From": "<" * N}),
        "from quotes": email({"From": '"' + "\\\"" * (N // 2)}),
        "from parentheses": email({"From": "(" * N + "nora@agency.example"}),
        "subject spaces": email({"Subject": "Re:" + " " * N + "x"}),
        "subject auto-reply spaces": email({"Subject": "automatic" + " " * N + "x"}),
        "subject encoded words": email({"Subject": enc}),
        "from encoded words": email({"From": enc + "<nora.quill@agency.example>"}),
        "subject folded": email({"Subject": "\r\n ".join(["word"] * n)}),
        "auth results props": email({"Authentication-Results": "mx.net.example; " + "a.b=c " * n}),
        "auth results spaces": email({"Authentication-Results": "mx.net.example;" + " " * N + "dkim" + " " * N}),
        "auth results slashes": email({"Authentication-Results": "mx.net.example; dkim" + " / 1" * n}),
        "auth results huge word": email({"Authentication-Results": "a" * N}),
        "message-id openers": email({"Message-ID": "<" * N}),
        "references openers": email({"References": "<a" * n}),
        "date junk": email({"Date": "1 " * n}),
        "html nested": email(html="<div>" * 20_000 + "Hello" + "</div>" * 20_000),
        "html style openers": email(html="<style>" + "{" * N + "</style><p>Hello</p>"),
        "html css comment": email(html="<style>" + "/*" * (N // 2) + "</style><p>Hello</p>"),
        "html css rules": email(html="<style>" + "p{color:red}" * n + "</style><p>Hello</p>"),
        "html inline style": email(html='<p style="' + "color:" * n + '">Hello</p>'),
        "html openers": email(html="<" * N),
        "body spaces": email(body=" " * N + "x"),
        "in-reply-to encoded words": email({"In-Reply-To": enc}),
        "auto-submitted encoded words": email({"Auto-Submitted": enc}),
        "content-type parameter encoded words": email(attachments=[("f.docx", "application/octet-stream; x=\"" + enc
                                                                    + "\"", b"PK")]),
        "filename encoded words": email(attachments=[(enc.strip(), "application/octet-stream", b"PK")]),
        "tnef": email(attachments=[("winmail.dat", "application/ms-tnef", b"\x78\x9f\x3e\x22" + b"\x00" * 50_000)]),
        "attachment name openers": email(attachments=[("(" * 5_000 + ".docx", "application/octet-stream", b"PK")]),
    }
