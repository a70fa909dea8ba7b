"""Creates tokenward's table through tokenward's own store, so the schema is the one the
request path reads; the model is unmanaged and only gives the admin a view of it."""

from __future__ import annotations

from typing import Any

from django.db import migrations, models


def create_table(apps: Any, schema_editor: Any) -> None:
    from tokenward.contrib.django.store import store_url_for_database
    from tokenward.stores.url import open_store

    store = open_store(store_url_for_database(schema_editor.connection.alias))
    try:
        store.migrate()  # every store's own schema step (TokenStore.migrate)
    finally:
        store.close()


class Migration(migrations.Migration):
    atomic = False  # tokenward's store opens its own connection to the same database
    initial = True
    dependencies = []  # noqa: RUF012 - Django's migration format
    operations = [  # noqa: RUF012 - Django's migration format
        migrations.RunPython(create_table, migrations.RunPython.noop),
        migrations.CreateModel(
            name="Token",
            fields=[
                (
                    "id",
                    models.CharField(
                        editable=False, max_length=64, primary_key=True, serialize=False
                    ),
                ),
                ("realm", models.CharField(max_length=16)),
                ("username", models.CharField(max_length=128, verbose_name="user")),
                ("name", models.CharField(max_length=50)),
                ("created_at", models.BigIntegerField(verbose_name="created (epoch)")),
                ("expires_at", models.BigIntegerField(null=True, verbose_name="expires (epoch)")),
                ("acls", models.JSONField(verbose_name="ACLs")),
                ("whitelist_ips", models.JSONField(verbose_name="IP allow-list")),
                (
                    "last_used_at",
                    models.BigIntegerField(null=True, verbose_name="last used (epoch)"),
                ),
                (
                    "last_used_ip",
                    models.CharField(max_length=64, null=True, verbose_name="last used from"),
                ),
            ],
            options={
                "verbose_name": "API token",
                "db_table": "tokenward_tokens",
                "ordering": ("realm", "username", "name"),
                "managed": False,
            },
        ),
    ]
