"""The last gate on the way out: no outgoing message may carry a young person's name.

:func:`build_gate` turns the protected people (young people of every open case, with their
nicknames, other surnames and family) into a :class:`Gate`; :meth:`Gate.check_message` reads a
whole outgoing message (raw bytes, as it will be sent) and returns ``None`` when it is clean, or a
one-line reason saying WHERE a name was found (never the name itself).

Fail closed: an attachment that cannot be read (PDF, picture, legacy .doc, unknown binary,
damaged zip, XML with a DTD) is refused as "cannot be checked". The only exception is the
encrypted Master List: an OLE compound file holding EncryptionInfo and EncryptedPackage streams,
named ``master-list*.xlsx``; its bytes are opaque and allowed (when ``encrypted_master_list_ok``).

Independent of mailbot.documents on purpose (it imports only mailbot.words), so that a change in
the redaction engine cannot weaken it. Its parts:

* :mod:`~mailbot.gate.prepared`: a text normalised and tokenised once;
* :mod:`~mailbot.gate.matching`: the Gate, matching prepared texts against protected words;
* :mod:`~mailbot.gate.people`: building a Gate from the protected people;
* :mod:`~mailbot.gate.mime`: reading a whole message (headers, bodies, attachments) into items;
* :mod:`~mailbot.gate.office`: reading Office files (zip) part by part;
* :mod:`~mailbot.gate.views`: every way bytes and markup can read;
* :mod:`~mailbot.gate.reader`: the items a reading yields, and the refusal;
* :mod:`~mailbot.gate.memory`: what has been read, kept for one running mailbot (owned by its Context).
"""

from __future__ import annotations

from mailbot.gate.matching import Gate
from mailbot.gate.memory import GateMemory
from mailbot.gate.mime import analyse_message
from mailbot.gate.office import analyse_file_ahead
from mailbot.gate.people import build_gate
from mailbot.gate.prepared import ORDINARY_WORDS, Prepared, fold, normalise, prepare
from mailbot.gate.views import markup_views, xml_views

__all__ = ["Gate", "GateMemory", "ORDINARY_WORDS", "Prepared", "analyse_file_ahead", "analyse_message",
           "build_gate", "fold", "markup_views", "normalise", "prepare", "xml_views"]
