"""The vault: names are encrypted at rest, duplicates found by a blind index.

One secret key file (32 random bytes, base64, permissions 0600) holds the
master key. Two sub-keys are derived from it with HKDF: one for AES-256-GCM
encryption of personal data, one for the HMAC-SHA256 "blind index"
(:meth:`Vault.identity`) that lets the store find a returning young person
without keeping the name in clear.

Ciphertext format (versioned): ``b"\\x01" + nonce(12) + AES-GCM(ciphertext+tag)``.
The version byte is authenticated as associated data, together with any
caller-supplied context (e.g. the case code) so blobs cannot be swapped.

Losing the key file means losing the names: back it up apart from the
database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import stat
import unicodedata
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mailbot.errors import ConfigError, MailbotError

log = logging.getLogger("mailbot.vault")

_KEY_HEADER = "mailbot-vault-key-v1:"
_VERSION = 1
_NONCE_LEN = 12


class VaultError(MailbotError):
    """Encrypted data cannot be read (wrong key, or damaged data)."""

    reason = "vault"


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"mailbot vault " + purpose).derive(master)


_APOSTROPHES = "'\u2019\u2018`\u00b4\u02bc\u2032"


def normalise_name(name: str) -> str:
    """Fold a name for comparison: accents stripped, casefolded, and
    apostrophes, hyphens, dots and whitespace removed, so that "Seán
    O'Brien-Kelly" == "sean obrien kelly" == "SEAN O BRIEN KELLY".
    """
    text = unicodedata.normalize("NFKD", name or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold()
    # keep letters and digits only: apostrophes, hyphens, dots, spaces fold away
    return "".join(ch for ch in text if ch.isalnum())


def normalise_dob(date_of_birth) -> str:
    """ISO date string for a date/datetime/str; '' when unknown."""
    if date_of_birth is None:
        return ""
    if hasattr(date_of_birth, "isoformat"):
        value = date_of_birth.isoformat()
        return value[:10]
    return str(date_of_birth).strip()


class Vault:
    """Symmetric encryption + blind index, keyed by one secret file."""

    def __init__(self, master_key: bytes):
        if len(master_key) != 32:
            raise ConfigError("The mailbot key must be 32 bytes; the key file is damaged.")
        self._aead = AESGCM(_derive(master_key, b"encryption"))
        self._index_key = _derive(master_key, b"blind index")

    # -- key file ----------------------------------------------------------

    @classmethod
    def load_or_create(cls, key_path: Path) -> "Vault":
        key_path = Path(key_path)
        if not key_path.exists():
            cls._create_key_file(key_path)
        return cls(cls._read_key_file(key_path))

    @staticmethod
    def _create_key_file(key_path: Path) -> None:
        key_path.parent.mkdir(parents=True, exist_ok=True)
        text = (_KEY_HEADER + base64.b64encode(os.urandom(32)).decode("ascii") + "\n").encode()
        tmp = key_path.with_name(f".{key_path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask says
            os.write(fd, text)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            # link() refuses to overwrite: if another process won the race we
            # use its key instead of silently replacing it.
            os.link(tmp, key_path)
            log.info("created a new vault key file")
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        try:
            dfd = os.open(key_path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:  # pragma: no cover - platform without dir fsync
            pass

    @staticmethod
    def _read_key_file(key_path: Path) -> bytes:
        try:
            st = os.stat(key_path)
        except OSError as exc:
            raise ConfigError(f"The mailbot key file {key_path} cannot be read ({exc.strerror}).") from None
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"The mailbot key file {key_path} is not a regular file.")
        if st.st_mode & 0o077:
            raise ConfigError(
                f"The mailbot key file {key_path} can be read by other users "
                f"(mode {stat.S_IMODE(st.st_mode):o}); run: chmod 600 {key_path}")
        try:
            text = key_path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            raise ConfigError(f"The mailbot key file {key_path} cannot be read.") from None
        if not text.startswith(_KEY_HEADER):
            raise ConfigError(f"The mailbot key file {key_path} is not a mailbot key.")
        try:
            key = base64.b64decode(text[len(_KEY_HEADER):], validate=True)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ConfigError(f"The mailbot key file {key_path} is damaged.")
        return key

    # -- encryption --------------------------------------------------------

    def encrypt(self, data: bytes, context: bytes = b"") -> bytes:
        nonce = os.urandom(_NONCE_LEN)
        header = bytes([_VERSION])
        return header + nonce + self._aead.encrypt(nonce, bytes(data), header + context)

    def decrypt(self, blob: bytes, context: bytes = b"") -> bytes:
        blob = bytes(blob)
        if len(blob) < 1 + _NONCE_LEN + 16 or blob[0] != _VERSION:
            raise VaultError("Encrypted data in the mailbot database is damaged or of an unknown version.")
        nonce = blob[1:1 + _NONCE_LEN]
        try:
            return self._aead.decrypt(nonce, blob[1 + _NONCE_LEN:], blob[:1] + context)
        except InvalidTag:
            raise VaultError(
                "Encrypted data in the mailbot database cannot be read with this key "
                "(wrong key file, or damaged data).") from None

    def encrypt_json(self, obj, context: bytes = b"") -> bytes:
        return self.encrypt(json.dumps(obj, ensure_ascii=False, sort_keys=True).encode("utf-8"), context)

    def decrypt_json(self, blob: bytes, context: bytes = b""):
        return json.loads(self.decrypt(blob, context).decode("utf-8"))

    # -- blind index -------------------------------------------------------

    def identity(self, name: str, date_of_birth=None) -> str:
        """Keyed HMAC-SHA256 of the normalised name and date of birth (hex).

        Equal for spellings that differ only in case, accents, apostrophes,
        hyphens or spacing; reveals nothing without the key.
        """
        message = ("v1\x00" + normalise_name(name) + "\x00" + normalise_dob(date_of_birth)).encode("utf-8")
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()

    def pseudonym(self, text: str) -> str:
        """A short keyed HMAC of ``text`` (16 hex digits): the same text gives the same pseudonym, and
        nothing of the text can be read from it without the key (an outsider's email address)."""
        message = ("pseudonym v1\x00" + " ".join((text or "").lower().split())).encode("utf-8")
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()[:16]
