from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from tokenward.contrib.django import requires


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse(request.tokenward_identity.as_dict())  # type: ignore[attr-defined]


@requires("edit-dns")
def zones(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"zones": ["example.com", "example.net"]})


urlpatterns = [
    path("health", health),
    path("whoami", whoami),
    path("dns/zones", zones),
]
