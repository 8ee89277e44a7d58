"""Datasets and their rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from app.db.engine import upsert_insert
from app.db.tables import Dataset, DatasetRow


def add(session: Session, **fields: Any) -> Dataset:
    row = Dataset(**fields)
    session.add(row)
    session.flush()
    return row


def get(session: Session, dataset_id: str) -> Dataset | None:
    return session.get(Dataset, dataset_id)


def by_name(session: Session, name: str, owner: str | None) -> Dataset | None:
    return session.scalar(select(Dataset).where(Dataset.name == name, Dataset.owner == owner))


def list_datasets(session: Session, *, owner: str | None, limit: int, offset: int) -> list[Dataset]:
    stmt = (select(Dataset).options(joinedload(Dataset.job))  # the job in the same query
            .order_by(Dataset.created_at).limit(limit).offset(offset))
    if owner is not None:
        stmt = stmt.where(Dataset.owner == owner)
    return list(session.scalars(stmt))


def upload_paths(session: Session) -> list[str]:
    return list(session.scalars(select(Dataset.upload_path)))


def delete(session: Session, row: Dataset) -> None:
    """Its rows and traces go with it (ON DELETE CASCADE)."""
    session.delete(row)
    session.flush()


def insert_rows(session: Session, dataset_id: str, rows: list[dict[str, Any]]) -> None:
    """Idempotent on (dataset, ordinal): a re-run ingest adds nothing twice."""
    if not rows:
        return
    insert = upsert_insert(session)
    stmt = insert(DatasetRow).values([{**r, "dataset_id": dataset_id} for r in rows])
    session.execute(stmt.on_conflict_do_nothing(index_elements=["dataset_id", "ordinal"]))


def rows_in_range(session: Session, dataset_id: str, lo: int, hi: int, columns: tuple[str, ...]
                  ) -> list[Any]:
    """Rows with lo <= ordinal < hi: keyset pages keep memory bounded on large datasets."""
    cols = [getattr(DatasetRow, c) for c in columns]
    stmt = (select(*cols).where(DatasetRow.dataset_id == dataset_id, DatasetRow.ordinal >= lo,
                                DatasetRow.ordinal < hi).order_by(DatasetRow.ordinal))
    return list(session.execute(stmt))


def rows_by_ordinal(session: Session, dataset_id: str, ordinals: list[int]) -> list[DatasetRow]:
    stmt = select(DatasetRow).where(DatasetRow.dataset_id == dataset_id,
                                    DatasetRow.ordinal.in_(ordinals)).order_by(DatasetRow.ordinal)
    return list(session.scalars(stmt))


def set_clusters(session: Session, assignments: list[tuple[int, int]]) -> None:
    """Bulk UPDATE by primary key: [(row id, cluster)]."""
    if assignments:
        session.execute(update(DatasetRow), [{"id": i, "cluster": c} for i, c in assignments])
