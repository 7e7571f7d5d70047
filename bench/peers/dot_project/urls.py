"""DOT's endpoints at /o/ (the token URL is /o/token/), as its tutorial includes them, and
/healthz for the benchmark's readiness check."""

from django.http import HttpResponse
from django.urls import include
from django.urls import path


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("healthz", healthz),
]
