"""The ASGI entry point: ``uvicorn project.asgi:application`` (or daphne, hypercorn).

Django does not serve ASGI lifespan, so a server never tells it that it is shutting down;
``with_lifespan`` answers lifespan for it, and at shutdown writes the last-used times
tokenward's middleware has not written yet (else up to ``LAST_USED_INTERVAL`` of them are
lost at every stop, as uvicorn's process ends by its signal).
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from tokenward.asgi import with_lifespan
from tokenward.contrib.django import get_authenticator

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# get_authenticator is called at shutdown: the one Django's middleware was built with.
app = application = with_lifespan(get_asgi_application(), get_authenticator)
