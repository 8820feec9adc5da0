"""Settings read from the environment. Embedded defaults (SQLite, a local Redis) serve `make run`."""

import sys
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        # Without a key from the environment a throwaway one is made per data dir, never committed.
        _key_file = Path(env("PSC_VAR_DIR", default=str(BASE_DIR / "var"))) / "secret_key"
        _key_file.parent.mkdir(parents=True, exist_ok=True)
        if not _key_file.exists():
            from django.core.management.utils import get_random_secret_key

            _key_file.write_text(get_random_secret_key())
            _key_file.chmod(0o600)
        SECRET_KEY = _key_file.read_text().strip()
    else:
        SECRET_KEY = "insecure-development-key"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
VAR_DIR = Path(env("PSC_VAR_DIR", default=str(BASE_DIR / "var")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "channels",
    "geo",
    "fleet",
    "calls",
    "accounts",
    "audit",
    "dispatch",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.PreferredLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'psc119.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite has no row locks: IMMEDIATE transactions make writers queue, so the same invariants hold.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # A pool per web process keeps the connections of its threads (the HTTP threads, the WebSocket relays'
    # database_sync_to_async threads, which come and go): it grows to DATABASE_POOL_SIZE only while that many
    # threads query at once, and opening a PostgreSQL session costs ~6 ms. Not in Celery's processes:
    # its Django fixup closes the connection, and a pool with it, around every task, so a pool there only
    # doubled the sessions each task opens (its own plus the pool's minimum).
    _celery_process = Path(sys.argv[0]).name == "celery"
    # Parameters bound by the server, and a statement run five times on a connection prepared there: PostgreSQL
    # no longer parses and plans each of a call's ~40 statements anew (its CPU per call -33 %). A transaction-mode
    # pooler must keep prepared statements (PgBouncer >= 1.21 with max_prepared_statements), or turn this off.
    if env.bool("DATABASE_SERVER_SIDE_BINDING", default=True):
        DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
    if (pool_size := env.int("DATABASE_POOL_SIZE", default=16)) > 0 and not _celery_process:
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections; Django must not
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": pool_size,
            # A request waits at most this long for a connection: an outage answers fast, not after 10 s.
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=3.0),
        }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "id"
LANGUAGES = [("id", "Bahasa Indonesia"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", default="Asia/Jakarta")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Leaflet ships in a Python package (XStatic), served from our own static files, never a CDN: {% static "leaflet/leaflet.js" %}.
import xstatic.pkg.leaflet  # noqa: E402

STATICFILES_DIRS = [("leaflet", xstatic.pkg.leaflet.BASE_DIR)]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Bodies beyond this are refused with 400 before any parsing (1 MB notes included).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=512 * 1024)

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py 8 gives up on a read after 5 s by default, the very time channels_redis blocks waiting
            # for a message: a stream quiet for 5 s (a crew waiting for work) would die with "Timeout reading".
            # Give the blocking pop room; a dead Redis is still noticed within this time.
            "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
            "prefix": env("CHANNELS_PREFIX", default="psc119"),
            "capacity": 1000,
            "expiry": 30,
        },
    }
}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fixup closes the database connection around every task unless told to reuse it; config/celery.py
# checks it around each task instead, as Django does around requests (broken or older than CONN_MAX_AGE: closed).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1_000_000)
# Django runs each ASGI request's sync code in a thread of its own, and Celery keeps its result backend per
# thread unless told it is thread-safe: every request that sent a task paid ~5 ms (an entry-points scan)
# to build a backend it never uses. The (disabled) backend is safe to share.
CELERY_RESULT_BACKEND_THREAD_SAFE = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "socket_timeout": 5,
    "socket_connect_timeout": 5,
}
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="dispatch")
CELERY_BEAT_SCHEDULE = {
    "dispatch-sweep": {"task": "dispatch.tasks.sweep", "schedule": env.float("SWEEP_SECONDS", default=10.0)},
    "personal-data-retention": {"task": "dispatch.tasks.erase_expired_personal_data", "schedule": 3600.0},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["accounts.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "accounts.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PSC 119 dispatch API",
    "VERSION": "1",
    "DESCRIPTION": "Calls, incidents, units and assignments for an ambulance control room.",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Dispatch policy -------------------------------------------------------------------------
DISPATCH = {
    "ACK_TIMEOUT_SECONDS": env.int("DISPATCH_ACK_TIMEOUT_SECONDS", default=60),
    # Priority 1 prefers ALS: a BLS unit is counted this much slower when ranking for priority 1.
    "ALS_PREFERENCE_SECONDS": env.int("DISPATCH_ALS_PREFERENCE_SECONDS", default=180),
    # Response plans (dispatch/plans.py): priority 1 takes a BLS unit only when the nearest ALS is more than this
    # further; several units (at most MAX_UNITS_PER_INCIDENT) when the patients outnumber one unit's capacity.
    "ALS_MARGIN_SECONDS": env.int(
        "DISPATCH_ALS_MARGIN_SECONDS", default=env.int("DISPATCH_ALS_PREFERENCE_SECONDS", default=180)
    ),
    "MAX_UNITS_PER_INCIDENT": env.int("DISPATCH_MAX_UNITS_PER_INCIDENT", default=3),
    # A unit not on scene this long after its ETA (from departure, else assignment) raises one `late` alert.
    "LATE_MARGIN_SECONDS": env.int("DISPATCH_LATE_MARGIN_SECONDS", default=180),
    # Priority 1 may take a unit on its way to priority 3 when it arrives this much sooner; 0 = never.
    "PREEMPT_SAVING_SECONDS": env.int("DISPATCH_PREEMPT_SAVING_SECONDS", default=0),
    # Policy "coverage": among candidates within this many seconds of the best, send the one whose departure
    # leaves the least demand uncovered within the target time (also the move-up target).
    "COVERAGE_TOLERANCE_SECONDS": env.int("DISPATCH_COVERAGE_TOLERANCE_SECONDS", default=60),
    "COVERAGE_TARGET_SECONDS": env.int("DISPATCH_COVERAGE_TARGET_SECONDS", default=480),
    # Expected coverage (MEXCLP): the chance a unit is busy when called.
    "COVERAGE_BUSY_FRACTION": env.float("DISPATCH_COVERAGE_BUSY_FRACTION", default=0.3),
    # Expected call-to-departure time: a unit covers a place when its road time there is within the target
    # less this (coverage, move-up, posting plan).
    "COVERAGE_TURNOUT_SECONDS": env.int("DISPATCH_COVERAGE_TURNOUT_SECONDS", default=90),
    # Move-up: a unit waiting at its post is moved only within this drive, unless that covers an uncovered
    # kecamatan (a unit on its way back may be sent anywhere).
    "MOVEUP_MAX_TRAVEL_SECONDS": env.int("DISPATCH_MOVEUP_MAX_TRAVEL_SECONDS", default=600),
    # Move-up (GET /api/v1/moveup/): at most this many idle units moved to other posts per plan.
    "MOVEUP_MAX_MOVES": env.int("DISPATCH_MOVEUP_MAX_MOVES", default=3),
    # unit.moved is told at most this often per unit (positions are all stored; the newest is always on the unit).
    "UNIT_MOVED_MIN_SECONDS": env.float("DISPATCH_UNIT_MOVED_MIN_SECONDS", default=1.0),
    "DUPLICATE_WINDOW_SECONDS": env.int("DISPATCH_DUPLICATE_WINDOW_SECONDS", default=1800),
    "DUPLICATE_DISTANCE_M": env.float("DISPATCH_DUPLICATE_DISTANCE_M", default=250.0),
    "POSITION_STALE_SECONDS": env.int("DISPATCH_POSITION_STALE_SECONDS", default=600),
    "REPLAY_MAX_EVENTS": env.int("DISPATCH_REPLAY_MAX_EVENTS", default=5000),
    "STUCK_PENDING_SECONDS": env.int("DISPATCH_STUCK_PENDING_SECONDS", default=15),
    # Which ranking auto-dispatch uses: a name registered in dispatch/policies.py ("road", "straight", ...).
    "POLICY": env("DISPATCH_POLICY", default="road"),
}
# Callers' numbers, names and notes are erased from closed incidents after this many days (0 keeps them).
PERSONAL_DATA_RETENTION_DAYS = env.int("PERSONAL_DATA_RETENTION_DAYS", default=365)
# Who read personal data (audit.PersonalDataRead) is kept this many days, longer than the data (0 keeps it).
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=730)
# Each server process marks its open streams' reads as still open this often; a stream not marked for three
# periods (its process died) is closed by the sweep at the last mark.
AUDIT_STREAM_HEARTBEAT_SECONDS = env.float("AUDIT_STREAM_HEARTBEAT_SECONDS", default=60.0)

# --- The crew's phone (/crew/) ---------------------------------------------------------------
CREW = {
    # Positions are batched and sent this often; fixes less accurate than MAX_ACCURACY_M are dropped.
    "POSITION_INTERVAL_SECONDS": env.float("CREW_POSITION_INTERVAL_SECONDS", default=5.0),
    "MAX_ACCURACY_M": env.float("CREW_MAX_ACCURACY_M", default=100.0),
    # How often a phone retries what it could not send (besides when the network comes back).
    "RETRY_SECONDS": env.float("CREW_RETRY_SECONDS", default=10.0),
}

# --- Web Push: a new job rings the crew's phone with the app closed (dispatch/push.py) -------------
WEBPUSH = {
    # The server's VAPID key: a PEM file's path (made on first use when missing: one per data dir; give every
    # server the same one when scaling out), the PEM text itself, or "off".
    "VAPID_PRIVATE_KEY": env("WEBPUSH_VAPID_PRIVATE_KEY", default=str(VAR_DIR / "webpush-vapid.pem")),
    # Who the push services may contact about this server (RFC 8292): a mailto: or https: address of the operator.
    "SUBJECT": env("WEBPUSH_SUBJECT", default="mailto:psc119@localhost"),
    # Only these push services (and their subdomains) are ever posted to: phones cannot point the server elsewhere.
    "PUSH_HOSTS": env.list(
        "WEBPUSH_PUSH_HOSTS",
        default=["fcm.googleapis.com", "push.services.mozilla.com", "push.apple.com", "notify.windows.com"],
    ),
    "REQUIRE_HTTPS": env.bool("WEBPUSH_REQUIRE_HTTPS", default=True),
    "TIMEOUT_SECONDS": env.float("WEBPUSH_TIMEOUT_SECONDS", default=5.0),
}

# --- Geography and routing -------------------------------------------------------------------
GEO = {
    # Geodesic fallback: straight line x circuity at an assumed urban ambulance speed.
    "CIRCUITY_FACTOR": env.float("GEO_CIRCUITY_FACTOR", default=1.4),
    "URBAN_SPEED_KMH": env.float("GEO_URBAN_SPEED_KMH", default=30.0),
    # "osrm" (in-process, the network built into OSRM_DATA; geodesic until one is), "osrm-http" or "" (geodesic).
    "ROAD_ENGINE": env("ROAD_ENGINE", default="osrm"),
    # Road network data directory (build_road_network writes builds/ and a `current` pointer there).
    "OSRM_DATA": env("OSRM_DATA", default=str(VAR_DIR / "osrm")),
    "OSRM_URL": env("OSRM_URL", default=""),
    "OSRM_TIMEOUT_SECONDS": env.float("OSRM_TIMEOUT_SECONDS", default=2.0),
    "OSRM_RELOAD_CHECK_SECONDS": env.float("OSRM_RELOAD_CHECK_SECONDS", default=2.0),
    # osrm-http only, when OSRM_DATA does not hold the server's network: its fastest road class, km/h.
    "OSRM_TOP_SPEED_KMH": env.float("OSRM_TOP_SPEED_KMH", default=0.0),
    # A point farther than this from any road is not routed (geodesic); nearer ones cover the gap off-road.
    "MAX_SNAP_M": env.float("ROAD_MAX_SNAP_M", default=1000.0),
    "OFFROAD_SPEED_KMH": env.float("ROAD_OFFROAD_SPEED_KMH", default=20.0),
    "SERVICE_AREA_BUFFER_M": env.float("SERVICE_AREA_BUFFER_M", default=500.0),
    # Geocoding: the offline gazetteer always; a self-hosted Nominatim/Photon only when GEOCODER is set.
    "GEOCODER": env("GEOCODER", default=""),  # "", "nominatim" or "photon"
    "GEOCODER_URL": env("GEOCODER_URL", default=""),  # e.g. http://127.0.0.1:8088
    "GEOCODER_TIMEOUT": env.float("GEOCODER_TIMEOUT", default=3.0),
    "GEOCODER_USER_AGENT": env("GEOCODER_USER_AGENT", default="psc119-dispatch"),
    "GEOCODER_COUNTRY": env("GEOCODER_COUNTRY", default="id"),
    # A gazetteer match this good is used without asking the remote geocoder; below MIN it is not used.
    "GEOCODE_CONFIDENT_SCORE": env.float("GEOCODE_CONFIDENT_SCORE", default=90.0),
    "GEOCODE_MIN_SCORE": env.float("GEOCODE_MIN_SCORE", default=80.0),
    "DEFAULT_PHONE_REGION": env("DEFAULT_PHONE_REGION", default="ID"),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}

# --- Security ----------------------------------------------------------------------------------
# PSC_ENV=production (behind the TLS-terminating proxy of deploy/) makes the secrets mandatory and turns every
# safe default on; each stays overridable. `manage.py check --deploy` is clean with deploy/psc119.env.example.
PRODUCTION = env("PSC_ENV", default="") == "production"
if PRODUCTION:
    from django.core.exceptions import ImproperlyConfigured

    _required = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS")
    _missing = [name for name in _required if not env(name, default="")]
    if _missing or DEBUG:
        raise ImproperlyConfigured(
            f"PSC_ENV=production needs DEBUG off and {', '.join(_missing) or 'nothing else'} from the environment"
        )
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=PRODUCTION)
    CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=PRODUCTION)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
    # The health checks answer plain HTTP on the loopback, for the proxy, systemd and monitoring.
    SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^readyz/?$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if PRODUCTION else 0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=PRODUCTION)
    _behind_proxy = env.bool("BEHIND_PROXY", default=PRODUCTION)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _behind_proxy else None
SESSION_COOKIE_HTTPONLY = True
SESSION_ENGINE = "accounts.sessions"  # the database engine, minus cookies no session key can be
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# Login throttling (django-axes): LOGIN_FAILURE_LIMIT failed logins for one username from one address lock that
# pair out for LOGIN_COOLOFF_MINUTES, on /login/ and the token endpoint alike (accounts/lockout.py answers).
# Behind the proxy the address is the client's: uvicorn runs with --proxy-headers (deploy/).
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = ["accounts.lockout.LockoutBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_COOLOFF_MINUTES", default=15.0) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"

# Publishing to a broker that is down must not hold a request for long: the sweeper re-drives the work.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    "UnitStatusEnum": "fleet.models.UnitStatus",
    "AssignmentStatusEnum": "dispatch.models.AssignmentStatus",
    "IncidentStatusEnum": "calls.models.IncidentStatus",
    "PlaceKindEnum": "geo.serializers.PLACE_KINDS",
    "UnitKindEnum": "fleet.models.Unit.Kind",
}
SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"] = ["rest_framework.permissions.IsAuthenticated"]

# --- Screens (maps) --------------------------------------------------------------------------
# Empty (the default, and offline): the maps draw our own kecamatan/kelurahan outlines (and roads, when
# MAP_ROADS_GEOJSON names a GeoJSON file of road lines). A tile URL such as
# "https://tiles.example.id/{z}/{x}/{y}.png" switches them to that tile server.
MAP_TILE_URL = env("MAP_TILE_URL", default="")
MAP_TILE_ATTRIBUTION = env("MAP_TILE_ATTRIBUTION", default="")
MAP_ROADS_GEOJSON = env("MAP_ROADS_GEOJSON", default="")
