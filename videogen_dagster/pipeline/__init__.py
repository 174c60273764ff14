"""The pipeline's steps as plain functions over the store and a ``Generator``.

The Dagster assets in ``videogen_dagster.defs`` are thin wrappers over these, so each step can
be read, tested and reused without an orchestrator.
"""
