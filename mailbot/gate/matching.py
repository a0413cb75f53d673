"""The Gate: does a text, or a whole outgoing message, name a protected person? Where (never what).

Matching rules (the redaction engine's, kept here on purpose so that a change there cannot weaken
this gate): NFKD with accents stripped (Seán = Sean), casefold, the apostrophes ’ ‘ ` ´ ʼ folded to
', whole words only. First names that are ordinary English words (Will, Rose, Grace, Mark...)
match only when written Capitalised or in CAPITALS. Tokens shorter than three letters are never
checked alone, only within the full name.

Speed: a text is normalised and tokenised once (:mod:`mailbot.gate.prepared`) and its tokens are
intersected with a set of protected words; per-name regexes only run for the rare candidates
(ordinary words, multi-word names)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from mailbot.gate.memory import GateMemory
from mailbot.gate.mime import analyse_message
from mailbot.gate.prepared import WORD_END, WORD_START, NeedText, Prepared, prepare

log = logging.getLogger("mailbot.gate")


@dataclass
class Gate:
    singles: frozenset[str]
    ordinary: frozenset[str]
    sequences: tuple[tuple[str, ...], ...]
    _seq_re: dict = field(default_factory=dict, repr=False)
    _ord_re: dict = field(default_factory=dict, repr=False)
    #: what the gate has read before (shared by the gates of one Context, so a message checked
    #: when it was queued is not read again before SMTP, even if names were added in between)
    memory: GateMemory = field(default_factory=GateMemory, repr=False, compare=False)

    #: full names and addresses of network people (member staff, coordinator) that are
    #: not protected: their exact occurrences are masked before a hit is confirmed
    allowed: re.Pattern | None = None

    # -- matching ------------------------------------------------------
    def text_has_name(self, text: str) -> bool:
        """True when the text contains a protected name (by the rules in the module doc)."""
        if not text:
            return False
        return self.prepared_has_name(prepare(text, keep=True))

    def prepared_has_name(self, prep: Prepared) -> bool:
        """As text_has_name; raises NeedText when the answer needs a long text that was not kept."""
        if not self._hit(prep):
            return False
        if self.allowed is None:
            return True
        if prep.norm is None:
            raise NeedText
        return self._hit(prepare(self.allowed.sub(" ", prep.norm), keep=True))

    def _hit(self, prep: Prepared) -> bool:
        toks = prep.toks
        if not toks:
            return False
        if not self.singles.isdisjoint(toks):
            return True
        words = self.ordinary.intersection(toks)
        if words:
            norm = prep.norm
            for word in words:
                rx = self._ord_re.get(word)
                if rx is None:
                    rx = self._ord_re[word] = re.compile(WORD_START + re.escape(word) + WORD_END, re.IGNORECASE)
                if norm is not None:
                    if any(m.group()[0].isupper() for m in rx.finditer(norm)):
                        return True
                    continue
                # a match is a whole word written with a capital: one of the capitalised words
                if not word.isascii():
                    raise NeedText
                if word in prep.caps or any(rx.fullmatch(w) for w in prep.odd):
                    return True
        if not self.sequences:
            return False
        folded = None
        tokset = set(toks)
        for seq in self.sequences:
            if tokset.issuperset(seq):
                if prep.norm is None:
                    raise NeedText
                if folded is None:
                    folded = prep.norm.casefold()
                rx = self._seq_re.get(seq)
                if rx is None:
                    rx = self._seq_re[seq] = re.compile(WORD_START + r"[\W_]+".join(map(re.escape, seq)) + WORD_END)
                if rx.search(folded):
                    return True
        return False

    # -- the message ---------------------------------------------------
    def check_message(self, raw: bytes, *, encrypted_master_list_ok: bool = True) -> str | None:
        """None when the message is clean; else one plain line saying where (never what).

        What a message says is read once (:func:`analyse_message`, cached on its bytes apart
        from To and Message-ID, which differ in each recipient's copy) and matched against
        this gate's names: the copies of one mailing, and a message checked when it was
        queued and again before SMTP, are read once even if names were added in between."""
        try:
            raw = bytes(raw)
            try:
                return self._verdict(analyse_message(raw, encrypted_master_list_ok, memory=self.memory))
            except NeedText:
                return self._verdict(analyse_message(raw, encrypted_master_list_ok, keep_text=True,
                                                             memory=self.memory))
        except Exception as exc:  # noqa: BLE001 - fail closed on anything unexpected
            log.warning("gate error %s", type(exc).__name__)
            return f"the message cannot be checked (unexpected {type(exc).__name__})"

    def _verdict(self, items) -> str | None:
        for kind, label, prep in items:
            if kind == "refuse":
                return "the " + self.render_label(label)
            if self.prepared_has_name(prep):
                return "a protected name appears in the " + self.render_label(label)
        return None

    def render_label(self, label: tuple) -> str:
        """A label's file and part names are shown only when they hold no protected name."""
        return "".join(seg if isinstance(seg, str) else self.safe_label(*seg) for seg in label)

    def safe_label(self, name: str, fallback: str) -> str:
        if not name or self.text_has_name(name):
            return fallback
        return " ".join(name.split())[:120]

    def check_text(self, text: str, where: str) -> str | None:
        return f"a protected name appears in the {where}" if self.text_has_name(text) else None
