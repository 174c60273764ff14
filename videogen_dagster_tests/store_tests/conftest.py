from videogen_dagster_tests.graph_tests.conftest import instance  # noqa: F401  (the fixture)
