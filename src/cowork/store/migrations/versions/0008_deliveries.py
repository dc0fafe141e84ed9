"""deliveries: each delivery of a run's outcome, once per run, channel and event

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

import cowork.store.models

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('deliveries',
    sa.Column('run_id', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=10), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('next_attempt_at', cowork.store.models.UTCDateTime(), nullable=True),
    sa.Column('created_at', cowork.store.models.UTCDateTime(), nullable=False),
    sa.Column('sent_at', cowork.store.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'channel', 'event')
    )


def downgrade() -> None:
    op.drop_table('deliveries')
