import copy
from typing import Any

from rest_framework import serializers


class RepresentationSerializer(serializers.ModelSerializer):
    """A read-only representation (REST answers, events): its fields are built from the model once per class
    and copied for each use, instead of introspecting the model on every instance (half the cost of an event)."""

    def get_fields(self) -> dict[str, Any]:
        cls = type(self)
        built = cls.__dict__.get("_built_fields")
        if built is None:
            built = super().get_fields()
            cls._built_fields = built  # type: ignore[attr-defined]
        return copy.deepcopy(built)

    @classmethod
    def represent(cls, instance: Any) -> dict[str, Any]:
        """`cls(instance).data` as a plain dict, from one instance of the serializer kept per class: its fields
        are built once per process. (Read-only representations hold no per-use state: no context, no data.)"""
        prototype = cls.__dict__.get("_prototype")
        if prototype is None:
            prototype = cls()
            cls._prototype = prototype  # type: ignore[attr-defined]
        return dict(prototype.to_representation(instance))


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
