# Auto-generated from chute/_async/__init__.py by scripts/unasync.py: DO NOT EDIT.
