"""The site-wide pages' one form: where `/` takes a signed-in user (views.home)."""

from django import forms


class StartForm(forms.Form):
    HOME = "home"
    PLAYGROUND = "playground"

    start = forms.ChoiceField(
        choices=[(HOME, "The front page"), (PLAYGROUND, "The playground")],
        widget=forms.HiddenInput,
    )
