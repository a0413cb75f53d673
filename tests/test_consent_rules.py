"""The consent rules (rules/consent.toml, mailbot.casework.consent) on real .docx forms in other wordings,
the CONSENT commands, and the sensitive flag of the configuration. Fictional names only."""

from __future__ import annotations

import io
import shutil

import pytest
from docx import Document
from hypothesis import given, settings, strategies as st

from mailbot.casework import consent as K
from mailbot.casework.commands import CommandError, parse_command_line
from mailbot.documents.referral import read_referral
from mailbot.paths import shipped

RULES = K.load_consent_rules(shipped("rules"))


def form(paras=(), rows=()) -> bytes:
    doc = Document()
    doc.add_paragraph("Network Referral Form")
    doc.add_paragraph("Section A – About the young person")
    t = doc.add_table(rows=0, cols=2)
    for label, value in (("Name of young person", "Oisín Mac Giolla"), ("Date of birth", "04/07/2012")):
        cells = t.add_row().cells
        cells[0].text, cells[1].text = label, value
    doc.add_paragraph("Section C – Referrer")
    r = doc.add_table(rows=0, cols=2)
    for label, value in (("Referring agency", "Harbourside Youth Project"), ("Referrer name", "Ines Varga"),
                         ("Email", "ines.varga@harbourside.example.org")):
        cells = r.add_row().cells
        cells[0].text, cells[1].text = label, value
    doc.add_paragraph("Section F – Consent and Social Work")
    for p in paras:
        doc.add_paragraph(p)
    if rows:
        c = doc.add_table(rows=0, cols=2)
        for label, value in rows:
            cells = c.add_row().cells
            cells[0].text, cells[1].text = label, value
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def reading(**kw):
    return read_referral(form(**kw))[1]


@pytest.mark.parametrize("kw,held", [
    (dict(paras=["Parent/guardian consent obtained? No"]), [("parental_consent", "refused")]),
    (dict(paras=["Consent: not sought — young person is 17"]), [("parental_consent", "refused")]),
    (dict(rows=[("Has parental consent been obtained?", "☐ Yes ☒ No")]), [("parental_consent", "refused")]),
    (dict(rows=[("Parental consent sought", "Not asked")]), [("parental_consent", "refused")]),
    (dict(rows=[("Parental consent", "Refused by the family")]), [("parental_consent", "refused")]),
    (dict(rows=[("Has parental consent been obtained?", "☒ Yes ☐ No")]), []),
    (dict(paras=["Has consent been obtained from parent/carer? Yes, mother agreed"]), []),
    (dict(rows=[("Parental consent", "Not known")]), []),        # unclear: shared (rules/consent.toml)
    (dict(rows=[("Young person informed", "Yes")]), []),          # the form does not ask: absent, shared
])
def test_which_forms_wait_for_a_consent_decision(kw, held):
    assert K.hold_reasons(reading(**kw), RULES) == held


def test_a_network_can_hold_unclear_and_absent_answers_too(tmp_path):
    rules_dir = tmp_path / "rules"
    shutil.copytree(shipped("rules"), rules_dir)
    path = rules_dir / "consent.toml"
    text = path.read_text().replace('unclear = "distribute"', 'unclear = "hold"').replace(
        'absent = "distribute"', 'absent = "hold"')
    path.write_text(text)
    rules = K.load_consent_rules(rules_dir)
    assert K.hold_reasons(reading(rows=[("Parental consent", "Not known")]), rules) == [("parental_consent", "unclear")]
    assert K.hold_reasons(reading(rows=[("Young person informed", "Yes")]), rules) == [("parental_consent", "absent")]
    path.write_text(text.replace('absent = "hold"', 'absent = "maybe"'))
    with pytest.raises(Exception, match="hold"):
        K.load_consent_rules(rules_dir)


def test_consent_to_share_with_sensitive_services_is_read_from_the_form():
    yes = reading(rows=[("Has parental consent been obtained?", "☒ Yes ☐ No"),
                        ("Consent to share with sensitive services", "☒ Yes ☐ No")])
    no = reading(rows=[("Has parental consent been obtained?", "☒ Yes ☐ No"),
                       ("Consent to share with sensitive services", "☐ Yes ☒ No")])
    assert K.sensitive_consent_recorded(yes, RULES) is True
    assert K.sensitive_consent_recorded(no, RULES) is False
    assert K.sensitive_consent_recorded(reading(rows=[("Parental consent", "Yes")]), RULES) is False


def test_the_description_never_quotes_the_form():
    data = reading(rows=[("Parental consent", "No: Mrs Mac Giolla refused")])
    reasons = K.hold_reasons(data, RULES)
    assert reasons == [("parental_consent", "refused")]
    assert "Giolla" not in K.describe(reasons) and "parental consent" in K.describe(reasons)


filler = st.text(alphabet=st.sampled_from(list("abcdefghij ,.;-")), max_size=30)


@settings(max_examples=200, deadline=None)
@given(before=filler, phrase=st.sampled_from(list(RULES.refused)), after=filler,
       upper=st.booleans())
def test_a_refusal_anywhere_in_the_answer_holds(before, phrase, after, upper):
    words = f"{before} {phrase}. {after}"
    words = words.upper() if upper else words
    assert K.classify({"answer": words, "value": None}, RULES) == "refused"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80), st.sampled_from([True, False, None]))
def test_any_answer_gets_one_meaning(text, value):
    assert K.classify({"answer": text, "value": value}, RULES) in {"consent", "refused", "unclear", "unanswered"}


def test_consent_commands_parse():
    got = parse_command_line("consent cn-78 override Risk of harm, Garda agrees")
    assert isinstance(got, K.ConsentOverride) and got.code == "CN78" and got.reason == "Risk of harm, Garda agrees"
    assert parse_command_line("CONSENT CN58A WITHDRAW") == K.ConsentWithdraw("CN58A", line="CONSENT CN58A WITHDRAW")
    for bad in ("CONSENT CN78 OVERRIDE", "CONSENT CN78", "CONSENT OVERRIDE CN78 x", "CONSENT CN78 WITHDRAW now"):
        assert isinstance(parse_command_line(bad), CommandError), bad


def test_consent_decisions_always_wait_for_confirmation():
    from types import SimpleNamespace

    import mailbot.handlers  # noqa: F401  (registers the commands)
    from mailbot.context import Context
    from mailbot.handlers.commands import needs_confirmation

    ctx = Context(cfg=SimpleNamespace(rules_dir=shipped("rules")), store=None, templates=None, rules={})
    assert needs_confirmation(ctx, K.ConsentOverride("CN78", "why"))
    assert needs_confirmation(ctx, K.ConsentWithdraw("CN78"))


def test_the_sensitive_flag_is_a_boolean(tmp_path):
    from mailbot.config import parse_config
    from mailbot.errors import ConfigError
    from mailbot.sandbox.network import TestNetwork

    class _Server:  # only what TestNetwork's config needs; no mail is sent here
        host, imap_port, smtp_port, authserv_id = "127.0.0.1", 1, 2, "mx.test"

        def add_user(self, a):
            return a

        def password(self, a):
            return "secret-secret"

    net = TestNetwork(_Server(), tmp_path)
    raw = net.raw_config
    raw["members"][1]["sensitive"] = True
    cfg = parse_config(raw, base=tmp_path)
    assert [m.agency for m in cfg.members if m.sensitive] == [raw["members"][1]["agency"]]
    raw["members"][1]["sensitive"] = "yes"
    with pytest.raises(ConfigError, match="sensitive must be true or false"):
        parse_config(raw, base=tmp_path)
