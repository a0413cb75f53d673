"""`mailbot check-config`, the sender-authentication part: is any Authentication-Results trusted,
and which authserv-id does the provider write (read from the newest email in the inbox)?

Only server names and results (spf=pass ...) are printed: never a subject, an address or a body.
"""

from __future__ import annotations

import ssl

HOW_TO_FIND = (
    "How to find it: in the coordinator mailbox's webmail or mail program, open a recent email from a "
    "member and show its original source or all of its headers (\"Show original\", \"View message "
    "source\", \"View source\"). The topmost line that starts with \"Authentication-Results:\" was written "
    "by your provider's receiving server: the word right after the colon, before the first \";\", is its "
    "authserv-id (for example mx.example.net). Put it in [security] trusted_authserv_ids = [\"...\"].")


def advice(cfg) -> tuple[bool, list[str]]:
    """(ok, plain lines) about the [security] settings alone."""
    lines: list[str] = []
    if not cfg.check_authentication_results:
        lines.append("security: PROBLEM - check_authentication_results = false: no Authentication-Results "
                     "header is read, so anyone can send an email that looks like it comes from a member or "
                     "the coordinator, and mailbot will act on it.")
        return False, lines
    if not cfg.trusted_authserv_ids:
        consequence = ("with require_authentication_pass = true, every email will be refused until you add one"
                       if cfg.require_authentication_pass else
                       "so any email that looks like it comes from a member or the coordinator is believed, "
                       "even a forged one")
        lines.append("security: PROBLEM - no trusted authserv-id is configured ([security] "
                     "trusted_authserv_ids is empty), so no Authentication-Results header is trusted: "
                     f"{consequence}.")
        lines.append("  " + HOW_TO_FIND)
        return False, lines
    ids = ", ".join(cfg.trusted_authserv_ids)
    if cfg.require_authentication_pass:
        lines.append(f"security: ok (Authentication-Results trusted only from {ids}; mail without an aligned "
                     "SPF, DKIM or DMARC pass is refused)")
        return True, lines
    lines.append(f"security: WARNING - Authentication-Results trusted from {ids}, but require_authentication_pass "
                 "= false: an email with no passing result at all (a forged one, from a domain that publishes "
                 "no SPF, DKIM or DMARC) is still believed.")
    return True, lines


def newest_authentication_results(cfg):
    """The Authentication-Results of the newest email in the watched folder (read-only), or None if empty."""
    from imapclient import IMAPClient, SocketTimeout

    from mailbot.mail.auth_results import authentication_results

    c = cfg.imap
    ctx = ssl.create_default_context() if c.tls != "none" else None
    client = IMAPClient(c.host, c.port, ssl=(c.tls == "ssl"), ssl_context=ctx,
                        timeout=SocketTimeout(connect=15, read=30))
    try:
        if c.tls == "starttls":
            client.starttls(ctx)
        client.login(c.username, c.password)
        client.select_folder(cfg.imap_folder, readonly=True)
        uids = client.search(["ALL"])
        if not uids:
            return None
        newest = max(uids)
        data = client.fetch([newest], ["BODY.PEEK[HEADER]"]).get(newest, {})
        header = data.get(b"BODY[HEADER]") or b""
        return authentication_results(bytes(header))
    finally:
        try:
            client.logout()
        except Exception:  # noqa: BLE001
            pass


def proposal(cfg, results) -> list[str]:
    """Plain lines about what the newest email's topmost Authentication-Results say."""
    if results is None:
        return [f"  The folder {cfg.imap_folder} is empty, so no Authentication-Results could be read; "
                "run check-config again once an email from a member has arrived."]
    top = [r for r in results if r.top]
    if not top:
        return [f"  The newest email in {cfg.imap_folder} has no Authentication-Results header: the provider may "
                "not check senders. Ask it, or use a provider that adds Authentication-Results (RFC 8601)."]
    ids = sorted({r.authserv_id for r in top})
    found = "; ".join(f"{r.method}={r.result}" for r in top)
    if any("=" in i or not i for i in ids):
        return ["  The newest email's topmost Authentication-Results header has no authserv-id (found: "
                f"{found}); mailbot cannot tell such a header from one a sender wrote. Ask the provider."]
    trusted = set(cfg.trusted_authserv_ids)
    names = ", ".join(f'"{i}"' for i in ids)
    if trusted & set(ids):
        return [f"  The newest email in {cfg.imap_folder} has Authentication-Results from {names} ({found}): "
                "trusted."]
    return [f"  The newest email in {cfg.imap_folder} has Authentication-Results written by {names} ({found}). "
            f"If that is your provider's receiving server, set in [security]: trusted_authserv_ids = [{names}]"]
