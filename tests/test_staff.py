"""Staff accounts: argon2 hashes, the command line, every sign-in recorded, and the limit on failed sign-ins held in
the database (so two app replicas on one database share it)."""
import subprocess
import sys

import pytest

from conftest import ROOT
from rag.errors import StaffError
from rag.store.audit import AuditLog
from rag.store.staff import MAX_FAILURES, StaffAccounts


@pytest.fixture()
def accounts(tmp_path):
    return StaffAccounts(AuditLog(tmp_path / "audit.db").db)


def test_a_password_is_stored_as_an_argon2_hash_and_checked(accounts):
    accounts.add("nurse.kim", "correct horse battery")
    with accounts.db.connect() as conn:
        stored = conn.exec_driver_sql("SELECT password_hash FROM staff").scalar()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert accounts.sign_in("nurse.kim", "correct horse battery", "10.0.0.1")
    assert not accounts.sign_in("nurse.kim", "wrong password!!", "10.0.0.1")
    assert [(r["name"], r["ok"]) for r in accounts.recent_sign_ins()] == [("nurse.kim", False), ("nurse.kim", True)]


def test_weak_passwords_duplicates_and_unknown_accounts_are_refused_plainly(accounts):
    with pytest.raises(StaffError, match="at least 12"):
        accounts.add("dr.ng", "short")
    accounts.add("dr.ng", "a long enough password")
    with pytest.raises(StaffError, match="already exists.*staff passwd dr.ng"):
        accounts.add("dr.ng", "another long password")
    with pytest.raises(StaffError, match="no staff account 'nobody'"):
        accounts.passwd("nobody", "a long enough password")


def test_after_five_failures_that_user_and_that_address_wait_and_a_second_replica_sees_it(tmp_path):
    db_file = tmp_path / "audit.db"
    one, two = StaffAccounts(AuditLog(db_file).db), StaffAccounts(AuditLog(db_file).db)  # two replicas, one store
    one.add("nurse.kim", "correct horse battery")
    for _ in range(MAX_FAILURES):
        assert not one.sign_in("nurse.kim", "guess guess guess", "203.0.113.9")
    assert two.wait_seconds("nurse.kim", "198.51.100.1") > 0  # the user waits, from any address
    assert not two.sign_in("nurse.kim", "correct horse battery", "198.51.100.1")  # even with the right password
    assert two.wait_seconds("someone.else", "203.0.113.9") > 0  # and that address waits for every user
    assert two.wait_seconds("someone.else", "198.51.100.2") == 0


def test_the_bootstrap_password_still_signs_in_a_single_user_setup(tmp_path):
    accounts = StaffAccounts(AuditLog(tmp_path / "audit.db").db, ("staff", "s3cret-test"))
    assert accounts.sign_in("staff", "s3cret-test", "127.0.0.1")
    assert not accounts.sign_in("staff", "nope", "127.0.0.1")


def test_the_staff_command_adds_lists_changes_and_removes_accounts(tmp_path):
    db = ["--database-url", f"sqlite:///{tmp_path / 'audit.db'}"]

    def run(*args, stdin=""):
        return subprocess.run([sys.executable, "-m", "rag", "staff", *db, *args], cwd=ROOT, input=stdin,
                              capture_output=True, text=True, timeout=120)

    assert run("add", "nurse.kim", "--password-stdin", stdin="correct horse battery\n").returncode == 0
    listed = run("list")
    assert listed.returncode == 0 and "nurse.kim" in listed.stdout and "never" in listed.stdout
    assert run("passwd", "nurse.kim", "--password-stdin", stdin="another long password\n").returncode == 0
    weak = run("add", "dr.ng", "--password-stdin", stdin="short\n")
    assert weak.returncode == 2 and "at least 12" in weak.stderr and weak.stderr.count("\n") == 1
    assert run("remove", "nurse.kim").returncode == 0 and "nurse.kim" not in run("list").stdout
