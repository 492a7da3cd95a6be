"""The HTML side of dreamweb: the ``web`` blueprint and what its pages are made of.

views.py    routes only (the blueprint ``bp``)
forms.py    the dream form (Flask-WTF) with the one prompt rule of ``dreamweb.validators``
history.py  this browser's dreams, kept in the signed session cookie
status.py   what a dream's status page and fragment show (stage labels, orientation)
"""

from __future__ import annotations

from dreamweb.web.views import bp

__all__ = ["bp"]
