"""The admin's read-only window on tokenward's table. Unmanaged: tokenward's store owns the
table, and this model has no field for the digest or the verifier, so the admin cannot
show them. Requests never go through it."""

from __future__ import annotations

from django.db import models


class Token(models.Model):
    id = models.CharField(primary_key=True, max_length=64, editable=False)
    realm = models.CharField(max_length=16)
    username = models.CharField("user", max_length=128)
    name = models.CharField(max_length=50)
    created_at = models.BigIntegerField("created (epoch)")
    expires_at: models.BigIntegerField[int | None, int | None] = models.BigIntegerField(
        "expires (epoch)", null=True
    )
    acls = models.JSONField("ACLs")
    whitelist_ips = models.JSONField("IP allow-list")
    last_used_at: models.BigIntegerField[int | None, int | None] = models.BigIntegerField(
        "last used (epoch)", null=True
    )
    last_used_ip: models.CharField[str | None, str | None] = models.CharField(
        "last used from", max_length=64, null=True
    )
    readonly = models.BooleanField("read-only", default=False)
    # Schema version 3: a token revoked in place (reported leaked) keeps its row, marked.
    revoked_at: models.BigIntegerField[int | None, int | None] = models.BigIntegerField(
        "revoked (epoch)", null=True
    )
    revoked_reason: models.TextField[str | None, str | None] = models.TextField(
        "revoked because", null=True
    )

    class Meta:
        managed = False
        db_table = "tokenward_tokens"
        ordering = ("realm", "username", "name")
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.realm}:{self.username}/{self.name}"
