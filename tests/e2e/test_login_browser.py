import pytest

from accounts.models import Role
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e]


def test_login_page_speaks_indonesian_by_default_and_logs_a_dispatcher_in(
    stack, browser, login_page, transactional_db
):
    UserFactory(username="disp-browser", role=Role.DISPATCHER)
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.goto(f"{stack.base_url}/login/")
    assert page.locator("html").get_attribute("lang") == "id"
    assert page.get_by_role("button", name="Masuk").is_visible()
    page.close()
    home = login_page(context, "disp-browser")
    assert "disp-browser" in home.content()
    context.close()
