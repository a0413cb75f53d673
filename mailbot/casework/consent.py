"""Consent on the Referral Form: which answers hold a referral for the coordinator's decision, whether
consent to share with sensitive services is recorded, and the CONSENT commands. Pure (rules/consent.toml).

The form's consent questions reach here as the reader left them (``Referral.consent_answers``:
``{field: {"answer": the words, "value": True/False/None}}``; a question the form does not ask is
absent). :func:`classify` says what one answer means: ``consent``, ``refused`` (an answer of
[hold] answers: "No", "not sought", "not asked"...), ``unclear`` ("not known"), ``unanswered``, or
``absent``. :func:`hold_reasons` lists the questions whose answer holds the referral.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from mailbot.documents.referral.result import Referral
from mailbot.errors import ConfigError

_TICKS = "☒☑✓✔✗✘■●⊠"
_BOXES = "☐□○❏"
ACTIONS = ("hold", "distribute")
UNSPECIFIED = "an unspecified service"


@dataclass(frozen=True)
class ConsentRules:
    fields: tuple[str, ...] = ("parental_consent",)
    refused: tuple[str, ...] = ("no", "not sought", "not asked", "not obtained")
    consent: tuple[str, ...] = ("yes", "obtained", "given")
    unanswered: str = "hold"
    unclear: str = "hold"
    absent: str = "distribute"
    sensitive_fields: tuple[str, ...] = ("sensitive_consent",)
    sensitive_label: str = UNSPECIFIED

    def action(self, meaning: str) -> str:
        if meaning == "consent":
            return "distribute"
        if meaning == "refused":
            return "hold"
        return {"unanswered": self.unanswered, "unclear": self.unclear, "absent": self.absent}[meaning]


def load_consent_rules(rules_dir) -> ConsentRules:
    """The network's rules/consent.toml (the defaults when it has none). The daemon keeps it in its
    Context (``ctx.rules_file(load_consent_rules, watch="consent.toml")``: read again when it changes)."""
    path = Path(rules_dir) / "consent.toml"
    if not path.exists():
        rules = ConsentRules()
    else:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read the consent rules {path}: {exc}") from exc
        hold = data.get("hold", {})
        sens = data.get("sensitive", {})

        def words(sec, name, default):
            got = sec.get(name, default)
            if not isinstance(got, list) or not all(isinstance(w, str) for w in got):
                raise ConfigError(f"{path}: {name} must be a list of words.")
            return tuple(w for w in (_norm(x) for x in got) if w)

        def action(name, default):
            got = hold.get(name, default)
            if got not in ACTIONS:
                raise ConfigError(f"{path}: [hold] {name} must be \"hold\" or \"distribute\".")
            return got

        label = sens.get("label", UNSPECIFIED)
        if not isinstance(label, str) or not label.strip():
            raise ConfigError(f"{path}: [sensitive] label must be a text.")
        rules = ConsentRules(
            fields=tuple(hold.get("fields", ["parental_consent"])),
            refused=words(hold, "answers", ["no"]),
            consent=words(hold, "consent", ["yes"]),
            unanswered=action("unanswered", "hold"), unclear=action("unclear", "hold"),
            absent=action("absent", "distribute"),
            sensitive_fields=tuple(sens.get("fields", ["sensitive_consent"])),
            sensitive_label=label.strip(),
        )
    return rules


def _norm(text: str) -> str:
    s = unicodedata.normalize("NFKD", str(text or "")).lower()
    s = "".join(ch for ch in s if not unicodedata.combining(ch))
    s = re.sub(r"[’'`]", "", s)
    return " ".join(re.findall(r"[a-z0-9]+", s))


def _has(phrase: str, text: str) -> bool:
    return f" {phrase} " in f" {text} "


def classify(answer: dict | None, rules: ConsentRules) -> str:
    """What one consent question's answer means: consent, refused, unclear, unanswered or absent."""
    if answer is None:
        return "absent"
    words = str(answer.get("answer") or "")
    value = answer.get("value")
    if any(ch in words for ch in _TICKS + _BOXES) or not words.strip():
        # a tick box (or a checked control): the reader's reading of which box is ticked
        if value is True:
            return "consent"
        if value is False:
            return "refused"
        return "unanswered" if not any(ch in words for ch in _TICKS) else "unclear"
    text = _norm(words)
    if not text:
        return "unanswered"
    if any(_has(p, text) for p in rules.refused):
        return "refused"
    if any(_has(p, text) for p in rules.consent):
        return "consent"
    return "unclear"


def answers_of(referral: Referral) -> dict:
    """The consent answers of a reading; an older reading without them (a hold sealed before they were
    read) is taken from its yes/no values (a question then counts as asked only when it was answered)."""
    if referral.consent_answers:
        return referral.consent_answers
    out = {}
    for key in ("parental_consent", "young_person_informed", "sensitive_consent"):
        value = getattr(referral, key)
        if value is not None:
            out[key] = {"answer": "yes" if value else "no", "value": value}
    return out


def hold_reasons(referral: Referral, rules: ConsentRules) -> list[tuple[str, str]]:
    """[(field, meaning)] of the questions that hold this referral for a consent decision; [] = none."""
    answers = answers_of(referral)
    out = []
    for field in rules.fields:
        meaning = classify(answers.get(field), rules)
        if rules.action(meaning) == "hold":
            out.append((field, meaning))
    return out


def sensitive_consent_recorded(referral: Referral, rules: ConsentRules) -> bool:
    """Consent to share with sensitive services: one of [sensitive] fields answered with consent."""
    answers = answers_of(referral)
    return any(classify(answers.get(f), rules) == "consent" for f in rules.sensitive_fields)


_FIELD_WORDS = {"parental_consent": "parental consent", "young_person_informed": "young person informed",
                "sensitive_consent": "consent to share with sensitive services"}
_MEANING_WORDS = {"refused": "not obtained or not sought", "unclear": "answer unclear",
                  "unanswered": "not answered", "absent": "not asked on the form"}


def describe(reasons: list[tuple[str, str]]) -> str:
    """'parental consent: not obtained or not sought' (never the form's own words: they may hold a name)."""
    return "; ".join(f"{_FIELD_WORDS.get(f, f.replace('_', ' '))}: {_MEANING_WORDS.get(m, m)}"
                     for f, m in reasons)


# -- the commands ------------------------------------------------------------------

@dataclass(frozen=True)
class ConsentOverride:
    """CONSENT CN78 OVERRIDE <reason>: share the referral all the same (the reason is recorded)."""
    code: str
    reason: str
    line: str = ""


@dataclass(frozen=True)
class ConsentWithdraw:
    """CONSENT CN78 WITHDRAW: close the case; nothing about it is shared."""
    code: str
    line: str = ""


