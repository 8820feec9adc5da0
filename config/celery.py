import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("psc119")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["dispatch"])


@task_prerun.connect
@task_postrun.connect
def _database_connections_checked(sender: object = None, **kwargs: object) -> None:
    """Around each task, as around each request: drop a connection that broke (a restarted PostgreSQL) or
    outlived CONN_MAX_AGE, keep a good one. Celery's own fixup would close it every time (CELERY_DB_REUSE_MAX),
    and every task would open a new PostgreSQL session."""
    from django.db import close_old_connections

    if not getattr(getattr(sender, "request", None), "is_eager", False):  # an eager task runs in the caller's
        close_old_connections()
