"""The Coded Referral of a sensitive service without consent (mailbot.casework.sensitive): the other
members' copy is coded once more, with the service's name, the referrer's name, phone and addresses
replaced by "an unspecified service" (stripped and verified like a name); the service itself and the
coordinator get the copy as it is."""

from __future__ import annotations

from mailbot.casework.sensitive import mask_values, views
from mailbot.documents.referral import Referral


def coded_referral_views(ctx, to, values, coded: bytes, *, agency, from_address, referral: Referral, codes):
    """[(recipients, template values, coded bytes)]: the masked copy first (a later copy to Social Work is
    taken from the first one sent)."""
    from mailbot.casework.consent import load_consent_rules, sensitive_consent_recorded

    rules = ctx.rules_file(load_consent_rules, watch="consent.toml")
    out = []
    for view_to, hide in views(ctx.cfg.members, ctx.cfg.coordinators, agency,
                               sensitive_consent_recorded(referral, rules), to):
        if hide is None:
            out.append((view_to, values, coded))
            continue
        ref = referral.referrer
        extra = [w for w in (ref.name, ref.email, ref.phone, from_address, referral.referring_agency, agency,
                             *hide.contacts) if w and len(w.strip()) > 2]
        out.append((view_to, mask_values(values, hide, label=rules.sensitive_label, extra=extra),
                    recode(ctx, coded, extra, rules.sensitive_label, referral.young_people,
                           referral.protected_family(), codes)))
    return out


def recode(ctx, coded: bytes, words, label, children, family, codes) -> bytes:
    from mailbot.documents.coding import code_document
    from mailbot.documents.package import open_package

    pkg = open_package(coded, max_file_bytes=ctx.cfg.max_email_bytes)
    extra = [(w.strip(), label) for w in sorted(set(words), key=len, reverse=True)]
    return code_document(pkg, children, family, codes, extra=extra, surfaces=ctx.surfaces)
