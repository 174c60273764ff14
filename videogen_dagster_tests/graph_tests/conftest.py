import dagster as dg
import pytest
import yaml

from videogen_dagster.instance import INSTANCE_CONFIG


@pytest.fixture
def instance(tmp_path):
    """A real, temporary Dagster instance configured like the one the project ships."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    overrides = yaml.safe_load(INSTANCE_CONFIG.read_text())
    with dg.instance_for_test(temp_dir=str(home), overrides=overrides) as instance:
        yield instance
