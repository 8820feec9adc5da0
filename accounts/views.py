from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from drf_spectacular.utils import extend_schema
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from accounts.serializers import TokenRequestSerializer, TokenSerializer


class LoginThrottle(AnonRateThrottle):
    rate = "20/min"


class TokenView(APIView):
    """POST {"username", "password"} → {"token"}; send it as `Authorization: Token <token>`."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [LoginThrottle]

    def get_authenticate_header(self, request: Request) -> str:
        # Without authentication classes DRF would turn a wrong password into a 403; the contract wants 401.
        return "Token"

    @extend_schema(request=TokenRequestSerializer, responses=TokenSerializer)
    def post(self, request: Request) -> Response:
        body = TokenRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = authenticate(request._request, **body.validated_data)
        if user is None or not user.is_active:
            raise AuthenticationFailed("Wrong username or password.")
        token, _ = Token.objects.get_or_create(user=user)
        # A token is a login: last_login moves, and the login throttle's failure count starts again.
        user_logged_in.send(sender=type(user), request=request._request, user=user)
        return Response({"token": token.key})
