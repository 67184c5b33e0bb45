from .models import ImageModel


def model_list_active():
    return ImageModel.objects.filter(is_active=True)


def model_get_active(*, slug: str) -> ImageModel | None:
    return model_list_active().filter(slug=slug).first()
