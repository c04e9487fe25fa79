"""A calendar connection's user must own its provider account (PostgreSQL; SQLite, the demo default, skips it).

calendar_connections keeps user_id for the seed's per-user index; this composite foreign key makes the
database refuse a connection that pairs one person with another person's credentials. Deferred, like
Django's own foreign keys, so cascading deletes in one transaction still work.
"""

from django.db import migrations

from calsync.lib.migrations import PostgresOnlySQL

CREATE = """
ALTER TABLE provider_accounts
    ADD CONSTRAINT provider_accounts_id_user_key UNIQUE (id, user_id);
ALTER TABLE calendar_connections
    ADD CONSTRAINT calendar_connections_account_owner_fk
    FOREIGN KEY (account_id, user_id) REFERENCES provider_accounts (id, user_id)
    DEFERRABLE INITIALLY DEFERRED;
"""

DROP = """
ALTER TABLE calendar_connections DROP CONSTRAINT IF EXISTS calendar_connections_account_owner_fk;
ALTER TABLE provider_accounts DROP CONSTRAINT IF EXISTS provider_accounts_id_user_key;
"""


class Migration(migrations.Migration):
    dependencies = [("connections", "0001_initial")]

    operations = [PostgresOnlySQL(CREATE, reverse_sql=DROP)]
