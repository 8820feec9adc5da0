# The browser sweep (test_screens_xss.py) drives the real stack with the e2e suite's own fixtures.
from tests.e2e.conftest import browser, login_page, stack, token_for  # noqa: F401
