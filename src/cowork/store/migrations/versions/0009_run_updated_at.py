"""runs.updated_at: when anything a run shows last changed (what run/subscribe follows)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

import cowork.store.models

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('runs', sa.Column('updated_at', cowork.store.models.UTCDateTime(), nullable=True))
    op.execute("UPDATE runs SET updated_at = COALESCE(ended_at, started_at, created_at)")
    op.create_index('ix_runs_updated', 'runs', ['updated_at'])


def downgrade() -> None:
    op.drop_index('ix_runs_updated', table_name='runs')
    op.drop_column('runs', 'updated_at')
