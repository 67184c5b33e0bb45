from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm


class SignUpForm(UserCreationForm):
    email = forms.EmailField(
        required=False, help_text="Optional, for receipts and password resets."
    )

    class Meta:
        model = get_user_model()
        fields = ("username", "email")
