"""What the sandbox's receiving MX writes on mail from outside: its Authentication-Results (SPF, DMARC).

A real MX checks the sender and prepends its own Authentication-Results header, after removing any that
claims its authserv-id (RFC 8601 section 5). Here SPF passes when the sending server is authorised for
the envelope domain (the same organisational domain), and DMARC passes when that SPF pass aligns with
the From domain; no DKIM signatures are made.
"""

from __future__ import annotations

import email
import email.policy
import re


def from_address(raw: bytes) -> str:
    """The From addr-spec as DMARC reads it ("" when there is no single mailbox)."""
    from mailbot.mail.from_line import parse_from
    from mailbot.mail.reading import header_block

    msg = email.message_from_bytes(header_block(raw), policy=email.policy.compat32)
    addr, _display, _problem = parse_from([str(v) for k, v in msg.items() if k.lower() == "from"])
    return addr


def _org(domain: str) -> str:
    from mailbot.mail.senders import organisational_domain

    return organisational_domain(domain)


def spf_dmarc_results(envelope: str, from_address: str, sending_domain: str | None = None) -> str:
    """The result part of the MX's header: spf, dkim (none) and dmarc for this envelope and From."""
    env_domain = envelope.rpartition("@")[2].lower()
    from_domain = from_address.rpartition("@")[2].lower()
    sender = (sending_domain or env_domain).lower()
    spf = "pass" if env_domain and _org(sender) and _org(sender) == _org(env_domain) else "fail"
    parts = [f"spf={spf} smtp.mailfrom={envelope or 'unknown.invalid'}", "dkim=none (no signature)"]
    if not from_domain:
        parts.append("dmarc=permerror (no single From address)")
    else:
        aligned = spf == "pass" and _org(env_domain) == _org(from_domain)
        parts.append(f"dmarc={'pass' if aligned else 'fail (p=reject)'} header.from={from_domain}")
    return "; ".join(parts)


def stamp_authentication_results(raw: bytes, authserv_id: str, *, envelope: str, from_address: str,
                                 sending_domain: str | None = None, results: str | None = None,
                                 strip_claims: bool = True) -> bytes:
    """``raw`` as a receiving MX would store it: its own Authentication-Results on top, any header
    that claims its authserv-id removed. SPF passes when the sending server is authorised for the
    envelope domain; DMARC passes when that SPF pass aligns with the From domain."""
    if results is None:
        results = spf_dmarc_results(envelope, from_address, sending_domain)
    # drop any Authentication-Results the message arrived with that claims to be ours
    sep = raw.find(b"\r\n\r\n")
    nl = b"\r\n"
    if sep < 0:
        sep, nl = raw.find(b"\n\n"), b"\n"
    head, body = (raw[:sep], raw[sep:]) if sep >= 0 else (raw, b"")
    lines = head.split(nl)
    kept, skipping = [], False
    ours = re.compile(rb"(?i)^authentication-results\s*:\s*" + re.escape(authserv_id.encode()) + rb"\s*(;|$)")
    for line in lines:
        if line[:1] in (b" ", b"\t") and skipping:
            continue
        skipping = strip_claims and bool(ours.match(line))
        if not skipping:
            kept.append(line)
    header = f"Authentication-Results: {authserv_id}; {results}".encode() + nl
    return header + nl.join(kept) + body
