"""Red-team findings on "bad input gets a clear answer, never a hang or silence", in the middle layer
(tests/desk.py): each email goes through the pipeline; the test asserts the folder, the record, who was
answered and told, and that the answer came in seconds. Fictional people only."""

from __future__ import annotations

import time

from desk import text_of


def _raw(sender: str, *, subject: str = "Hello", from_value: str | None = None, extra: bytes = b"",
         body: bytes = b"Just checking in.\r\n") -> bytes:
    return (f"From: {from_value or sender}\r\nTo: coordinator@network.test\r\nSubject: {subject}\r\n"
            f"Message-ID: <{time.time_ns()}@agency.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
            ).encode() + extra + b"\r\n" + body


def test_a_subject_of_half_a_megabyte_of_encoded_words_is_answered_in_seconds(desk):
    """The standard library's header parser takes time that grows faster than the header (about 18 s
    for 450 KB, minutes for a megabyte): one such email kept the only intake thread busy."""
    raw = _raw(desk.lead, subject="=?utf-8?q?a?= " * 48_000)
    started = time.monotonic()
    assert desk.handle(raw) == "quarantined"
    assert time.monotonic() - started < 10
    # the Subject is left out unread (mail.reading: too many encoded words) and the sender is told so
    assert desk.last_message()["reason"] == "unreadable"
    assert desk.kinds_to(desk.lead) == ["form-problem"]


def test_a_from_line_of_a_megabyte_is_refused_in_seconds_and_the_coordinator_told(desk):
    raw = _raw(desk.lead, from_value="=?utf-8?q?a?= " * 70_000 + f"<{desk.lead}>")
    started = time.monotonic()
    assert desk.handle(raw) == "quarantined"
    assert time.monotonic() - started < 10
    row = desk.last_message()
    assert row["kind"] == "refused" and "too long" in row["reason"]
    assert desk.outgoing("coordinator-alert", to=desk.coordinator)
    assert not desk.kinds_to(desk.lead)


def test_a_part_header_with_thousands_of_parameters_is_read_in_seconds(desk):
    params = b"; ".join(b"filename*%d*=utf-8''a%%41" % i for i in range(20_000))
    raw = _raw(desk.lead, extra=b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n",
               body=b"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
                    + params + b"\r\n\r\nxx\r\n--b--\r\n")
    started = time.monotonic()
    assert desk.handle(raw) == "quarantined"
    assert time.monotonic() - started < 10
    assert desk.kinds_to(desk.lead)  # answered plainly


def test_parts_nested_thousands_deep_still_know_their_sender_who_is_answered(desk):
    """The parser gives up (RecursionError): the email used to lose its From line with it, and was
    refused as having no sender, the member never told."""
    nested = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1)
                      for i in range(3000))
    raw = _raw(desk.lead, extra=b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0\r\n",
               body=nested)
    assert desk.handle(raw) == "quarantined"
    row = desk.last_message()
    assert row["sender"] == desk.lead and row["reason"] == "unreadable"
    (reply,) = desk.outgoing("form-problem", to=desk.lead)
    assert "could not be read" in text_of(reply)
    assert desk.outgoing("coordinator-alert", to=desk.coordinator)


def test_one_notice_delivered_twice_re_encoded_on_the_way_is_sent_once(desk):
    """The same email (Message-ID, sender, date, text) delivered twice, once as 7bit and once as base64
    (a server on one of the ways re-encoded it): its bytes differ, so it was taken for another email under
    the same Message-ID and every member got the meeting notice twice."""
    import base64

    desk.referral(desk.lead)
    body = ("Case: CN1\r\nDate: 14/12/2026\r\nTime: 10:30\r\nVenue: Marsden Vale Family Centre, Room 2\r\n"
            f"Organiser: Priya Lal, 01 555 0101, {desk.lead}\r\n")
    head = (f"From: {desk.lead}\r\nTo: {desk.net.mailbox}\r\nSubject: Meeting notice\r\n"
            "Message-ID: <notice-1@agency.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n")
    seven = (head + "Content-Transfer-Encoding: 7bit\r\n\r\n" + body).encode()
    b64 = (head + "Content-Transfer-Encoding: base64\r\n\r\n").encode() + base64.encodebytes(body.encode())
    assert desk.handle(seven, uid=2) == "processed"
    sent = len(desk.outgoing("meeting-notice"))
    assert sent and len(desk.store.meeting_notices()) == 1
    assert desk.handle(b64, uid=3) == "processed"
    assert len(desk.outgoing("meeting-notice")) == sent
    assert len(desk.store.meeting_notices()) == 1
    # another email under the same Message-ID (it says something else) is still handled as new
    other = seven.replace(b"Time: 10:30", b"Time: 14:00")
    assert desk.handle(other, uid=4) == "processed"
    assert len(desk.store.meeting_notices()) == 2
