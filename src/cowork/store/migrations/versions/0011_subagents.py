"""sessions.parent_*: a subagent's session, linked to the parent session, turn and tool call that
spawned it, with its task, its defined agent and the tools it may use

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_COLUMNS = ('parent_session_id', 'parent_turn_id', 'parent_item_id', 'agent_task', 'agent_name', 'agent_tools',
            'agent_instructions')


def upgrade() -> None:
    # No foreign key: SQLite cannot add one to an existing table without rebuilding it (and a
    # rebuild of `sessions` would cascade). Store.delete_session deletes a parent's subagents.
    op.add_column('sessions', sa.Column('parent_session_id', sa.String(length=40), nullable=True))
    op.add_column('sessions', sa.Column('parent_turn_id', sa.String(length=40), nullable=True))
    op.add_column('sessions', sa.Column('parent_item_id', sa.String(length=40), nullable=True))
    op.add_column('sessions', sa.Column('agent_task', sa.Text(), nullable=True))
    op.add_column('sessions', sa.Column('agent_name', sa.Text(), nullable=True))
    op.add_column('sessions', sa.Column('agent_tools', sa.JSON(), nullable=True))
    op.add_column('sessions', sa.Column('agent_instructions', sa.Text(), nullable=True))
    # Listings leave subagents out (parent_session_id IS NULL) and walk an index in order.
    op.create_index('ix_sessions_parent', 'sessions', ['parent_session_id', 'created_at', 'id'])
    op.drop_index('ix_sessions_workspace_created', table_name='sessions')
    op.create_index('ix_sessions_workspace_created', 'sessions',
                    ['workspace_id', 'parent_session_id', 'created_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_sessions_workspace_created', table_name='sessions')
    op.create_index('ix_sessions_workspace_created', 'sessions', ['workspace_id', 'created_at', 'id'])
    op.drop_index('ix_sessions_parent', table_name='sessions')
    for column in reversed(_COLUMNS):
        op.drop_column('sessions', column)
