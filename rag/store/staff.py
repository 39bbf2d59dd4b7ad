"""Staff accounts: one per person, argon2id password hashes, every sign-in recorded, and a limit on failures kept in
the database, so it holds across app replicas: after 5 failed sign-ins in 15 minutes, that user name and that
address each wait until the oldest of those failures is 15 minutes old."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, delete, func, select
from sqlalchemy.engine import Engine

from ..errors import StaffError
from .database import sign_ins, staff

MAX_FAILURES = 5
WINDOW = dt.timedelta(minutes=15)
MIN_PASSWORD = 12
_NAME = re.compile(r"^[A-Za-z0-9._@-]{2,64}$")
_hasher = PasswordHasher()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class StaffAccounts:
    def __init__(self, db: Engine, bootstrap: tuple[str, str] | None = None):
        self.db = db
        self.bootstrap = bootstrap  # RAG_STAFF_USER / RAG_STAFF_PASSWORD: a single-user setup needs no account

    def add(self, name: str, password: str) -> None:
        self._check(name, password)
        with self.db.begin() as conn:
            if conn.execute(select(staff.c.name).where(staff.c.name == name)).first():
                raise StaffError(f"staff account {name!r} already exists; change its password with: "
                                 f"python -m rag staff passwd {name}")
            conn.execute(staff.insert().values(name=name, password_hash=_hasher.hash(password),
                                               created=_now().isoformat(timespec="seconds")))

    def passwd(self, name: str, password: str) -> None:
        self._check(name, password)
        with self.db.begin() as conn:
            done = conn.execute(staff.update().where(staff.c.name == name).values(password_hash=_hasher.hash(password)))
            if not done.rowcount:
                raise StaffError(f"no staff account {name!r}; add it with: python -m rag staff add {name}")

    def remove(self, name: str) -> None:
        with self.db.begin() as conn:
            if not conn.execute(delete(staff).where(staff.c.name == name)).rowcount:
                raise StaffError(f"no staff account {name!r} (see: python -m rag staff list)")

    def names(self) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = conn.execute(select(staff.c.name, staff.c.created).order_by(staff.c.name)).all()
            last = dict(conn.execute(select(sign_ins.c.name, func.max(sign_ins.c.time)).where(sign_ins.c.ok)
                                     .group_by(sign_ins.c.name)).all())
        return [{"name": n, "created": c, "last_sign_in": last.get(n) or ""} for n, c in rows]

    def wait_seconds(self, name: str, address: str) -> int:
        """How long this user name or this address must wait before trying again (0: they may try now)."""
        since = (_now() - WINDOW).isoformat(timespec="seconds")
        waits = []
        with self.db.connect() as conn:
            for column, value in ((sign_ins.c.name, name), (sign_ins.c.address, address)):
                times = conn.execute(select(sign_ins.c.time).where(and_(column == value, ~sign_ins.c.ok,
                                                                        sign_ins.c.time >= since))
                                     .order_by(sign_ins.c.time.desc()).limit(MAX_FAILURES)).scalars().all()
                if len(times) >= MAX_FAILURES:
                    free = dt.datetime.fromisoformat(times[-1]) + WINDOW
                    waits.append(max(0, int((free - _now()).total_seconds()) + 1))
        return max(waits, default=0)

    def sign_in(self, name: str, password: str, address: str) -> bool:
        """True for a right password not under the limit; every attempt is recorded."""
        name, address = (name or "")[:64], (address or "unknown")[:64]
        if self.wait_seconds(name, address):
            self._record(name, address, False)
            return False
        ok = self._verify(name, password or "")
        self._record(name, address, ok)
        return ok

    def _verify(self, name: str, password: str) -> bool:
        with self.db.connect() as conn:
            stored = conn.execute(select(staff.c.password_hash).where(staff.c.name == name)).scalar()
        if stored is None:
            if self.bootstrap and name == self.bootstrap[0]:
                import hmac
                return hmac.compare_digest(password.encode(), self.bootstrap[1].encode())
            _hasher.hash("timing")  # the same work as a real check: a missing name takes as long as a wrong password
            return False
        try:
            return _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def _record(self, name: str, address: str, ok: bool) -> None:
        with self.db.begin() as conn:
            conn.execute(sign_ins.insert().values(name=name, address=address, ok=ok,
                                                  time=_now().isoformat(timespec="seconds")))

    def recent_sign_ins(self, limit: int = 200) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = conn.execute(select(sign_ins.c.time, sign_ins.c.name, sign_ins.c.address, sign_ins.c.ok)
                                .order_by(sign_ins.c.id.desc()).limit(limit)).all()
        return [{"time": t, "name": n, "address": a, "ok": bool(ok)} for t, n, a, ok in rows]

    @staticmethod
    def _check(name: str, password: str) -> None:
        if not _NAME.match(name or ""):
            raise StaffError(f"staff name {name!r}: use 2-64 letters, digits or . _ @ -")
        if len(password or "") < MIN_PASSWORD:
            raise StaffError(f"the password is {len(password or '')} characters; use at least {MIN_PASSWORD}")


