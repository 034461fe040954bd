# Auto-generated from chute/backends/_async/__init__.py by scripts/unasync.py: DO NOT EDIT.
