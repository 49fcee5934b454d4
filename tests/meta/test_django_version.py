"""Each leg of the matrix runs the real-client tests with the Django its Python gets today."""

from __future__ import annotations

import sys

import django


def test_the_django_of_this_python() -> None:
    """6.1 on 3.12+ (it needs 3.12), the 5.2 LTS on 3.10-3.11, 4.2 LTS on 3.9."""
    if sys.version_info >= (3, 12):
        expected = (6, 1)
    elif sys.version_info >= (3, 10):
        expected = (5, 2)
    else:
        expected = (4, 2)
    assert django.VERSION[:2] == expected, django.get_version()
