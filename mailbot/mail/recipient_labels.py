"""Who an outgoing email goes to, as a log line may say it: by agency, never by address.

A referrer's reply may go to an address that holds a person's name, so addresses never reach a log:
:func:`recipient_agencies` names member agencies (or "the coordinator", "another address"), and
:func:`no_addresses` takes the recipients' addresses out of a server's error text.
"""

from __future__ import annotations


def recipient_agencies(cfg, addresses: list[str], *, most: int = 4) -> str:
    """Who a message goes to, for a log line: member agencies, 'the coordinator', else 'another address'
    (a referrer's reply may go to an address that holds a person's name: never written)."""
    labels: list[str] = []
    coordinators = set(getattr(cfg, "coordinators", ()))
    for a in addresses:
        a = a.strip().lower()
        member = cfg.member_for(a)
        label = (member.agency if member is not None else "the coordinator" if a in coordinators
                 else "the mailbox" if a == cfg.mailbox_address else "another address")
        if label not in labels:
            labels.append(label)
    if len(labels) > most:
        return ", ".join(labels[:most - 1]) + f" and {len(labels) - most + 1} more"
    return ", ".join(labels)


def no_addresses(text: str, addresses: list[str]) -> str:
    """An SMTP error text without the recipients' addresses (they may hold a person's name)."""
    for a in sorted(addresses, key=len, reverse=True):
        text = text.replace(a, "<recipient>")
    return text

