"""Fake vendor servers on 127.0.0.1 (OpenAI, Runway, S3 via moto) and their pytest fixtures.

Register the fixtures with ``pytest_plugins = ["videogen_dagster_tests.fakes.fixtures"]``.
"""
