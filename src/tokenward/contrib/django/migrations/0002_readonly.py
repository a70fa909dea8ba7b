"""Schema version 2 (the ``readonly`` column): tokenward's own store upgrades its table, as
0001 had it create the table; the unmanaged model only learns of the column, for the admin."""

from __future__ import annotations

from typing import Any

from django.db import migrations, models


def upgrade_table(apps: Any, schema_editor: Any) -> None:
    from tokenward.contrib.django.store import store_url_for_database
    from tokenward.stores.url import open_store

    store = open_store(store_url_for_database(schema_editor.connection.alias))
    try:
        store.migrate()  # idempotent: a table 0001 just made at version 2 is left as it is
    finally:
        store.close()


class Migration(migrations.Migration):
    atomic = False  # tokenward's store opens its own connection to the same database
    dependencies = [("tokenward", "0001_initial")]  # noqa: RUF012 - Django's migration format
    operations = [  # noqa: RUF012 - Django's migration format
        migrations.RunPython(upgrade_table, migrations.RunPython.noop),
        migrations.AddField(
            model_name="token",
            name="readonly",
            field=models.BooleanField(default=False, verbose_name="read-only"),
        ),
    ]
