"""Helpers the tests import: sample inputs, request builders, reply oracles and fakes.

Test modules and conftest files import from here; nothing imports a conftest or a
test module (tests/unit/test_test_imports.py checks it). tests/conftest.py has pytest
rewrite the asserts of these modules, so a failing check shows its values.
"""
