"""Joomla's password hashes, checked as UserHelper::verifyPassword checked them.

Every vector comes from an implementation that is not ours: PHP 8.2 itself for bcrypt,
argon2 and Joomla's salted digests (tests/data/joomla-hashes.php made
tests/data/joomla-hashes.json, with PHP's own verdicts), and libpass (the maintained
passlib) or the bcrypt package, run here, for phpass and the rest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import bcrypt
import pytest
import sqlalchemy as sa
from passlib.hash import argon2 as libpass_argon2
from passlib.hash import bcrypt as libpass_bcrypt
from passlib.hash import hex_md5
from passlib.hash import hex_sha256
from passlib.hash import phpass

from emulator import oauth
from emulator.storage.database import db
from emulator.storage.models import SiteUser
from emulator.web import stores
from plugins.oauth2 import plugin
from plugins.oauth2.joomla_passwords import encode64
from plugins.oauth2.joomla_passwords import phpass_hash
from plugins.oauth2.joomla_passwords import verify_password
from tests.support.engine import NOW

PHP_VECTORS = json.loads(
    (Path(__file__).parents[2] / "data" / "joomla-hashes.json").read_text(encoding="utf-8")
)
# PHP's crypt_blowfish runs $2x$ (its sign-extension bug, kept for old hashes) on non-ASCII
# passwords; we refuse those rather than reproduce the bug (joomla_passwords.py).
DEVIATIONS = {"bcrypt-2x-unicode"}
PASSWORDS = ["correct horse", "pässwörd ✓", "x", "日本語 😀", "a" * 100]


@pytest.mark.parametrize(
    "vector", PHP_VECTORS["vectors"], ids=[v["id"] for v in PHP_VECTORS["vectors"]]
)
def test_php_made_hashes_are_checked_as_php_checked_them(vector) -> None:
    expected = False if vector["id"] in DEVIATIONS else vector["php"]
    assert verify_password(vector["hash"], vector["password"]) is expected


def test_the_php_vectors_cover_every_format() -> None:
    starts = {v["hash"][:4] for v in PHP_VECTORS["vectors"]}
    assert {"$2y$", "$2a$", "$2b$", "$2x$", "$arg", "{SHA"} <= starts
    assert any(len(v["hash"]) == 32 for v in PHP_VECTORS["vectors"])  # a bare md5
    assert any(v["hash"][32:33] == ":" for v in PHP_VECTORS["vectors"])  # a salted one


# --- phpass (libpass) ---------------------------------------------------------------------


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize(("ident", "rounds"), [("P", 7), ("P", 8), ("P", 10), ("H", 9)])
def test_phpass_portable_hashes(password, ident, rounds) -> None:
    stored = phpass.using(ident=ident, rounds=rounds).hash(password)
    assert stored.startswith(f"${ident}$")
    assert verify_password(stored, password) is True
    assert verify_password(stored, password + "!") is False
    assert verify_password(stored, password[:-1]) is False


def test_phpass_with_a_fixed_salt_matches_libpass_byte_for_byte() -> None:
    stored = phpass.using(salt="abcdefgh", rounds=10).hash("Joomla!")
    assert verify_password(stored, "Joomla!") is True
    # The digest part is phpass' own base 64 of 16 bytes: 22 characters.
    assert len(stored) == 34 and encode64(bytes(16)) == b"." * 22


@pytest.mark.parametrize(
    "setting",
    ["$P$6abcdefgh", "$P$Vabcdefgh", "$P$!abcdefgh", "$P$8abc", "$P$"],
    ids=["cost-below-7", "cost-above-30", "cost-not-itoa64", "short-salt", "no-setting"],
)
def test_a_phpass_setting_phpass_refuses_matches_nothing(setting) -> None:
    assert verify_password(setting + "A" * 22, "pw") is False


def test_phpass_refuses_a_password_over_4096_bytes() -> None:
    ok = "p" * 4096
    assert verify_password(phpass.using(rounds=7).hash(ok), ok) is True
    # libpass refuses to hash more (as phpass did); our hash of it would match but for the rule
    long = "p" * 4097
    made = phpass_hash(long.encode(), b"$P$5abcdefgh").decode()
    assert verify_password(made, long) is False


# --- bcrypt (the bcrypt package, libpass) and argon2 (libpass) ---------------------------------


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize("prefix", ["$2y$", "$2a$", "$2b$"])
def test_bcrypt_hashes_under_every_prefix_php_reads(password, prefix) -> None:
    made = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(4)).decode()
    stored = prefix + made[4:]
    assert verify_password(stored, password) is True
    assert verify_password(stored, "wrong") is False


def test_bcrypt_made_by_libpass_with_joomlas_prefix() -> None:
    stored = libpass_bcrypt.using(ident="2y", rounds=4).hash("joomla 3")
    assert stored.startswith("$2y$04$")
    assert verify_password(stored, "joomla 3") is True
    assert verify_password(stored, "joomla 4") is False


@pytest.mark.parametrize("kind", ["I", "ID"])
def test_argon2_hashes_made_by_libpass(kind) -> None:
    stored = libpass_argon2.using(type=kind, rounds=1, memory_cost=256).hash("arg pass")
    assert stored.startswith(f"$argon2{kind.lower()}$")
    assert verify_password(stored, "arg pass") is True
    assert verify_password(stored, "arg pas") is False


# --- Joomla's salted digests (libpass' hex digests) ----------------------------------------


@pytest.mark.parametrize("password", PASSWORDS)
def test_salted_and_bare_md5(password) -> None:
    salt = "0123456789abcdefABCDEFghijklmnop"
    salted = hex_md5.hash(password + salt) + ":" + salt
    assert verify_password(salted, password) is True
    assert verify_password(salted, password + "x") is False
    bare = hex_md5.hash(password)
    assert verify_password(bare, password) is True
    assert verify_password(bare, password.upper() + "!") is False


@pytest.mark.parametrize("password", PASSWORDS)
def test_sha256_with_salt(password) -> None:
    stored = "{SHA256}" + hex_sha256.hash(password + "s4lt") + ":s4lt"
    assert verify_password(stored, password) is True
    assert verify_password(stored, password + "x") is False


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0",  # MD5-crypt: Joomla never made it
        "$5$rounds=1000$salt$abc",
        "$argon2d$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
        "{SSHA}abc",
        hashlib.md5(b"pw").hexdigest().upper(),  # md5() gives lower case: never equal
        "not a hash at all",
    ],
    ids=["empty", "md5-crypt", "sha256-crypt", "argon2d", "ssha", "upper-md5", "text"],
)
def test_a_hash_no_joomla_check_could_match_is_not_claimed(stored) -> None:
    assert verify_password(stored, "pw") is None


# --- through the engine and the manifest hook ---------------------------------------------


def test_the_manifest_hands_the_verifier_to_the_engine(app) -> None:
    assert plugin.password_verifier is verify_password
    with app.app_context():
        assert verify_password in stores.password_verifiers()


@pytest.mark.parametrize(
    "stored",
    [
        phpass.using(rounds=8).hash("old secret"),
        bcrypt.hashpw(b"old secret", bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$"),
        hex_md5.hash("old secretSALT") + ":SALT",
        "{SHA256}" + hex_sha256.hash("old secretSALT") + ":SALT",
        libpass_argon2.using(type="I", rounds=1, memory_cost=256).hash("old secret"),
    ],
    ids=["phpass", "bcrypt", "md5", "sha256", "argon2i"],
)
def test_a_joomla_hash_logs_in_once_then_is_argon2id(app, stored) -> None:
    with app.app_context():
        session = db.session
        oauth.add_users(session, [oauth.UserImport(7, "Joomla", password_hash=stored)], now=NOW)
        session.commit()
        verifiers = stores.password_verifiers()
        wrong = oauth.authenticate_user(
            session, "joomla", "old secreT", verifiers=verifiers, now=NOW
        )
        assert wrong is None
        user = oauth.authenticate_user(
            session, "joomla", "old secret", verifiers=verifiers, now=NOW
        )
        session.commit()
        assert user is not None and user.id == 7
        new_hash = session.scalar(sa.select(SiteUser.password_hash).where(SiteUser.id == 7))
        assert new_hash.startswith("$argon2id$") and new_hash != stored
        again = oauth.authenticate_user(session, "JOOMLA", "old secret", verifiers=(), now=NOW)
        assert again is not None
