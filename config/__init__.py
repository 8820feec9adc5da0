# Load the Celery app with Django, so that tasks sent from web processes go to the configured broker
# (without it they would use Celery's default app and its default broker, and never reach the workers).
from config.celery import app as celery_app

__all__ = ("celery_app",)
