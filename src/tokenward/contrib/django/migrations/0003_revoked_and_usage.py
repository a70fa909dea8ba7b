"""Schema version 3 (``revoked_at``, ``revoked_reason`` and the per-day usage table):
tokenward's own store upgrades its tables, as 0002 did; the admin's model is unchanged."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def upgrade_tables(apps: Any, schema_editor: Any) -> None:
    from tokenward.contrib.django.store import store_url_for_database
    from tokenward.stores.url import open_store

    store = open_store(store_url_for_database(schema_editor.connection.alias))
    try:
        store.migrate()  # idempotent: a schema 0001 just made at version 3 is left as it is
    finally:
        store.close()


class Migration(migrations.Migration):
    atomic = False  # tokenward's store opens its own connection to the same database
    dependencies = [("tokenward", "0002_readonly")]  # noqa: RUF012 - Django's migration format
    operations = [  # noqa: RUF012 - Django's migration format
        migrations.RunPython(upgrade_tables, migrations.RunPython.noop),
    ]
