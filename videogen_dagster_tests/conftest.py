import os

# No test may reach a public AWS endpoint: a boto3 client given no endpoint of ours goes to a
# closed port on 127.0.0.1 instead (test_render_cli holds this), and never asks EC2 metadata.
os.environ.setdefault("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

pytest_plugins = ["videogen_dagster_tests.fakes.fixtures"]
