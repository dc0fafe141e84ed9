"""memories, their embeddings and their full-text index (SQLite FTS5 / PostgreSQL tsvector)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

import cowork.store.models

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# FTS5 (https://www.sqlite.org/fts5.html): a table of its own holding the memory's id (unindexed)
# and text, kept in step with `memories` by triggers; Porter stemming over unicode61 tokens.
_SQLITE = [
    "CREATE VIRTUAL TABLE memories_fts USING fts5(memory_id UNINDEXED, text, tokenize='porter unicode61')",
    "CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN "
    "INSERT INTO memories_fts(memory_id, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN "
    "DELETE FROM memories_fts WHERE memory_id = old.id; END",
    "CREATE TRIGGER memories_fts_update AFTER UPDATE OF text ON memories BEGIN "
    "UPDATE memories_fts SET text = new.text WHERE memory_id = old.id; END",
]
# PostgreSQL's own full-text search (https://www.postgresql.org/docs/15/textsearch-tables.html).
_POSTGRESQL = [
    "ALTER TABLE memories ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
    "CREATE INDEX ix_memories_tsv ON memories USING GIN (tsv)",
]


def upgrade() -> None:
    op.create_table(
        'memories',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('scope', sa.String(length=10), nullable=False),
        sa.Column('workspace', sa.Text(), nullable=True),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('private', sa.Boolean(), nullable=False),
        sa.Column('session_id', sa.String(length=40), nullable=True),
        sa.Column('turn_id', sa.String(length=40), nullable=True),
        sa.Column('created_at', cowork.store.models.UTCDateTime(), nullable=False),
        sa.Column('updated_at', cowork.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_memories_scope', 'memories', ['scope', 'workspace', 'updated_at'])
    op.create_table(
        'memory_vectors',
        sa.Column('memory_id', sa.String(length=40), nullable=False),
        sa.Column('model', sa.String(length=200), nullable=False),
        sa.Column('dim', sa.Integer(), nullable=False),
        sa.Column('vector', sa.LargeBinary(), nullable=False),
        sa.Column('embedded_at', cowork.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['memory_id'], ['memories.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('memory_id'),
    )
    for statement in _SQLITE if op.get_bind().dialect.name == "sqlite" else _POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE memories_fts")
    op.drop_table('memory_vectors')
    op.drop_index('ix_memories_scope', table_name='memories')
    op.drop_table('memories')
