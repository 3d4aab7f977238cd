"""Console accounts, sessions and the audit log (docs/console.md).

Operators change things (retry or abandon a delivery); auditors only read.
Every login, logout and action is a row of ``console_audit`` naming who did
it, from where, and to what; the audit row commits in the same transaction as
the action it records, so an action is never done unrecorded.

Sessions live in the database, not in a process, so every gateway process
behind one PostgreSQL serves the same sessions. The browser holds a random
token; the store holds its SHA-256 and a per-session CSRF token.
"""
from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from gateway.core.errors import ConflictError
from gateway.core.records import AccountRow, AuditRow, SessionRow
from gateway.core.trust import passwords
from gateway.store import Store, Tx

SESSION_LIFETIME = dt.timedelta(hours=8)   # one working day; then log in again


class Role(enum.StrEnum):
    OPERATOR = "operator"   # reads everything; retries and abandons deliveries; exports registers
    AUDITOR = "auditor"     # reads everything; changes nothing


class Action(enum.StrEnum):
    """What the audit log records (td.action in the console's audit page)."""

    LOGIN = "login"
    LOGIN_FAILED = "login-failed"
    LOGOUT = "logout"
    RETRY = "retry"
    ABANDON = "abandon"
    EXPORT = "export"
    ACCOUNT_ADDED = "account-added"
    ACCOUNT_DISABLED = "account-disabled"
    ACCOUNT_ENABLED = "account-enabled"
    PASSWORD_SET = "password-set"


class AccountError(ValueError):
    """An account command that cannot be done, said in Thai and English."""


@dataclass(frozen=True)
class Login:
    token: str          # for the browser's cookie; the store keeps only its hash
    session: SessionRow


def record(tx: Tx, *, now: dt.datetime, who: str, action: Action, target: str = "", detail: str = "",
           remote: str = "") -> None:
    """One audit row, in the caller's transaction."""
    tx.insert_audit(now=now, username=who, action=action.value, target=target, detail=detail, remote_addr=remote)


def add_account(store: Store, *, username: str, display_name: str, password: str, role: Role,
                now: dt.datetime, by: str = "cli") -> AccountRow:
    passwords.check_username(username)
    hashed = passwords.hash_password(password)
    try:
        with store.transaction() as tx:
            tx.insert_account(username=username, display_name=display_name or username, password_hash=hashed,
                              role=Role(role).value, now=now)
            record(tx, now=now, who=by, action=Action.ACCOUNT_ADDED, target=username, detail=Role(role).value)
            return tx.account(username)
    except ConflictError:
        raise AccountError(f"มีผู้ใช้ชื่อ {username} อยู่แล้ว / the user {username} exists already") from None


def accounts(store: Store) -> list[AccountRow]:
    with store.transaction() as tx:
        return tx.accounts()


def set_password(store: Store, *, username: str, password: str, now: dt.datetime, by: str = "cli") -> None:
    hashed = passwords.hash_password(password)
    with store.transaction() as tx:
        if not tx.set_account_password(username=username, password_hash=hashed):
            raise AccountError(f"ไม่มีผู้ใช้ชื่อ {username} / no user {username}")
        record(tx, now=now, who=by, action=Action.PASSWORD_SET, target=username)


def set_disabled(store: Store, *, username: str, disabled: bool, now: dt.datetime, by: str = "cli") -> None:
    """Disable (its sessions end at once) or enable an account."""
    with store.transaction() as tx:
        if not tx.set_account_disabled(username=username, disabled=disabled):
            raise AccountError(f"ไม่มีผู้ใช้ชื่อ {username} / no user {username}")
        record(tx, now=now, who=by, action=Action.ACCOUNT_DISABLED if disabled else Action.ACCOUNT_ENABLED,
               target=username)


def log_in(store: Store, *, username: str, password: str, now: dt.datetime, remote: str) -> Login | None:
    """A new session for the right password of an enabled account, else None; both recorded.

    An unknown user name costs one scrypt check too, so timing does not tell which names exist.
    """
    with store.transaction() as tx:
        account = tx.account(username) if passwords.USERNAME.match(username or "") else None
    stored = account.password_hash if account is not None else passwords.DUMMY_HASH
    good = passwords.verify_password(password, stored) and account is not None and not account.disabled
    with store.transaction() as tx:
        if not good:
            record(tx, now=now, who=username[:64], action=Action.LOGIN_FAILED, remote=remote,
                   detail="disabled" if account is not None and account.disabled else "")
            return None
        token = passwords.new_token()
        tx.delete_expired_sessions(now)
        tx.insert_session(token_hash=passwords.token_hash(token), account_id=account.id,
                          csrf_token=passwords.new_token(), now=now, expires=now + SESSION_LIFETIME)
        record(tx, now=now, who=account.username, action=Action.LOGIN, remote=remote)
        return Login(token=token, session=tx.session(passwords.token_hash(token), now=now))


def session(store: Store, token: str, *, now: dt.datetime) -> SessionRow | None:
    """The live session of a cookie's token (None when unknown, expired, or its account is disabled)."""
    if not token or len(token) > 128:
        return None
    with store.transaction() as tx:
        return tx.session(passwords.token_hash(token), now=now)


def log_out(store: Store, token: str, *, who: str, now: dt.datetime, remote: str) -> None:
    with store.transaction() as tx:
        if tx.delete_session(passwords.token_hash(token)):
            record(tx, now=now, who=who, action=Action.LOGOUT, remote=remote)


def audit_log(store: Store, *, limit: int = 200, before_id: int | None = None) -> list[AuditRow]:
    with store.transaction() as tx:
        return tx.audit_log(limit=limit, before_id=before_id)


def audited(store: Store, *, who: str, action: Action, target: str, detail: str, remote: str,
            now: dt.datetime) -> None:
    """Record an action that changes nothing in the store (an export)."""
    with store.transaction() as tx:
        record(tx, now=now, who=who, action=action, target=target, detail=detail, remote=remote)
