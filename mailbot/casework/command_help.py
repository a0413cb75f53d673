"""Every coordinator command in one table: its syntax, one line of what it does, and an example.

The one source of the HELP reply, of ``mailbot command --help`` and of the keywords named when a
line is not understood. A new command gets its row here (tests/test_control_commands.py checks
that every registered command has one, and that each example reads as its command).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HelpRow", "HELP_TABLE", "help_text", "keywords"]


@dataclass(frozen=True)
class HelpRow:
    syntax: str
    description: str
    example: str  # a line that parses as this command


HELP_TABLE: tuple[HelpRow, ...] = (
    HelpRow("SW CN78 NOT-KNOWN", "Social Work does not know the young person", "SW CN78 NOT-KNOWN"),
    HelpRow("SW CN78 KNOWN CLOSED", "known to Social Work, its case closed", "SW CN78 KNOWN CLOSED"),
    HelpRow("SW CN78 KNOWN OPEN UNALLOCATED", "known, open, no social worker allocated",
            "SW CN78 KNOWN OPEN UNALLOCATED"),
    HelpRow('SW CN78 KNOWN OPEN WORKER "Aoife Test" 087 123 4567 aoife.test@hse.example',
            "known, open, a worker allocated: the lead agency gets the worker's details",
            'SW CN78 KNOWN OPEN WORKER "Aoife Test" 087 123 4567 aoife.test@hse.example'),
    HelpRow("EXIT CN78 [reason]", "exit: the case leaves the Master List (the reason is recorded)",
            "EXIT CN78 no longer a concern"),
    HelpRow("HANDOVER CN78 TO <agency name or member email>", "the lead agency changes",
            "HANDOVER CN78 TO lead@agency.example"),
    HelpRow("DETAINED CN78", "the young person is in detention", "DETAINED CN78"),
    HelpRow("RELEASED CN78", "released from detention: the lead agency is asked to call a meeting",
            "RELEASED CN78"),
    HelpRow("MEMBER ADD <agency> <email> [SOCIAL-WORK] [NO-SUBMIT]",
            "add a member contact (SOCIAL-WORK: the Social Work member; NO-SUBMIT: may not refer)",
            "MEMBER ADD Riverside Family Support new@riverside.example"),
    HelpRow("MEMBER REMOVE <email>", "remove a member contact", "MEMBER REMOVE old@agency.example"),
    HelpRow("MEMBER CHANGE <old email> <new email>", "a member's address changed",
            "MEMBER CHANGE old@agency.example new@agency.example"),
    HelpRow("RESEND MASTER LIST", "send the current Master List to all members", "RESEND MASTER LIST"),
    HelpRow("STATUS", "open cases, mail waiting to be sent, what is held, the last error, the last "
            "contact with the mail servers, the next digest and reminder", "STATUS"),
    HelpRow("CASE CN78", "one case's standing: lead agency, Social Work, meetings, minutes, reminders",
            "CASE CN78"),
    HelpRow("LIST OPEN", "the open cases, one line each", "LIST OPEN"),
    HelpRow("MEMBERS", "the member agencies, their addresses and flags", "MEMBERS"),
    HelpRow("HELD", "what waits for you, with ids: H3 referral form, O7 outgoing email, Q5 incoming "
            "email", "HELD"),
    HelpRow("STRIP H3 <word> [<word>]", "remove these words too, then send the held referral",
            "STRIP H3 Word"),
    HelpRow("RELEASE H3 <reason>", "send the held referral as it is (the reason is recorded)",
            "RELEASE H3 checked by phone"),
    HelpRow("RELEASE O7 <reason>", "send a held outgoing email as it is (the reason is recorded; it is "
            "checked again when sent)", "RELEASE O7 checked by the coordinator"),
    HelpRow("DISCARD H3", "send nothing; the referrer is asked to send the form again", "DISCARD H3"),
    HelpRow("DISCARD O7", "a held outgoing email is never sent", "DISCARD O7"),
    HelpRow("DISCARD Q5", "a quarantined email is no longer listed (it stays in the Quarantine folder)",
            "DISCARD Q5"),
    HelpRow("REPROCESS Q5", "handle a quarantined email again (after MEMBER ADD for its sender, say)",
            "REPROCESS Q5"),
    HelpRow("CONSENT CN78 OVERRIDE <reason>", "share a referral held for want of parental consent (the reason "
            "is recorded)", "CONSENT CN78 OVERRIDE parent agreed by phone on 12/01"),
    HelpRow("CONSENT CN78 WITHDRAW", "close a referral held for want of consent; nothing about it is shared",
            "CONSENT CN78 WITHDRAW"),
    HelpRow("HELP", "this list", "HELP"),
)

_HEAD = "Commands (one per line; not case-sensitive; use the case code, never a name):"
_FOOT = ("STATUS, CASE, LIST OPEN, MEMBERS, HELD and HELP are answered at once. Commands that change who "
         "receives case material, a case's standing or what is held wait for your confirmation: you get "
         "an email with a one-time code; reply to it (or send CONFIRM <code>).")


def help_text(width: int = 34) -> str:
    """The list of commands as the HELP reply and ``mailbot command --help`` show it."""
    lines = [_HEAD]
    for row in HELP_TABLE:
        if len(row.syntax) <= width:
            lines.append(f"  {row.syntax.ljust(width)}  {row.description}")
        else:
            lines.append(f"  {row.syntax}")
            lines.append(f"  {'':{width}}  {row.description}")
    lines.append(_FOOT)
    return "\n".join(lines)


def keywords() -> list[str]:
    """The first word of every command, in table order."""
    return list(dict.fromkeys(row.syntax.split()[0] for row in HELP_TABLE))
