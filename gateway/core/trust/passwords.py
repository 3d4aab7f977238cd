"""Console accounts' passwords and session tokens (no clock, no store: pure functions).

Passwords are hashed as the e-Saraban credentials are (``tenants.hash_password``:
scrypt from the standard library, whose stored form names its parameters);
this module adds what people's passwords need on top: length rules, a
constant-cost check for unknown user names, and session tokens.

Session tokens are 256-bit random values; only their SHA-256 is stored, so a
copy of the database does not hold a usable session.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from gateway.core.trust import tenants

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024     # a longer "password" is a way to burn CPU, not a password
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


class PasswordError(ValueError):
    """A password or user name that cannot be accepted, in Thai and English."""


def check_username(username: str) -> str:
    if not USERNAME.match(username or ""):
        raise PasswordError("ชื่อผู้ใช้ต้องเป็นอักษรละตินตัวเล็ก ตัวเลข . _ - ยาว 2-64 ตัว / "
                            "a user name is 2-64 characters: lower-case letters, digits, '.', '_' or '-'")
    return username


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordError(f"รหัสผ่านต้องยาวอย่างน้อย {MIN_PASSWORD_LENGTH} ตัวอักษร / "
                            f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordError(f"รหัสผ่านยาวเกิน {MAX_PASSWORD_LENGTH} ตัวอักษร / "
                            f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    return tenants.hash_password(check_password(password))


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; False for anything malformed (never raises)."""
    return len(password) <= MAX_PASSWORD_LENGTH and tenants.check_password(password, stored)


# A hash of a random password: verifying against it costs what a real check costs, so a login for an
# unknown user name takes as long as one for a known one.
DUMMY_HASH = tenants.hash_password(secrets.token_urlsafe(16))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two tokens."""
    return hmac.compare_digest(a.encode(), b.encode())
