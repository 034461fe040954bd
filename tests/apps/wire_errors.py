"""The exception class of tests/apps/wire_app.py, in a module of its own: the ``modal`` client
programs of tests/test_modal_wire_jobs.py import it without importing chute (a web backend
sharing its exception classes with its jobs)."""


class WireError(Exception):
    """An exception class of the app's own: the modal client gets this class back."""
