"""The WSGI application, as ``startproject`` writes it (granian: dot_project.wsgi:application)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dot_project.settings")

application = get_wsgi_application()
