"""webhooks: the webhooks and webhook_deliveries tables (triggers over HTTP, and replays refused)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

import cowork.store.models

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('webhooks',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('workspace', sa.Text(), nullable=False),
    sa.Column('prompt', sa.Text(), nullable=False),
    sa.Column('model', sa.Text(), nullable=True),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('approvals', sa.String(length=10), nullable=False),
    sa.Column('approval_timeout', sa.Float(), nullable=False),
    sa.Column('allow', sa.JSON(), nullable=False),
    sa.Column('session', sa.String(length=10), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=True),
    sa.Column('auth', sa.String(length=10), nullable=False),
    sa.Column('rate_per_minute', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('deliver', sa.JSON(), nullable=True),
    sa.Column('created_at', cowork.store.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', cowork.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('webhook_deliveries',
    sa.Column('webhook_id', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('run_id', sa.String(length=40), nullable=True),
    sa.Column('received_at', cowork.store.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['webhook_id'], ['webhooks.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('webhook_id', 'key')
    )


def downgrade() -> None:
    op.drop_table('webhook_deliveries')
    op.drop_table('webhooks')
