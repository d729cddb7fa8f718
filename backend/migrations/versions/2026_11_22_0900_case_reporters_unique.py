"""case reporters: one row per reporter and case (the duplicates a racing "me too" or a merge left go)

Revision ID: 0900_case_reporters_unique
Revises: 0002
Create Date: 2026-11-22 01:20:00+00:00

Two simultaneous "me too" taps by one citizen could both pass the "already following?" check, and a merge
copied every reporter of the duplicate onto the surviving case even when they had reported that one too.
The earliest row of each (case, reporter) stays. A phone caller without a reporter id is not unique —
NULLs are distinct in a unique index — so anonymous hotline calls stay one row each.

The unique index leads with ``case_id``, so it also serves every "reporters of this case" lookup; the
single-column index on ``case_id`` goes (one index less to write at intake).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0900_case_reporters_unique"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        DELETE FROM case_reporters later
         USING case_reporters earlier
         WHERE later.case_id = earlier.case_id
           AND later.reporter_kind = earlier.reporter_kind
           AND later.reporter_id = earlier.reporter_id
           AND (earlier.created_at, earlier.id) < (later.created_at, later.id)
        """
    )
    op.create_index(
        "uq_case_reporters_case_reporter",
        "case_reporters",
        ["case_id", "reporter_kind", "reporter_id"],
        unique=True,
    )
    op.drop_index(op.f("ix_case_reporters_case_id"), table_name="case_reporters")


def downgrade() -> None:
    # The duplicates removed on the way up are not brought back.
    op.create_index(op.f("ix_case_reporters_case_id"), "case_reporters", ["case_id"], unique=False)
    op.drop_index("uq_case_reporters_case_reporter", table_name="case_reporters")
