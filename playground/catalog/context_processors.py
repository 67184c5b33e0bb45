from django.utils.functional import SimpleLazyObject

from .cache import catalog_version as current_version


def catalog_version(request):
    """The catalog's version, for the keys of kept fragments that show the catalog: read from
    the cache once per page that uses it, however many cards it includes."""
    return {"catalog_version": SimpleLazyObject(current_version)}
