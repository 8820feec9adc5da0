from django.urls import path

from audit.views import PersonalDataReadsView

urlpatterns = [
    path("audit/reads/", PersonalDataReadsView.as_view(), name="audit-reads"),
]
