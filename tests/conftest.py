"""pytest rewrites the asserts of the helper modules as it does a test module's, so
that a failing check in a shared builder or oracle shows the values it compared."""

import pytest

pytest.register_assert_rewrite(
    "tests.helpers",
    "tests.e2e.site",
    "tests.e2e.leases",
    "tests.e2e.daemon_host",
    "tests.conformance.guest",
)
