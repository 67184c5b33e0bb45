"""Starter credits are given for a verified email, once per address and account. Accounts
that got them at sign-up, before, are recorded as having had them, with their address."""

import hashlib

import django.db.models.deletion
from django.db import migrations, models


def starter_credits_record(apps, schema_editor):
    LedgerEntry = apps.get_model("accounts", "LedgerEntry")
    StarterCredit = apps.get_model("accounts", "StarterCredit")
    EmailAddress = apps.get_model("account", "EmailAddress")
    hashes = set()
    grants = LedgerEntry.objects.filter(kind="grant", memo="Starter credits").order_by("pk")
    for entry in grants.select_related("account"):
        if StarterCredit.objects.filter(account_id=entry.account_id).exists():
            continue
        email = (
            EmailAddress.objects.filter(user_id=entry.account.user_id)
            .order_by("-primary")
            .values_list("email", flat=True)
            .first()
        )
        email_hash = email and hashlib.sha256(email.strip().lower().encode()).hexdigest()
        StarterCredit.objects.create(
            account_id=entry.account_id,
            entry=entry,
            email_hash=email_hash if email_hash not in hashes else None,
        )
        hashes.add(email_hash)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_webhook_secret"),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [
        migrations.CreateModel(
            name="StarterCredit",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("email_hash", models.CharField(blank=True, max_length=64, null=True, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "account",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="starter_credit",
                        to="accounts.account",
                    ),
                ),
                (
                    "entry",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.ledgerentry",
                    ),
                ),
            ],
        ),
        migrations.RunPython(starter_credits_record, migrations.RunPython.noop),
    ]
