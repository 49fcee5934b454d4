"""The demo: one uvicorn server showing every asgi-* package at work.

Run it with `hatch run demo:run` (or `python -m examples.demo --port 8000`).
"""

from __future__ import annotations

__all__ = ("build_app",)

from examples.demo.app import build_app as build_app
