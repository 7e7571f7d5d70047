"""What the tests share besides fixtures: plain modules, each named for what it holds.

- ``app``: the app factory with a test configuration, scratch databases per backend,
  migrating and emptying a test database.
- ``engine``: the engine tests' fixed clock, client store and token policy.
- ``oauth2``: the redCORE dialect's URLs, expected bytes, request builders and assertions;
  ``oauth2_forms``: its requests in each credential and token form.
- ``apigee``: the Apigee dialect's URLs and headers, a call through a proxy.
- ``legacy_site``: a redCORE legacy database to import from, the site most tests fill,
  and reading what an import run printed.
- ``passthrough``: the faked legacy site behind the passthrough plugin.
- ``usage``: reading the usage counts.

Fixtures live in conftest files (and in the fixture modules ``pytest_plugins`` names in
tests/conftest.py); tests and fixtures import from here, never from a conftest or from
another test module (tests/test_layout.py checks it). Asserts in these modules are
rewritten like a test's (tests/__init__.py registers the package), so a failing helper
shows its values.
"""
