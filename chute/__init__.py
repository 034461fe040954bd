"""chute: self-hosted, Modal-compatible distributed queues, dicts and jobs.

Embedded (an SQLite file, no server) by default; set ``CHUTE_URL=redis://…`` to share them
across machines through Redis or Valkey.
"""

from chute import exception
from chute._client import Client
from chute._version import __version__
from chute.queue import Queue

__all__ = ["Client", "Queue", "__version__", "exception"]
