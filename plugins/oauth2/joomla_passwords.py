"""Joomla's password hashes (``#__users.password``), checked as ``UserHelper::verifyPassword``.

The plugin's ``password_verifier``: the engine asks it about every hash that is not one of
its own argon2id hashes, and replaces the hash with an argon2id one after a successful
check (the old site's database is never written). Joomla 3 (3.8 to 3.10) and Joomla 4/5
pick the check by how the hash starts:

- ``$P$``: phpass portable hashes (``PasswordHash(10, true)->CheckPassword``), and ``$H$``,
  phpBB's name for the same, which Joomla 4's chain of handlers accepts too;
- ``$argon2id``, ``$argon2i``: PHP's ``password_verify`` (argon2-cffi checks the same way);
- ``$2``: ``password_verify`` with bcrypt: ``$2y$``, ``$2a$``, ``$2b$`` (and ``$2x$``,
  crypt_blowfish's variant with the sign-extension bug, for ASCII passwords);
- ``{SHA256}``: Joomla 3's ``'{SHA256}' . sha256(password . salt) . ':' . salt``;
- anything else: ``md5(password . salt) . ':' . salt``, or a bare ``md5(password)`` (a ``:``
  kept when the hash has one and no salt), as Joomla 1.5 to 2.5 made them.

Every comparison is constant-time. Where the two versions differ, the hash is accepted if
either version accepted it (it is the site's own hash, and the password its user's):
``$H$`` (Joomla 4 only) and ``{SHA256}`` (Joomla 3 only; Joomla 4 refused it).

Not reproduced, deliberately: Joomla 4's fallback chain also let PHP's ``crypt()`` check any
hash it knows (``$1$`` MD5-crypt, ``$5$``/``$6$`` SHA-crypt, DES), which Joomla never made; and
``$2x$`` hashes with a non-ASCII password, where the bug gave another result. Such a user
gets a new password (``flask users set-password``). PHP's bcrypt reads a password up to its
first NUL byte and at most 72 bytes, and so does this check.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError

# phpass' base-64 alphabet (also crypt's): the log2 of the iteration count is one of its
# characters, and the digest is written in it.
ITOA64 = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PHPASS_MAX_PASSWORD = 4096  # CheckPassword refuses longer passwords
BCRYPT_MAX_KEY = 72  # crypt_blowfish reads at most this many bytes of the password
BCRYPT_LENGTH = 60  # password_verify wants crypt()'s output to be the whole hash
_MD5_HASH = re.compile(r"[0-9a-f]{32}(?::.*)?", re.DOTALL)
# argon2-cffi's verify reads the parameters from the hash; these only serve hashing.
_ARGON2 = PasswordHasher()


def verify_password(password_hash: str, password: str) -> bool | None:
    """Whether ``password`` matches a Joomla hash; None when the hash is no Joomla format.

    The oauth2 plugin's ``password_verifier`` (emulator.web.plugin, "Hooks").
    """
    secret = password.encode("utf-8", "surrogatepass")
    if password_hash.startswith(("$P$", "$H$")):
        return _check_phpass(password_hash, secret)
    if password_hash.startswith(("$argon2id$", "$argon2i$")):
        return _check_argon2(password_hash, secret)
    if password_hash.startswith("$2"):
        return _check_bcrypt(password_hash, secret)
    if password_hash.startswith("{SHA256}"):
        return _check_sha256(password_hash, secret)
    if _MD5_HASH.fullmatch(password_hash):
        return _check_md5(password_hash, secret)
    return None  # no Joomla check could ever match it


def _same(stored: str, computed: bytes) -> bool:
    return hmac.compare_digest(stored.encode("utf-8", "surrogatepass"), computed)


# --- phpass ------------------------------------------------------------------------------


def _check_phpass(password_hash: str, secret: bytes) -> bool:
    """phpass' CheckPassword: the hash's setting (id, cost, salt) run again over the password.

    A setting phpass cannot read fails (its fallback, PHP's crypt(), cannot read a
    ``$P$``/``$H$`` setting either).
    """
    if len(secret) > PHPASS_MAX_PASSWORD:
        return False
    stored = password_hash.encode("utf-8", "surrogatepass")
    computed = phpass_hash(secret, stored[:12])
    return computed is not None and hmac.compare_digest(stored, computed)


def phpass_hash(secret: bytes, setting: bytes) -> bytes | None:
    """phpass' portable hash of ``secret`` under ``setting`` (``$P$`` or ``$H$``, the log2 of
    the iteration count as a character of ITOA64 (7 to 30), 8 bytes of salt), or None."""
    if setting[:3] not in (b"$P$", b"$H$") or len(setting) < 12:
        return None
    count_log2 = ITOA64.find(setting[3:4])
    if not 7 <= count_log2 <= 30:
        return None
    salt = setting[4:12]
    digest = hashlib.md5(salt + secret).digest()
    for _ in range(1 << count_log2):
        digest = hashlib.md5(digest + secret).digest()
    return setting[:12] + encode64(digest)


def encode64(data: bytes) -> bytes:
    """phpass' base 64: each group of three bytes, read little-endian, as 6-bit characters,
    least significant first; a last group of n bytes gives n + 1 characters."""
    out = bytearray()
    for start in range(0, len(data), 3):
        group = data[start : start + 3]
        value = int.from_bytes(group, "little")
        for shift in range(len(group) + 1):
            out.append(ITOA64[(value >> (6 * shift)) & 0x3F])
    return bytes(out)


# --- password_verify: argon2 and bcrypt -----------------------------------------------------


def _check_argon2(password_hash: str, secret: bytes) -> bool:
    """password_verify for ``$argon2i$`` and ``$argon2id$`` (libargon2's check, as PHP's)."""
    try:
        return _ARGON2.verify(password_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def _check_bcrypt(password_hash: str, secret: bytes) -> bool:
    """password_verify for bcrypt: crypt_blowfish reads the password up to a NUL byte and
    at most 72 bytes of it; crypt()'s output must be the whole stored hash.

    ``$2a$`` is read as ``$2b$``: crypt_blowfish's countermeasure for ``$2a$`` changes a result
    only when the correct and the buggy key expansions agree although a byte was
    sign-extended, which takes a 0xFF byte, never found in UTF-8 text. ``$2x$`` (the bug
    itself) agrees with ``$2b$`` for ASCII passwords only; another one is refused.
    """
    if len(password_hash) != BCRYPT_LENGTH or password_hash[3:4] != "$":
        return False
    variant = password_hash[2:3]
    if variant not in ("a", "b", "x", "y"):
        return False
    key = secret.split(b"\0", 1)[0][:BCRYPT_MAX_KEY]
    if variant == "x" and not key.isascii():
        return False
    try:
        return bcrypt.checkpw(key, password_hash.encode("ascii"))
    except (ValueError, UnicodeEncodeError):  # a malformed cost or salt: crypt() fails
        return False


# --- Joomla's own salted digests ------------------------------------------------------------


def _check_sha256(password_hash: str, secret: bytes) -> bool:
    """Joomla 3: ``'{SHA256}' . hash('sha256', $password . $salt) . ':' . $salt``, the salt
    being the hash's second ``:``-separated part ("" when there is none)."""
    salt = _salt(password_hash)
    digest = hashlib.sha256(secret + salt).hexdigest().encode("ascii")
    return _same(password_hash, b"{SHA256}" + digest + b":" + salt)


def _check_md5(password_hash: str, secret: bytes) -> bool:
    """``md5($password . $salt)``, then ``':' . $salt`` when the salt is truthy to PHP, else
    ``':'`` when the hash holds one (an empty salt), else nothing."""
    salt = _salt(password_hash)
    computed = hashlib.md5(secret + salt).hexdigest().encode("ascii")
    if salt not in (b"", b"0"):  # PHP's falsy strings
        computed += b":" + salt
    elif ":" in password_hash:
        computed += b":"
    return _same(password_hash, computed)


def _salt(password_hash: str) -> bytes:
    """``@explode(':', $hash)[1]``: the text between the first and the second ``:``."""
    parts = password_hash.split(":")
    return parts[1].encode("utf-8", "surrogatepass") if len(parts) > 1 else b""
