from django import forms

from .models import Mode

SORTS = [
    ("", "Catalog order"),
    ("price", "Price: low to high"),
    ("-price", "Price: high to low"),
    ("name", "Name"),
]


class ModelFilterForm(forms.Form):
    """The filters of the model index; every field is optional and read from the query string."""

    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Model name"}),
    )
    mode = forms.ChoiceField(label="Mode", required=False)
    provider = forms.ChoiceField(label="Provider", required=False)
    sort = forms.ChoiceField(label="Sort", required=False, choices=SORTS)

    def __init__(self, *args, providers: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["mode"].choices = [("", "All modes"), *Mode.choices]
        self.fields["provider"].choices = [("", "All providers"), *providers.items()]

    def filters(self) -> dict[str, str]:
        """The valid filters as keyword arguments of `model_entries_filtered`; none when invalid."""
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {
            "mode": data["mode"],
            "provider": data["provider"],
            "query": data["q"],
            "sort": data["sort"],
        }
