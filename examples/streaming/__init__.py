"""A Django project streaming a large export in bounded memory, under ASGI and under WSGI.

`python -m examples.streaming.serve asgi|wsgi FD` serves it (uvicorn or gunicorn) on an
inherited listening socket; `tests/meta/test_streaming_django.py` and the benchmark's
streaming section are its clients. Django itself must be importable (the hatch-test env).
"""
