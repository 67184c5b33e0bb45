from django.apps import AppConfig
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save


class AccountsConfig(AppConfig):
    name = "playground.accounts"
    label = "accounts"

    def ready(self):
        from allauth.account.signals import email_confirmed, user_signed_up

        from .adapters import starter_credits_on_verification, welcome
        from .models import ApiKey
        from .services import api_key_forget_deleted, api_key_forget_users

        post_delete.connect(api_key_forget_deleted, sender=ApiKey, dispatch_uid="api-key-forget")
        post_save.connect(
            api_key_forget_users, sender=get_user_model(), dispatch_uid="api-key-forget-user"
        )
        user_signed_up.connect(welcome, dispatch_uid="accounts-welcome")
        email_confirmed.connect(starter_credits_on_verification, dispatch_uid="starter-credits")
