"""A whole render against the remote backends, all on loopback: OpenAI planning and images and
Runway clips from our fake servers (through the real clients), files in S3 (moto's server).
"""

import json

import dagster as dg
import pytest

from videogen_dagster.commands import render_job
from videogen_dagster.defs.partitions import videos
from videogen_dagster.defs.resources import InboxResource, StoreResource
from videogen_dagster.defs.sensors import spec_inbox_sensor
from videogen_dagster.media import probe_bytes
from videogen_dagster.pipeline.specs import register_spec_file
from videogen_dagster.store import layout
from videogen_dagster.store.s3 import S3Store
from videogen_dagster_tests.graph_tests.support import write_spec

PLANNED = "prompt: A fox crosses a frozen river at dawn\nduration: 10\nfps: 12\nmusic: false\n"


def remote_run_config(store_uri, s3_endpoint, openai_server, runway_server):
    return {
        "resources": {
            "store": {"config": {"uri": store_uri, "s3_endpoint_url": s3_endpoint}},
            "generation": {
                "config": {
                    "planner": "openai",
                    "images": "openai",
                    "clips": "runway",
                    "openai": {
                        "api_key": openai_server.api_key,
                        "base_url": f"{openai_server.url}/v1",
                    },
                    "runway": {
                        "api_key": runway_server.api_key,
                        "base_url": runway_server.url,
                        "poll_interval": 0.01,
                    },
                }
            },
        }
    }


def test_render_through_openai_and_runway_into_s3(
    instance, tmp_path, openai_server, runway_server, s3_endpoint, s3_bucket, s3_admin_client
):
    store_uri = f"s3://{s3_bucket}/videos"
    store = S3Store.from_uri(store_uri, endpoint_url=s3_endpoint)
    video_id, _ = register_spec_file(write_spec(tmp_path, "fox.yaml", PLANNED), store)
    instance.add_dynamic_partitions(videos.name, [video_id])

    def render() -> bool:
        with dg.execute_job(
            dg.reconstructable(render_job),
            instance=instance,
            run_config=remote_run_config(store_uri, s3_endpoint, openai_server, runway_server),
            tags={"dagster/partition": video_id},
        ) as result:
            return result.success

    assert render()

    keys = {
        obj["Key"]
        for obj in s3_admin_client.list_objects_v2(Bucket=s3_bucket, Prefix="videos/")["Contents"]
    }
    assert f"videos/{layout.final_video(video_id)}" in keys
    assert f"videos/{layout.manifest(video_id)}" in keys
    assert not [key for key in keys if key.endswith(".part")]

    final = probe_bytes(store.read_bytes(layout.final_video(video_id)), ".mp4")
    assert abs(final.duration - 10) <= 1 / 12 + 1e-6
    assert (final.width, final.height) == (1280, 720)  # Runway's 16:9 size

    manifest = json.loads(store.read_text(layout.manifest(video_id)))
    assert manifest["spec"]["beats_source"] == "planned"
    assert manifest["providers"]["clips"].startswith("runway/")
    assert manifest["providers"]["images"].startswith("openai/")
    chunk_count = len(manifest["chunks"])
    assert runway_server.count("POST", "/v1/image_to_video") == chunk_count
    assert openai_server.count("POST", "/v1/images") == len(manifest["beats"])
    assert openai_server.count("POST", "/v1/chat/completions") == 1
    assert all(c["job_id"] for c in manifest["chunks"])
    assert all(c["uri"].startswith(f"s3://{s3_bucket}/videos/") for c in manifest["chunks"])
    planning = manifest["planning"]
    assert planning["cost"] > 0 and not planning["cache_hit"]
    assert planning["provider"] == "openai"
    # Summed in another order than the manifest's: equal to the rounding of the last digit.
    assert manifest["total_cost"] == pytest.approx(
        planning["cost"]
        + sum(c["cost"] for c in manifest["chunks"])
        + sum(b["image"]["cost"] for b in manifest["beats"]),
        abs=1e-6,
    )
    # Rendering it again pays for nothing: the plan, images and clips all come from the cache.
    assert render()
    again_manifest = json.loads(store.read_text(layout.manifest(video_id)))
    assert again_manifest["planning"]["cache_hit"]
    assert again_manifest["total_cost"] == 0 and again_manifest["calls"] == 0
    assert openai_server.count("POST", "/v1/chat/completions") == 1
    assert runway_server.count("POST", "/v1/image_to_video") == chunk_count

    content_types = {
        key: s3_admin_client.head_object(Bucket=s3_bucket, Key=key)["ContentType"]
        for key in (f"videos/{layout.final_video(video_id)}", f"videos/{layout.manifest(video_id)}")
    }
    assert sorted(content_types.values()) == ["application/json", "video/mp4"]


def test_sensor_watches_an_s3_prefix(instance, s3_endpoint, s3_bucket, s3_admin_client):
    s3_admin_client.put_object(Bucket=s3_bucket, Key="inbox/fox.yaml", Body=PLANNED.encode())
    s3_admin_client.put_object(Bucket=s3_bucket, Key="inbox/bad.yaml", Body=b"duration: [\n")
    store_uri = f"s3://{s3_bucket}/videos"
    resources = {
        "inbox": InboxResource(location=f"s3://{s3_bucket}/inbox", s3_endpoint_url=s3_endpoint),
        "store": StoreResource(uri=store_uri, s3_endpoint_url=s3_endpoint),
    }
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        refused = spec_inbox_sensor(context)  # shows the bad file; the good one waits a tick
    assert f"s3://{s3_bucket}/inbox/bad.yaml: is not valid YAML" in refused.skip_reason.skip_message
    with dg.build_sensor_context(
        instance=instance, resources=resources, cursor=refused.cursor
    ) as context:
        result = spec_inbox_sensor(context)
    assert [r.partition_key for r in result.run_requests] == ["fox"]
    store = S3Store.from_uri(store_uri, endpoint_url=s3_endpoint)
    assert store.read_text(layout.spec_source("fox", ".yaml")) == PLANNED
    assert not list(store.list_keys("bad/"))
