"""runs: the runs table (turns started without a person: queued, running, ended)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

import cowork.store.models

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('runs',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=False),
    sa.Column('workspace', sa.Text(), nullable=False),
    sa.Column('prompt', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('trigger', sa.String(length=200), nullable=True),
    sa.Column('approvals', sa.String(length=10), nullable=False),
    sa.Column('approval_timeout', sa.Float(), nullable=False),
    sa.Column('turn_id', sa.String(length=40), nullable=True),
    sa.Column('owner', sa.String(length=200), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('stop_reason', sa.String(length=40), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('warnings', sa.JSON(), nullable=False),
    sa.Column('deliver', sa.JSON(), nullable=True),
    sa.Column('created_at', cowork.store.models.UTCDateTime(), nullable=False),
    sa.Column('started_at', cowork.store.models.UTCDateTime(), nullable=True),
    sa.Column('ended_at', cowork.store.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index('ix_runs_state_created', ['state', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_session_id'), ['session_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_runs_session_id'))
        batch_op.drop_index('ix_runs_state_created')
    op.drop_table('runs')
