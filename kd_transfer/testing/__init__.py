"""Helpers shared by the test suite (``tests/``) and the subprocesses it starts.

The library never imports this package. :mod:`kd_transfer.testing.helpers` holds tiny
configs, tool subprocesses, a crafted checkpoint payload and :func:`~.helpers.free_port`;
``tests/conftest.py`` turns them into fixtures. Nothing here imports pytest.
"""
