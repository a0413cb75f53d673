"""What every step of the pipeline shares: the Context a handler works through, and the Outcome it returns.

Below both the pipeline and the handlers (they import it; it imports neither). The contract of a
handler is one function: ``handler(ctx, email, verdict) -> Outcome``, where ``email`` is an
:class:`~mailbot.mail.reading.IncomingEmail`, ``verdict`` the sender's
:class:`~mailbot.mail.senders.Verdict`, and every effect goes through ``ctx`` (the store, the outbox),
inside the pipeline's transaction.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, TypeVar

from mailbot.casework.recipients import Rule, SocialWorkStatus, choose_recipients, load_rules
from mailbot.config import Config
from mailbot.documents.part_surface import SurfaceCache
from mailbot.errors import LeakDetected
from mailbot.gate import Gate, GateMemory, build_gate
from mailbot.mail.compose import Attachment, Templates, build_message, message_id
from mailbot.mail.senders import Directory, Member

if TYPE_CHECKING:
    from mailbot.documents.referral import Referral

log = logging.getLogger("mailbot.pipeline")
T = TypeVar("T")


class Kind(StrEnum):
    """What an incoming email is, as classify decides (the first rule of the chain that matches)."""

    AUTO = "auto"                  # auto-reply, bounce, our own mail: never answered
    REFUSED = "refused"            # a stranger, or failed sender authentication
    TOO_LARGE = "too-large"
    COMMAND = "command"            # from a coordinator
    DOCUMENT = "document"          # Word attachments from a member: referral or minutes
    NOTICE = "notice"              # a meeting notice in the body
    OTHER = "other"
    RATE_LIMITED = "rate-limited"  # a flood from one sender (mail.ratelimit)


class Disposition(StrEnum):
    """What became of an incoming email: the first four keep it in Processed, the last two move it to
    Quarantine for a person to look at."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REPLIED = "replied"
    IGNORED = "ignored"
    QUARANTINED = "quarantined"
    HELD = "held"


class DocumentKind(StrEnum):
    """What one Word attachment turned out to be (the kind of a document handler's Outcome)."""

    REFERRAL = "referral"
    MINUTES = "minutes"


PROCESSED = "processed"
QUARANTINED = "quarantined"


@dataclass
class Outcome:
    """What happened to one incoming message. Never holds a name.

    ``kind`` is a :class:`Kind`, or what a document turned out to be (a :class:`DocumentKind`; an
    email's documents together: "minutes+referral"); ``outcome`` a :class:`Disposition`."""

    kind: str
    outcome: Disposition
    reason: str = ""
    detail: str = ""
    case_codes: tuple[str, ...] = ()

    @property
    def folder(self) -> str:
        return folder_for(self.outcome)


QUARANTINE_OUTCOMES = frozenset({Disposition.QUARANTINED, Disposition.HELD})


def folder_for(outcome: str) -> str:
    return QUARANTINED if outcome in QUARANTINE_OUTCOMES else PROCESSED


class ReadAhead(Protocol):
    """The read-ahead service (mailbot.speculate.Ahead, plugged in by the daemon): work a helper
    process did ahead during a backlog, taken only for the very same inputs (else None)."""

    def run(self, raws: list[bytes], next_number: Callable[[], int]) -> None: ...
    def email(self, raw: bytes): ...
    def referral(self, form: bytes) -> Referral | None: ...
    def coded(self, form: bytes, children, family, codes, extra) -> bytes | None: ...
    def forget(self, raw: bytes) -> None: ...
    def stop(self) -> None: ...


#: how an address outside the directory is recorded (Context.recorded_sender), and shown in the digest
OUTSIDER_PREFIX = "(an address outside the network, #"
#: how a directory address is recorded when the email failed sender authentication
UNVERIFIED_SUFFIX = "(not verified)"


@dataclass
class Context:
    """Everything a handler may use. Built once by the daemon (or a test).

    It owns what is kept in memory for the life of the mailbot and depends on the network's data:
    the leak gates and what they have read (``gate_memory``), the surfaces of the document parts
    coding has read (``surfaces``), the network's rules files as loaded (:meth:`rules_file`), the
    sender directory, and the read-ahead service (``ahead``)."""

    cfg: Config
    store: object  # mailbot.store.database.Store
    templates: Templates
    rules: dict[str, Rule]
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    notify_outbox: Callable[[], None] = lambda: None
    #: work done ahead by a helper process during a backlog (mailbot.speculate.Ahead), or None
    ahead: ReadAhead | None = None
    #: what the leak gates have read, shared by every gate this Context builds (mailbot.gate.memory)
    gate_memory: GateMemory = field(default_factory=GateMemory)
    _gates: dict = field(default_factory=dict)  # people_version -> Gate (the last few)
    _gate_lock: threading.Lock = field(default_factory=threading.Lock)
    #: the configuration as loaded (never changed); ``cfg`` is it with the member changes applied
    base_cfg: Config | None = None
    _members_version: int = 0
    _directories: dict = field(default_factory=dict)  # the members as they are -> their Directory
    #: what coding has read of large document parts (styles, themes), for every form it codes
    surfaces: SurfaceCache = field(default_factory=SurfaceCache)
    _rules_files: dict = field(default_factory=dict)  # loader -> (what it was loaded from, what it loaded)

    def __post_init__(self) -> None:
        if self.base_cfg is None:
            self.base_cfg = self.cfg

    def refresh_members(self) -> None:
        """Derive ``cfg`` again when the store's member changes differ from those it was derived from."""
        from mailbot.casework.members import apply_changes

        version = self.store.member_changes_version()
        if version != self._members_version:
            members = apply_changes(list(self.base_cfg.members), self.store.member_changes())
            self.cfg = dataclasses.replace(self.base_cfg, members=members)
            self._members_version = version

    def rules_file(self, load: Callable[[Path], T], *, watch: str | None = None) -> T:
        """``load(cfg.rules_dir)``: what one of the network's rules files says, loaded once for the
        life of this Context, or again whenever the file ``watch`` (in the rules folder) changes."""
        rules_dir = self.cfg.rules_dir
        watched = Path(rules_dir) / watch if watch else None
        key = (str(rules_dir), watched.stat().st_mtime_ns if watched and watched.exists() else None)
        got = self._rules_files.get(load)
        if got is None or got[0] != key:
            got = self._rules_files[load] = (key, load(rules_dir))
        return got[1]

    @classmethod
    def build(cls, cfg: Config, store, **kw) -> "Context":
        return cls(cfg=cfg, store=store, templates=Templates(cfg.templates_dir, network=cfg.network_name),
                   rules=load_rules(cfg.rules_dir), **kw)

    # -- helpers handlers share ------------------------------------------
    def now(self) -> datetime:
        return self.clock()

    def local_now(self) -> datetime:
        return self.clock().astimezone(self.cfg.tz)

    def recipients(self, rule_kind: str, **kw) -> list[str]:
        rule = self.rules[rule_kind]
        return choose_recipients(rule, self.cfg.members, self.cfg.coordinators,
                                 ourselves=[self.cfg.mailbox_address], **kw)

    def queue(
        self,
        *,
        kind: str,
        rule_kind: str,
        template: str,
        to: list[str],
        values: dict,
        source: str,
        case_code: str | None = None,
        attachments: list[Attachment] = (),
        in_reply_to: str | None = None,
        references=(),
        reply_to: str | None = None,
        reason: str | None = None,
    ) -> int:
        """Render once, then write one outgoing message per recipient to the outbox (inside the caller's tx).

        The Message-ID depends on (kind, source, recipient) only, so a redo
        after a crash enqueues nothing new: the outbox ignores a Message-ID it
        already holds.
        """
        from mailbot.mail.compose import ID_PLACEHOLDER, TO_PLACEHOLDER, personalise
        from mailbot.store import OutboxItem

        if not to:
            return 0
        rendered = self.templates.render(template, **values)
        rule = self.rules[rule_kind]
        # One MIME build per mailing; each recipient's copy differs only in To and Message-ID.
        shared = build_message(
            sender=self.cfg.mailbox_address,
            sender_name=self.cfg.mailbox_display_name,
            to=[TO_PLACEHOLDER],
            rendered=rendered,
            msg_id=ID_PLACEHOLDER,
            kind=kind,
            case_code=case_code,
            attachments=list(attachments),
            in_reply_to=in_reply_to,
            references=references,
            reply_to=reply_to,
            list_id=list_id_header(self.cfg),
            date=self.now(),
        )
        # The last gate, first time: nothing that holds a name on record even enters the outbox.
        # (The outbox checks every message again just before SMTP.)
        leak = self.leak_check(shared)
        if leak:
            # Fail closed: raising rolls back everything the handler did with this message, so a
            # referral is never half-done (a case without its coded referral, an acknowledgement for
            # nothing); the pipeline then holds the email for the coordinator with this name-free reason.
            log.error("%s for %s not queued: the leak gate found a protected name (%s)", kind,
                      case_code or "-", leak)
            raise LeakDetected(f"A {kind} message was stopped because it would have disclosed a young "
                               f"person's name ({leak}); nothing was sent.")
        count = 0
        for addr in to:
            mid = message_id(kind, source, addr, domain=self.cfg.domain)
            raw = personalise(shared, to=addr, msg_id=mid)
            if self.store.enqueue(OutboxItem(
                message_id=mid, kind=kind, case_code=case_code, sender=self.cfg.mailbox_address,
                recipients=[addr], raw=raw, rule=rule.kind, reason=reason or rule.reason,
            )):
                count += 1
        return count

    def leak_check(self, raw: bytes) -> str | None:
        """Where a name on record appears in this message, or None (the encrypted Master List is exempt)."""
        return self.gate().check_message(raw)

    def gate(self) -> Gate:
        """The leak gate for every name on record, rebuilt only when a case's names change.

        Shared by the threads (the watcher queues, the outbox re-checks), so a document checked when
        it was queued is a cache hit when it is sent (the gates share ``gate_memory``). Keyed on the
        version each thread's connection sees: a thread inside an uncommitted transaction and one
        outside may see different ones."""
        version = self.store.people_version()
        with self._gate_lock:
            gate = self._gates.get(version)
        if gate is None:
            gate = build_gate(self.store.protected_names(), memory=self.gate_memory)
            with self._gate_lock:
                self._gates[version] = gate
                while len(self._gates) > 4:
                    self._gates.pop(next(iter(self._gates)))
        return gate

    def directory(self) -> Directory:
        """The sender directory for the current members (rebuilt when a MEMBER command changes them)."""
        cfg = self.cfg
        key = (id(cfg), tuple(cfg.members), tuple(cfg.coordinators))
        hit = self._directories.get(key)
        if hit is None:
            members = [Member(agency=m.agency, emails=list(m.contacts), social_work=m.social_work,
                              may_submit=m.may_submit) for m in cfg.members]
            hit = Directory(members=members, coordinators=list(cfg.coordinators),
                            our_addresses=[cfg.mailbox_address])
            self._directories.clear()
            self._directories[key] = hit
        return hit

    def recorded_sender(self, address: str, *, unverified: bool = False) -> str:
        """The sender as the store keeps it (messages.sender: flood control, the digest, HELD, STATUS).
        An address of the directory (a member, a coordinator, this mailbox) as it is, marked "(not
        verified)" when ``unverified`` (sender authentication failed: perhaps forged, so it is never
        counted as theirs, and 20 forgeries cannot rate-limit the real sender); any other address only as
        a keyed pseudonym: it is a stranger's own address, which can hold a young person's or a parent's
        name (lorraine.pemberton@...), and the store keeps no name in clear."""
        a = (address or "").strip().lower()
        d = self.directory()
        if not a or d.is_coordinator(a) or d.is_ours(a) or d.member_for(a) is not None:
            return f"{a} {UNVERIFIED_SUFFIX}" if a and unverified else a
        return f"{OUTSIDER_PREFIX}{self.store.vault.pseudonym(a)})"

    def tell_coordinator(self, *, title: str, details: str, source: str, case_code: str | None = None) -> None:
        self.queue(kind="coordinator-alert", rule_kind="coordinator_notice", template="coordinator-alert",
                   to=self.recipients("coordinator_notice"), values={"title": title, "details": details},
                   source=source + ":" + title, case_code=case_code)


def list_id_header(cfg: Config) -> str:
    """The List-Id of every email mailbot sends (RFC 2919): the network's name and its id, so that a
    member can file all of the network's mail with one rule."""
    from mailbot.mail.compose import list_id_value

    return list_id_value(cfg.network_name, cfg.list_id, cfg.domain)


def social_work_status(case) -> SocialWorkStatus:
    return SocialWorkStatus(
        known=None if case.sw_known is None else bool(case.sw_known),
        open=None if case.sw_open is None else bool(case.sw_open),
        allocated=bool(getattr(case, "sw_worker", None)),
    )
