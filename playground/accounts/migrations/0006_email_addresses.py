"""Users from before allauth keep their email: each gets it as their primary address, not yet
verified (card payments ask them to verify it)."""

from django.conf import settings
from django.db import migrations


def email_addresses_create(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    EmailAddress = apps.get_model("account", "EmailAddress")
    EmailAddress.objects.bulk_create(
        EmailAddress(user_id=user_id, email=email.lower(), primary=True, verified=False)
        for user_id, email in User.objects.exclude(email="")
        .filter(emailaddress__isnull=True)
        .values_list("pk", "email")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_card_payments"),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [migrations.RunPython(email_addresses_create, migrations.RunPython.noop)]
