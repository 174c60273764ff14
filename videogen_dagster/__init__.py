"""videogen-dagster: turn a video spec into a finished video with Dagster."""

__version__ = "0.1.0"
