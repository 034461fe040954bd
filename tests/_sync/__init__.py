# Auto-generated from tests/_async/__init__.py by scripts/unasync.py: DO NOT EDIT.
