"""schedules: the schedules and schedule_fires tables (triggers that start runs, and each fire once)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

import cowork.store.models

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('schedules',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('workspace', sa.Text(), nullable=False),
    sa.Column('prompt', sa.Text(), nullable=False),
    sa.Column('model', sa.Text(), nullable=True),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('trigger', sa.JSON(), nullable=False),
    sa.Column('overlap', sa.String(length=10), nullable=False),
    sa.Column('missed', sa.String(length=10), nullable=False),
    sa.Column('approvals', sa.String(length=10), nullable=False),
    sa.Column('approval_timeout', sa.Float(), nullable=False),
    sa.Column('allow', sa.JSON(), nullable=False),
    sa.Column('session', sa.String(length=10), nullable=False),
    sa.Column('session_id', sa.String(length=40), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('deliver', sa.JSON(), nullable=True),
    sa.Column('anchor', cowork.store.models.UTCDateTime(), nullable=False),
    sa.Column('next_fire_at', cowork.store.models.UTCDateTime(), nullable=True),
    sa.Column('last_fire_at', cowork.store.models.UTCDateTime(), nullable=True),
    sa.Column('created_at', cowork.store.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', cowork.store.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.create_index('ix_schedules_due', ['enabled', 'next_fire_at'], unique=False)
    op.create_table('schedule_fires',
    sa.Column('schedule_id', sa.String(length=40), nullable=False),
    sa.Column('scheduled_for', cowork.store.models.UTCDateTime(), nullable=False),
    sa.Column('run_id', sa.String(length=40), nullable=True),
    sa.Column('skipped', sa.Text(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', cowork.store.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['schedule_id'], ['schedules.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('schedule_id', 'scheduled_for')
    )


def downgrade() -> None:
    op.drop_table('schedule_fires')
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.drop_index('ix_schedules_due')
    op.drop_table('schedules')
