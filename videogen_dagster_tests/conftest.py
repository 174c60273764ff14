pytest_plugins = ["videogen_dagster_tests.fakes.fixtures"]
