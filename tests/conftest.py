"""Self-tests: the probe helpers get pytest's assertion rewriting, so their failures explain themselves."""

import pytest

pytest.register_assert_rewrite("tests.reference.probes")
