"""Helpers shared by test modules. Test modules import from here (or use fixtures), never from each other
or from a conftest: tests/test_test_layout.py holds that line."""
