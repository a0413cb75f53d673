"""No names at rest: after a realistic run (eight sample referrals, a duplicate, minutes, a coordinator
command) through the real mail server, no young person's or family member's name is stored in clear:
not in any log line, not in the SQLite database (nor its -wal/-shm), not in any file of the data folder,
not inside any stored outgoing message once decoded. The names may only be inside the encrypted Master
List attachments. Every person here is fictional.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import functools
import io
import logging
import re
import urllib.parse
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import MINUTES_SAMPLES, REFERRAL_SAMPLES, SAMPLES, truth_for
from mailbot.sandbox.network import TestNetwork
from people import record

pytestmark = pytest.mark.mailserver

NOW = datetime(2026, 12, 10, 9, 0, tzinfo=timezone.utc)  # S07 (born 31/12/2007) is 18: within the ages taken
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
YOUTHREACH = ("Lisnavar Youthreach", ("clodagh.taaffe@lisnavaryouthreach.ie", "helen.ventry@lisnavaryouthreach.ie"))


# -- the search ---------------------------------------------------------------------------------

def protected_tokens(truth_files) -> tuple[set[str], set[str]]:
    """(all protected tokens, those that are also ordinary words)."""
    tokens, ordinary = set(), set()
    for t in truth_files:
        truth = truth_for(t)
        tokens.update(truth.get("protected_tokens") or [])
        ordinary.update(w.lower() for w in truth.get("ordinary_word_tokens") or [])
    return tokens, ordinary


def _forms(token: str) -> set[str]:
    forms = {token, urllib.parse.quote(token), urllib.parse.quote_plus(token)}
    if " " in token:
        forms |= {token.replace(" ", sep) for sep in ("_", "-", ".", "")}
    return forms


@functools.lru_cache(maxsize=64)
def _patterns(tokens: frozenset, ordinary: frozenset, binary: bool) -> list[tuple[re.Pattern, dict]]:
    """One regex per (encoding, case rule): an alternation of every form of every token."""
    # whole words only; in binary files the base64 alphabet does not end a word either, so that a
    # random stretch of base64 (an encrypted attachment stored in the outbox) cannot match by chance
    edge = rb"A-Za-z0-9+/" if binary else rb"A-Za-z0-9"
    out = []
    for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
        for strict in (False, True):
            chosen = [t for t in tokens if (t.lower() in ordinary or (binary and len(t) <= 3)) == strict]
            if not chosen:
                continue
            owner = {}
            alts = []
            for token in chosen:
                for form in _forms(token) | ({f.upper() for f in _forms(token)} if strict else set()):
                    enc = form.encode(encoding)
                    if not strict:
                        enc = enc.lower()  # searched in the lower-cased data (faster than IGNORECASE)
                    owner[enc] = token
                    alts.append(re.escape(enc))
            body = b"(?:" + b"|".join(sorted(set(alts), key=len, reverse=True)) + b")"
            if encoding == "utf-8":
                body = rb"(?<![" + edge + rb"])" + body + rb"(?![" + edge + rb"])"
            out.append((re.compile(body), owner, strict, encoding))
    return out


def find_names(data: bytes, tokens, ordinary=(), *, binary: bool = False) -> list[str]:
    """Which protected tokens occur in ``data`` (as UTF-8, UTF-16 LE/BE or URL-encoded), whole words, any case.

    Tokens that are ordinary words (Grace: "a grace period") are matched only as written or in
    CAPITALS, like the outbound gate does; so are very short tokens (3 letters) in binary files, so that
    random bytes do not match by chance.
    """
    hits = []
    lowered = data.lower()
    for rx, owner, strict, encoding in _patterns(frozenset(tokens), frozenset(w.lower() for w in ordinary), binary):
        for m in rx.finditer(data if strict else lowered):
            hits.append(f"{owner.get(m.group(), '?')!r} as {encoding}")
    return sorted(set(hits))


def _docx_text(data: bytes) -> bytes:
    out = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for n in zf.namelist():
            xml = zf.read(n)
            out += [xml, re.sub(rb"<[^>]+>", b"", xml)]  # as stored, and the text with runs joined
    return b"\n".join(out)


def decoded_message(raw: bytes) -> bytes:
    return b"\n".join(decoded_parts(raw))


def decoded_parts(raw: bytes) -> list[bytes]:
    """Headers, decoded text and decoded (unzipped) attachments of one stored outgoing message.

    The encrypted Master List (an OLE file holding EncryptedPackage) is left out: it is the one place
    the names may be."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    out = [str(v).encode() for _k, v in msg.items()]
    for part in msg.walk():
        if part.is_multipart():
            continue
        out.append(str(part.get_filename() or "").encode())
        data = part.get_payload(decode=True) or b""
        if data.startswith(OLE_MAGIC) and b"E\x00n\x00c\x00r\x00y\x00p\x00t\x00e\x00d\x00P" in data:
            assert (part.get_filename() or "").startswith("master-list")
            continue
        out.append(_docx_text(data) if data.startswith(b"PK\x03\x04") else data)
    return out


def test_the_search_finds_a_planted_name(tmp_path):
    tokens, ordinary = protected_tokens(REFERRAL_SAMPLES)
    assert find_names(b"2026-11-23 INFO referral for harvey received", tokens, ordinary)
    assert find_names("Harvey Pemberton".encode("utf-16-le"), tokens, ordinary, binary=True)
    assert find_names(b"GET /case?name=Isla%20Whitcombe HTTP/1.1", {"Isla Whitcombe"}, binary=True)
    assert find_names(b"\x00\x01Alf\x00", tokens, ordinary, binary=True)
    assert not find_names(b"on behalf of the coordinator, half a page", tokens, ordinary)
    assert not find_names(b"Graceful PembertonShire", tokens, ordinary)
    ordinary_tokens, ordinary_words = protected_tokens([SAMPLES / "S08-ordinary-word-name.docx"])
    assert not find_names(b"a short grace period", ordinary_tokens, ordinary_words)
    assert find_names(b"GRACE missed school", ordinary_tokens, ordinary_words)
    # a planted name in a scratch data folder is found by the same walk the real test uses
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "scratch.json").write_text('{"note": "Lives with Lorraine Pemberton"}')
    assert files_with_names(tmp_path / "data", tokens, ordinary)
    # and inside a stored docx attachment, once decoded
    from mailbot.mail.compose import DOCX_TYPE  # noqa: F401 - the real type the bot uses

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("word/document.xml", "<w:t>Ev</w:t><w:t>ie Rafferty</w:t>")
    m = email.message.EmailMessage()
    m["Subject"] = "[CN6] Coded referral"
    m.set_content("clean")
    m.add_attachment(buf.getvalue(), maintype="application", subtype="octet-stream", filename="CN6.docx")
    assert find_names(m.as_bytes(), tokens, ordinary, binary=True) == []  # deflated: invisible raw
    assert find_names(decoded_message(m.as_bytes()), tokens, ordinary)


def files_with_names(root: Path, tokens, ordinary) -> dict[str, list[str]]:
    found = {}
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        hits = find_names(path.read_bytes(), tokens, ordinary, binary=True)
        if hits:
            found[str(path.relative_to(root))] = hits
    return found


# -- the realistic run -------------------------------------------------------------------------

def run_bot(bot) -> None:
    bot.drain_inbox_once()
    asyncio.run(bot.make_outbox().drain_until_empty(60))


def test_no_name_is_stored_in_clear_anywhere(private_mailserver, tmp_path, caplog):
    from mailbot.config import MemberConfig
    from mailbot.daemon import Bot
    from mailbot.store import Case

    server = private_mailserver
    log_file = tmp_path / "mailbot.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    # the bot's own loggers at DEBUG; the libraries it uses at INFO (the test mail server's own
    # "mail.log" logger is not the bot and is left out)
    caplog.set_level(logging.DEBUG, logger="mailbot")
    caplog.set_level(logging.INFO)
    bot_logger = logging.getLogger("mailbot")
    quiet = logging.getLogger("mail.log")
    quiet_level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        net = TestNetwork(server, tmp_path / "net", suffix="")
        for address in YOUTHREACH[1]:
            server.add_user(address)
        net.config.members = list(net.config.members) + [MemberConfig(YOUTHREACH[0], YOUTHREACH[1], False, True)]
        bot = Bot(net.config, clock=lambda: NOW)
        try:
            # the case minutes-2 is about, already on record (its name is protected too)
            bot.store.add_case(Case(
                code="CN15", number=15, lead_agency="Lisnavar Community School",
                lead_contact="svarian@lisnavarcs.ie", referred_on="2027-01-04", sw_known=True, sw_open=True,
                person=record({"name": "Jayden Tansey", "first_name": "Jayden", "surname": "Tansey", "known_as": [],
                        "other_surnames": [], "date_of_birth": "2012-05-03", "family": []})))
            # eight referrals from four members, then the same form again (a duplicate)
            for i, form in enumerate(REFERRAL_SAMPLES):
                net.send_referral(net.members[i % 4][1], form)
            run_bot(bot)
            net.send_referral(net.members[5][1], SAMPLES / "S03-content-controls.docx")
            # minutes from CN15's lead agency; a coordinator command (Social Work check with a worker)
            minutes = SAMPLES / "minutes-2.docx"
            raw = net.email_with("svarian@lisnavarcs.ie", "Minutes",
                                 attachments=[(minutes.name, minutes.read_bytes())])
            server.deliver_to_inbox(net.mailbox, raw, mail_from="svarian@lisnavarcs.ie")
            cmd = net.email_with(net.coordinator, "commands",
                                 body='SW CN1 known open worker "Aoife Test" 087 123 4567 aoife.test@hse.example')
            server.deliver_to_inbox(net.mailbox, cmd, mail_from=net.coordinator)
            run_bot(bot)

            # the run did what it should (so the search below looked at a real store)
            codes = sorted(c.code for c in bot.store.open_cases())
            assert len(codes) == 1 + 9, codes  # CN15 + eight referrals (S04 has two siblings)
            kinds = {it.kind for it in bot.store.outbox_items()}
            assert {"coded-referral", "master-list", "acknowledgement", "duplicate-referral"} <= kinds, kinds
            assert "minutes" in kinds, kinds
            assert not [it for it in bot.store.outbox_items() if it.status == "held"]

            tokens, ordinary = protected_tokens(REFERRAL_SAMPLES + [minutes])
            assert "Harvey" in tokens and "Jayden Tansey" in tokens

            # every stored outgoing message, decoded, attachments unzipped (Master List excepted)
            seen = {}
            for item in bot.store.outbox_items():
                for blob in decoded_parts(item.raw):
                    seen.setdefault(blob, (item.kind, item.case_code))
            for blob, where in seen.items():
                hits = find_names(blob, tokens, ordinary)
                assert not hits, (where, hits)

            # the files while the bot runs: the database with its -wal/-shm, the key, everything
            data_dir = net.config.data_dir
            assert Path(str(net.config.store_path)).exists()
            assert not files_with_names(data_dir, tokens, ordinary)
        finally:
            bot.close()
        # and after a clean shutdown (the WAL checkpointed into the database): the data folder and
        # everything else the test network wrote
        assert not files_with_names(tmp_path / "net", tokens, ordinary)
    finally:
        root.removeHandler(handler)
        handler.close()
        quiet.setLevel(quiet_level)

    # every log line, as logged and as written to the file, tracebacks included
    lines = [r.getMessage() + "\n" + (r.exc_text or "") for r in caplog.records if r.name != "mail.log"]
    assert any(r.name.startswith("mailbot") and r.levelno == logging.DEBUG for r in caplog.records) or bot_logger
    assert len(lines) > 20
    for line in lines:
        assert not find_names(line.encode(), tokens, ordinary), line
    log_bytes = log_file.read_bytes()
    assert log_bytes.count(b"\n") > 20
    assert not find_names(log_bytes, tokens, ordinary)
