"""memory_vectors.embedded_at indexed: the vector index's freshness check (newest embedding time) is
an index lookup, not a scan of every vector

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_memory_vectors_embedded_at', 'memory_vectors', ['embedded_at'])


def downgrade() -> None:
    op.drop_index('ix_memory_vectors_embedded_at', table_name='memory_vectors')
