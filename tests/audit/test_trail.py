"""The audit trail's chain: records join it at commit, in commit order, and any change to a
committed record shows."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from tocsin.audit.models import AuditHead, AuditRecord
from tocsin.audit.trail import (
    Actor,
    acting,
    purge,
    record,
    record_apart,
    record_refused,
    verify,
)
from tocsin.bootstrap import Container
from tocsin.db import snapshot, transaction, utcnow

ANN = Actor(7, "ann@example.com", "session", "192.0.2.7")


def _records(db: Session) -> list[AuditRecord]:
    db.commit()
    return list(db.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all())


def test_records_join_the_chain_at_commit_with_who_and_where(container: Container) -> None:
    with transaction(container.sessionmaker) as session:
        acting(session, ANN)
        record(
            session,
            "config.service.updated",
            target_type="service",
            target_id=3,
            target="checkout",
            detail={"name": {"old": "pay", "new": "checkout"}},
        )
        record(session, "token.revoked", target_type="token", target_id=9)
    with container.sessionmaker() as session:
        rows = list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))
        assert [(r.seq, r.action) for r in rows] == [
            (1, "config.service.updated"),
            (2, "token.revoked"),
        ]
        first = rows[0]
        assert (first.actor_id, first.actor_label, first.via, first.address) == (
            7,
            "ann@example.com",
            "session",
            "192.0.2.7",
        )
        assert first.detail == '{"name":{"new":"checkout","old":"pay"}}'
        assert rows[1].prev_hash == first.hash
        assert verify(session).intact
        assert verify(session).checked == 2
        head = session.get(AuditHead, 1)
        assert head is not None and (head.seq, head.hash) == (2, rows[1].hash)


def test_rolled_back_work_leaves_no_record(container: Container) -> None:
    session = container.sessionmaker()
    record(session, "auth.login")
    session.rollback()
    with session.begin():
        with session.begin_nested() as nested:
            record(session, "incident.made_private")
            nested.rollback()
        record(session, "incident.made_public")
    session.close()
    with container.sessionmaker() as check:
        assert [(r.seq, r.action) for r in check.scalars(select(AuditRecord))] == [
            (1, "incident.made_public")
        ]
        assert verify(check).intact


def test_a_savepoint_rolled_back_keeps_the_records_written_before_it(
    container: Container,
) -> None:
    """The job runner runs each job of a batch in a savepoint: one job failing must not take
    the records of the jobs before it out of the chain."""
    with transaction(container.sessionmaker) as session:
        record(session, "config.service.created", actor=ANN)
        try:
            with session.begin_nested():
                record(session, "config.service.updated", actor=ANN)
                raise RuntimeError("the second job fails")
        except RuntimeError:
            pass
        record(session, "config.team.created", actor=ANN)
    with container.sessionmaker() as check:
        assert [(r.seq, r.action) for r in check.scalars(select(AuditRecord))] == [
            (1, "config.service.created"),
            (2, "config.team.created"),
        ]
        assert verify(check).intact


def test_a_refusal_is_recorded_whether_its_transaction_commits_rolls_back_or_closes(
    container: Container,
) -> None:
    def refuse(session: Session, what: str) -> None:
        acting(session, ANN)
        record(session, "config.service.updated")  # the work refused, never kept
        record_refused(session, "config.refused", target=what, detail={"why": "viewer"})

    session = container.sessionmaker()
    refuse(session, "rolled back")
    session.rollback()  # the usual end: the caller of the refusing service rolls back
    session.close()
    with container.sessionmaker() as session:
        refuse(session, "closed")  # an exception left it unfinished
    with transaction(container.sessionmaker) as session:
        refuse(session, "committed")  # the caller carried on
        with session.begin_nested() as nested:
            refuse(session, "in a savepoint rolled back")
            nested.rollback()
    with container.sessionmaker() as check:
        rows = list(check.scalars(select(AuditRecord).order_by(AuditRecord.seq)))
        assert [(r.seq, r.action, r.outcome, r.target) for r in rows] == [
            (1, "config.refused", "refused", "rolled back"),
            (2, "config.refused", "refused", "closed"),
            (3, "config.service.updated", "ok", ""),
            (4, "config.refused", "refused", "committed"),
            (5, "config.refused", "refused", "in a savepoint rolled back"),
        ]
        assert {(r.actor_label, r.address) for r in rows} == {("ann@example.com", "192.0.2.7")}
        assert verify(check).intact


def test_a_changed_or_removed_record_breaks_the_chain(container: Container) -> None:
    for n in range(5):
        with transaction(container.sessionmaker) as session:
            record(session, "auth.login", actor=ANN, detail={"n": n})
    with transaction(container.sessionmaker) as session:
        session.execute(update(AuditRecord).where(AuditRecord.seq == 3).values(detail='{"n":99}'))
    with container.sessionmaker() as session:
        verdict = verify(session)
        assert (verdict.intact, verdict.broken_seq, verdict.checked) == (False, 3, 2)
        assert verdict.reason == "the record was changed"
    with transaction(container.sessionmaker) as session:
        session.execute(update(AuditRecord).where(AuditRecord.seq == 3).values(detail='{"n":2}'))
        assert verify(session).intact
        session.execute(delete(AuditRecord).where(AuditRecord.seq == 4))
    with container.sessionmaker() as session:
        verdict = verify(session)
        assert (verdict.broken_seq, verdict.reason) == (4, "a record is missing")
    with transaction(container.sessionmaker) as session:
        session.execute(delete(AuditRecord).where(AuditRecord.seq == 5))
        session.execute(delete(AuditRecord).where(AuditRecord.seq == 4))
    with container.sessionmaker() as session:
        assert verify(session).reason == "the newest records are missing"


def test_a_record_forged_after_the_newest_breaks_the_chain(container: Container) -> None:
    for n in range(3):
        with transaction(container.sessionmaker) as session:
            record(session, "auth.login", actor=ANN, detail={"n": n})
    with transaction(container.sessionmaker) as session:
        last = session.scalar(select(AuditRecord).where(AuditRecord.seq == 3))
        assert last is not None
        session.execute(
            insert(AuditRecord).values(
                seq=4, at=utcnow(), actor_label="mallory", via="session", action="auth.login",
                detail="{}", prev_hash=last.hash, hash="0" * 64,
            )
        )  # fmt: skip
    with snapshot(container.sessionmaker) as session:
        verdict = verify(session)
        assert (verdict.intact, verdict.broken_seq, verdict.checked) == (False, 4, 3)
        assert verdict.reason == "a record was added after the newest"


def test_verifying_in_a_snapshot_holds_up_no_writer_and_sees_one_moment(
    container: Container,
) -> None:
    """A verification (or an export) reads a snapshot: a record committed meanwhile neither
    waits for it (on SQLite the write would time out if the reader held the lock) nor
    confuses it (it sees the head and records as of its first read)."""
    for n in range(4):
        with transaction(container.sessionmaker) as session:
            record(session, "auth.login", actor=ANN, detail={"n": n})
    with snapshot(container.sessionmaker) as reading:
        assert reading.get(AuditHead, 1) is not None  # the snapshot begins
        with transaction(container.sessionmaker) as session:
            record(session, "auth.login", actor=ANN, detail={"n": "meanwhile"})
        verdict = verify(reading)
        assert verdict.intact and verdict.checked == 4
    with snapshot(container.sessionmaker) as session:
        verdict = verify(session)
        assert verdict.intact and verdict.checked == 5


def test_concurrent_writers_form_one_chain_without_gaps(container: Container) -> None:
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(10):
                with transaction(container.sessionmaker) as session:
                    record(session, "auth.login", actor=ANN, detail={"w": worker, "n": n})
                    record(session, "auth.logout", actor=ANN, detail={"w": worker, "n": n})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with container.sessionmaker() as session:
        seqs = list(session.scalars(select(AuditRecord.seq).order_by(AuditRecord.seq)))
        assert seqs == list(range(1, 81))
        # Each transaction's two records are neighbours: chained in commit order.
        pairs = session.execute(
            select(AuditRecord.seq, AuditRecord.action).order_by(AuditRecord.seq)
        ).all()
        assert all(a == "auth.login" for s, a in pairs if (s or 0) % 2 == 1)
        assert verify(session).intact


def test_purging_old_records_keeps_the_rest_verifiable(container: Container) -> None:
    for n in range(4):
        with transaction(container.sessionmaker) as session:
            record(session, "auth.login", actor=ANN, detail={"n": n})
    with transaction(container.sessionmaker) as session:
        old = utcnow() - timedelta(days=400)
        session.execute(update(AuditRecord).where(AuditRecord.seq <= 2).values(at=old))
    with transaction(container.sessionmaker) as session:
        assert purge(session, before=utcnow() - timedelta(days=365)) == 2
    with container.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(AuditRecord)) == 2
        assert verify(session).intact
    with transaction(container.sessionmaker) as session:
        record(session, "auth.login", actor=ANN)
    with container.sessionmaker() as session:
        assert verify(session).checked == 3
        # Removing the oldest kept record now shows: the chain must start where the purge ended.
        session.execute(delete(AuditRecord).where(AuditRecord.seq == 3))
        assert verify(session).reason == "a record is missing"
        session.rollback()


def test_record_apart_survives_the_rollback_of_the_refused_work(container: Container) -> None:
    session = container.sessionmaker()
    record(session, "scim.user_created")
    record_apart(
        container.sessionmaker,
        "scim.refused",
        actor=ANN,
        outcome="refused",
        detail={"reason": "email taken"},
    )
    session.rollback()
    session.close()
    with container.sessionmaker() as check:
        rows = list(check.scalars(select(AuditRecord)))
        assert [(r.action, r.outcome) for r in rows] == [("scim.refused", "refused")]
