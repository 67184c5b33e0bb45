from django.apps import AppConfig
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save


class AccountsConfig(AppConfig):
    name = "playground.accounts"
    label = "accounts"

    def ready(self):
        from .models import ApiKey
        from .services import api_key_forget_deleted, api_key_forget_users

        post_delete.connect(api_key_forget_deleted, sender=ApiKey, dispatch_uid="api-key-forget")
        post_save.connect(
            api_key_forget_users, sender=get_user_model(), dispatch_uid="api-key-forget-user"
        )
