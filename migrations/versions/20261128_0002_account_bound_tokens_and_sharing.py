"""account-bound tokens, case-insensitive user names, location sharing

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 07:00:00

- users: ids are never reused (SQLite: the table is rebuilt with AUTOINCREMENT; PostgreSQL's sequence never
  reused ids), a token_version that every token carries, and user names unique ignoring case.
- location_shares: who lets whom see their locations.
"""

from collections.abc import Sequence
from contextlib import AbstractContextManager

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# BIGINT ids on PostgreSQL (see app/models.py: Id); on SQLite the type is unchanged.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class CaseDuplicateNames(Exception):
    """User names that differ only in case cannot get the case-insensitive unique index."""


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _rebuild_users(autoincrement: bool) -> AbstractContextManager[BatchOperations]:
    if _is_sqlite():
        # Rebuilding `users` drops the old table; with foreign keys on, SQLite would cascade that drop to
        # every location. The pragma only takes effect outside a transaction, hence the autocommit block.
        # It stays off for the rest of this migration connection, which is discarded afterwards.
        with op.get_context().autocommit_block():
            op.execute("PRAGMA foreign_keys=OFF")
        return op.batch_alter_table(
            "users", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        )
    return op.batch_alter_table("users")


def upgrade() -> None:
    duplicates = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM (SELECT 1 FROM users GROUP BY lower(user_name) HAVING count(*) > 1) d")
    )
    if duplicates:
        raise CaseDuplicateNames(
            f"user names are now unique ignoring case, and {duplicates} name(s) exist in several cases"
            " (such as 'Ann' and 'ann'): rename or delete all but one of each, then upgrade again"
        )
    with _rebuild_users(autoincrement=True) as batch_op:
        batch_op.add_column(sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))
        batch_op.drop_constraint("uq_users_user_name", type_="unique")
    op.create_index("uq_users_lower_user_name", "users", [sa.text("lower(user_name)")], unique=True)

    op.create_table(
        "location_shares",
        sa.Column("owner_id", Id, nullable=False),
        sa.Column("viewer_id", Id, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("owner_id <> viewer_id", name=op.f("ck_location_shares_not_self")),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_location_shares_owner_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["viewer_id"], ["users.id"], name=op.f("fk_location_shares_viewer_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("owner_id", "viewer_id", name=op.f("pk_location_shares")),
    )
    op.create_index(
        "ix_location_shares_viewer_id_owner_id", "location_shares", ["viewer_id", "owner_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_location_shares_viewer_id_owner_id", table_name="location_shares")
    op.drop_table("location_shares")
    op.drop_index("uq_users_lower_user_name", table_name="users")
    with _rebuild_users(autoincrement=False) as batch_op:
        batch_op.create_unique_constraint("uq_users_user_name", ["user_name"])
        batch_op.drop_column("token_version")
