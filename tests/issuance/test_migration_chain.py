"""Migration 0101 (card production) sits on one linear chain: exactly one head.

If another migration is added with ``down_revision = "0001"`` the chain forks
and ``python -m settlement migrate`` (upgrade to "head") fails; this test says
so first. Fix: chain the newer migration after the current head.
"""

from alembic.script import ScriptDirectory

from settlement.migrate import alembic_config


def test_one_head_and_card_tables_on_it():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    heads = script.get_heads()
    assert len(heads) == 1, f"the migrations fork into heads {heads}: chain them linearly"
    chain = [rev.revision for rev in script.walk_revisions()]
    assert "0101" in chain and chain[-1] == "0001"
