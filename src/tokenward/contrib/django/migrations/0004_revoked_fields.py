"""The unmanaged model learns of schema version 3's ``revoked_at`` and ``revoked_reason``
columns, which 0003 had tokenward's own store add, so the admin can show them. State only:
Django writes nothing for an unmanaged model."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("tokenward", "0003_revoked_and_usage")]  # noqa: RUF012 - Django's format
    operations = [  # noqa: RUF012 - Django's migration format
        migrations.AddField(
            model_name="token",
            name="revoked_at",
            field=models.BigIntegerField(null=True, verbose_name="revoked (epoch)"),
        ),
        migrations.AddField(
            model_name="token",
            name="revoked_reason",
            field=models.TextField(null=True, verbose_name="revoked because"),
        ),
    ]
