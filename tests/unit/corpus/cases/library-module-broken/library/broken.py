"""Test module that fails when it is imported: an error for the operator, not a traceback."""

import engine.no_such_helper  # noqa: F401 - the failure under test
