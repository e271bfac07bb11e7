import pytest

from tests.helpers.pages import build_site


@pytest.fixture(scope="session")
def page_site(tmp_path_factory):
    """Result folders of every kind with their pages (tests/helpers/pages.py), built once for
    the page tests and the browser tests."""
    return build_site(tmp_path_factory.mktemp("site"))
