"""Typed, plain-language failures.

Every error a sender or the coordinator may see is a :class:`MailbotError`
whose ``str()`` is one line saying what is wrong and what to do. Messages
never contain a young person's name: they describe, they do not quote.
"""


class MailbotError(Exception):
    """A failure with a one-line, plain-language explanation."""

    #: short machine-readable reason, used in records and the digest
    reason = "error"

    def __init__(self, message: str, *, reason: str | None = None):
        super().__init__(message)
        if reason:
            self.reason = reason


class BadDocument(MailbotError):
    """The attachment is not a Word document we can safely read."""

    reason = "bad-document"


class NotAReferral(MailbotError):
    """A readable Word document that is not a referral form (or lacks its key fields)."""

    reason = "not-a-referral"


class BadField(MailbotError):
    """A field holds a value that cannot be right (an impossible date of birth...)."""

    reason = "bad-field"


class LeakDetected(MailbotError):
    """A protected name is still present after redaction: nothing is written or sent."""

    reason = "leak-detected"


class HeldForReview(LeakDetected):
    """The recall check saw a word that looks like a name in the coded document: the referral is
    held for the coordinator. ``where`` says where (section and paragraph), never the word."""

    reason = "possible-name"

    def __init__(self, message: str, *, where: list[str] | None = None, reason: str | None = None):
        super().__init__(message, reason=reason)
        self.where = list(where or [])


class ConfigError(MailbotError):
    reason = "config"
