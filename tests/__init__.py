"""The test suite, a package: tests/plugins/... must not shadow the top-level ``plugins``.

The helpers in tests/support/ assert like tests do; registered here, before anything
imports them, pytest rewrites their asserts so that a failure shows the values.
"""

import pytest

pytest.register_assert_rewrite("tests.support")
