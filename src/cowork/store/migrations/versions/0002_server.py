"""server: client message ids, turn owners, session listing indexes, compacted_by

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_message_id', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('owner', sa.String(length=200), nullable=True))
        batch_op.create_index('uq_turns_session_client_message', ['session_id', 'client_message_id'], unique=True)

    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.create_index('ix_sessions_created', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_sessions_workspace_created', ['workspace_id', 'created_at', 'id'], unique=False)

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('compacted_by', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('compacted_by')

    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_sessions_workspace_created')
        batch_op.drop_index('ix_sessions_created')

    with op.batch_alter_table('turns', schema=None) as batch_op:
        batch_op.drop_index('uq_turns_session_client_message')
        batch_op.drop_column('owner')
        batch_op.drop_column('client_message_id')
