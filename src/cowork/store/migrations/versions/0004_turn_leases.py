"""turn leases: the turn_leases table (who runs a running turn, until when, which attempt)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

import cowork.store.models

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('turn_leases',
    sa.Column('turn_id', sa.String(length=40), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('expires_at', cowork.store.models.UTCDateTime(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('turn_id')
    )


def downgrade() -> None:
    op.drop_table('turn_leases')
