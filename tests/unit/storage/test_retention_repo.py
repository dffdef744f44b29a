"""Retention SQL on real PostgreSQL and SQLite: old histograms dropped with the percentiles kept,
old delivered outbox entries deleted and nothing else, in batches, idempotently."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from metrics_rows import make_row
from perf_profiler.storage import outbox_repo, retention_repo
from perf_profiler.storage.metrics_repo import fetch_metrics, upsert_metrics

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
HISTS = retention_repo.HISTOGRAM_COLUMNS


def _row(run: str, measured: datetime, **more):
    return make_row(run_id=run, measured_at=measured.isoformat(), service_hist=make_row()["latency_hist"], **more)


def _by_run(hook):
    return {row["run_id"]: row for row in fetch_metrics(hook)}


def test_histograms_older_than_the_cutoff_are_dropped_and_percentiles_kept(migrated):
    old, edge, recent = NOW - timedelta(days=120), NOW - timedelta(days=90), NOW - timedelta(days=1)
    upsert_metrics(migrated, [_row("old", old), _row("edge", edge), _row("recent", recent)])
    before = _by_run(migrated)

    done = retention_repo.prune_histograms(migrated, NOW - timedelta(days=90))

    assert done == retention_repo.PruneResult(pruned=1, complete=True)
    after = _by_run(migrated)
    assert all(after["old"][column] is None for column in HISTS)
    for run in ("edge", "recent"):  # measured at or after the cutoff: kept whole
        assert all(after[run][column] == before[run][column] is not None for column in HISTS)
    keep = [c for c in before["old"] if c not in (*HISTS, "updated_at")]
    assert {c: after["old"][c] for c in keep} == {c: before["old"][c] for c in keep}, "percentiles, counts stay"


def test_a_second_prune_changes_nothing(migrated):
    upsert_metrics(migrated, [_row("old", NOW - timedelta(days=200))])
    cutoff = NOW - timedelta(days=90)
    assert retention_repo.prune_histograms(migrated, cutoff).pruned == 1
    snapshot = _by_run(migrated)
    assert retention_repo.prune_histograms(migrated, cutoff) == retention_repo.PruneResult(0, True)
    assert _by_run(migrated) == snapshot


def test_a_row_with_only_some_histograms_is_still_pruned(migrated):
    upsert_metrics(migrated, [_row("partial", NOW - timedelta(days=200), latency_hist=None, error_hist=None)])
    assert retention_repo.prune_histograms(migrated, NOW).pruned == 1
    assert _by_run(migrated)["partial"]["service_hist"] is None


def test_batches_stop_at_the_limit_and_the_next_call_goes_on(migrated):
    upsert_metrics(migrated, [_row(f"old-{i}", NOW - timedelta(days=100 + i)) for i in range(7)])
    first = retention_repo.prune_histograms(migrated, NOW, batch_size=2, max_batches=2)
    assert first == retention_repo.PruneResult(pruned=4, complete=False)
    assert sum(row["latency_hist"] is not None for row in fetch_metrics(migrated)) == 3
    second = retention_repo.prune_histograms(migrated, NOW, batch_size=2, max_batches=10)
    assert second == retention_repo.PruneResult(pruned=3, complete=True)
    assert all(row["latency_hist"] is None for row in fetch_metrics(migrated))


def test_batch_limits_must_be_positive(migrated):
    with pytest.raises(ValueError, match="batch_size and max_batches must be positive, got 0"):
        retention_repo.prune_histograms(migrated, NOW, batch_size=0)


def _outbox(hook, created: datetime) -> dict[str, int]:
    """Old entries: delivered, rejected, held (413), failed (pending), untouched (pending); one recent delivery."""
    keys = ["delivered", "rejected", "held", "failed", "pending", "delivered-recently"]
    outbox_repo.insert_entries(hook, [(key, "{}") for key in keys], created)
    with outbox_repo.open_drain(hook) as outbox:
        seqs = {entry.idempotency_key: entry.seq for entry in outbox.pending()}
        outbox.mark_delivered(seqs["delivered"], created + timedelta(minutes=1), 1, 202)
        outbox.mark_rejected(seqs["rejected"], created + timedelta(minutes=1), 1, 422, "HTTP 422")
        outbox.mark_held(seqs["held"], created + timedelta(minutes=1), 1, 413, "HTTP 413")
        outbox.mark_failed(seqs["failed"], created + timedelta(minutes=1), 1, 503, "HTTP 503")
        outbox.mark_delivered(seqs["delivered-recently"], NOW - timedelta(days=1), 1, 202)
    return seqs


def _keys(hook) -> set[str]:
    from metrics_rows import query

    return {key for (key,) in query(hook, "SELECT idempotency_key FROM insight_outbox")}


def test_only_old_delivered_outbox_entries_are_deleted(migrated):
    _outbox(migrated, NOW - timedelta(days=60))

    done = retention_repo.prune_delivered_outbox(migrated, NOW - timedelta(days=30))

    assert done == retention_repo.PruneResult(pruned=1, complete=True)
    assert _keys(migrated) == {"rejected", "held", "failed", "pending", "delivered-recently"}
    assert [row.idempotency_key for row in outbox_repo.rejected_rows(migrated)] == ["rejected"]
    assert [row.idempotency_key for row in outbox_repo.held_rows(migrated)] == ["held"]
    with outbox_repo.open_drain(migrated) as outbox:
        assert [entry.idempotency_key for entry in outbox.pending()] == ["failed", "pending"]
    assert retention_repo.prune_delivered_outbox(migrated, NOW - timedelta(days=30)).pruned == 0, "idempotent"
    assert len(_keys(migrated)) == 5


def test_outbox_deletion_is_batched(migrated):
    created = NOW - timedelta(days=60)
    outbox_repo.insert_entries(migrated, [(f"k{i}", "{}") for i in range(5)], created)
    with outbox_repo.open_drain(migrated) as outbox:
        for entry in outbox.pending():
            outbox.mark_delivered(entry.seq, created, 1, 202)
    assert retention_repo.prune_delivered_outbox(migrated, NOW, batch_size=2, max_batches=1).pruned == 2
    assert _keys(migrated) == {"k2", "k3", "k4"}, "oldest (lowest seq) first"
    assert retention_repo.prune_delivered_outbox(migrated, NOW, batch_size=2) == retention_repo.PruneResult(3, True)
