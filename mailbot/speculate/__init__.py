"""Work done ahead, in a helper process, while a backlog drains.

Intake is one message at a time, in UID order, on one thread: that order is
what gives every referral its number, and Python runs one thread at a time.
When the watcher fetches a run of messages, the pure, costly part of their
intake is done in ONE helper process, on the next CPU, a few messages ahead:
reading each email, opening and reading each referral form, coding it with
the code it is expected to get (the next free number, one per referral form,
in order) and reading the coded document as the leak gate will.

The helper only computes: it writes nothing, sends nothing and sees no
database. Intake takes an answer (:meth:`Ahead.email`, :meth:`Ahead.referral`,
:meth:`Ahead.coded`) only for the very same input: the same message bytes;
the same form bytes; for a coded document, also the same young people,
family, codes and extra fields intake itself worked out. Otherwise (a
duplicate referral shifted the numbers, the helper is still starting, failed
or died) intake does the work itself, as it does for a single message. The
coded document is checked by the same verifier in the helper, and by the
leak gate when its message is queued, whichever process coded it; the gate's
reading of it made in the helper (:func:`mailbot.gate.analyse_file_ahead`) is
keyed on the document's bytes and holds no name.

The helper starts only for a run of several messages and stops at the end of
each pass, so an idle mailbot is one process. It ends with mailbot however
mailbot ends, SIGKILL included (:func:`~mailbot.speculate.helper.die_with_parent`).

Its parts: :mod:`~mailbot.speculate.work` (what the helper computes, pure),
:mod:`~mailbot.speculate.helper` (the helper process, used like a one-worker
process pool) and :mod:`~mailbot.speculate.ahead` (the :class:`Ahead` service
the Context holds as ``ctx.ahead``).
"""

from __future__ import annotations

from mailbot.speculate.ahead import Ahead
from mailbot.speculate.helper import HelperFailed, HelperProcess
from mailbot.speculate.work import FormAhead, HelperState, work_ahead

__all__ = ["Ahead", "FormAhead", "HelperFailed", "HelperProcess", "HelperState", "work_ahead"]
