"""The small models of ``tests/small_models.py`` as fixtures of these tests."""

from tests.small_models import any_model, aot_model, deaot_model  # noqa: F401
