"""Reference images: paths relative to the spec file that must stay inside the spec's folder.

Two checks, because a spec is not always a file: ``reference_path_problem`` looks at the
text alone (absolute paths, ``..`` escapes) and runs whenever a spec is parsed;
``reference_file_problem`` looks at the disk (exists, resolves inside the folder after
following symlinks, can be read, decodes as PNG, JPEG or WebP) and runs when the spec's
folder is known. The image is opened for real: permission bits say nothing when the
pipeline runs as root, and a file named ``.png`` can hold anything.
"""

from __future__ import annotations

import io
import posixpath
import re
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from videogen_dagster.domain.spec_files import os_reason

MAX_REFERENCE_BYTES = 20 * 1024 * 1024
#: 40 megapixels: more than any camera a reference comes from, far below what would exhaust
#: memory when decoded (a small file can declare a huge image).
MAX_REFERENCE_PIXELS = 40_000_000
REFERENCE_FORMATS = ("PNG", "JPEG", "WEBP")


def reference_path_problem(reference: str) -> str | None:
    """Why ``reference`` cannot name a file inside the spec's folder, judged from the text alone."""
    if "\\" in reference:
        return "must use '/' between folder names, not '\\'"
    if reference.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", reference):
        return f"{reference!r} must be a path relative to the spec's folder, not an absolute path"
    normalised = posixpath.normpath(reference)
    if normalised == ".." or normalised.startswith("../"):
        return f"{reference!r} points outside the spec's folder"
    if normalised == ".":
        return f"{reference!r} names the spec's folder, not an image file"
    return None


def reference_file_problem(reference: str, base_dir: Path) -> str | None:
    """Why ``reference`` (relative to ``base_dir``) is not a usable image file, or None."""
    root = base_dir.resolve()
    try:
        resolved = (base_dir / reference).resolve(strict=True)
    except FileNotFoundError:
        return f"the file {reference!r} does not exist in {base_dir}"
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop before Python 3.13
        return f"the file {reference!r} cannot be resolved: {exc}"
    if not resolved.is_relative_to(root):
        return (
            f"{reference!r} leads outside the spec's folder (to {resolved}); "
            "references must stay inside it"
        )
    if not resolved.is_file():
        return f"{reference!r} is not a file"
    size = resolved.stat().st_size
    if size > MAX_REFERENCE_BYTES:
        return _too_large(reference, size)
    try:
        data = resolved.read_bytes()
    except OSError as exc:
        return f"{reference!r} cannot be read: {os_reason(exc)}"
    return reference_data_problem(reference, data)


def reference_data_problem(reference: str, data: bytes) -> str | None:
    """Why ``data``, the content of ``reference``, is not a usable image, or None.

    For references that are not files on disk (read from an S3 inbox) as well as files.
    """
    if not data:
        return f"{reference!r} is an empty file, not an image"
    if len(data) > MAX_REFERENCE_BYTES:
        return _too_large(reference, len(data))
    # verify() checks the structure (PNG checksums); load() decodes the pixels, which is what
    # finds a file cut short. Only the formats we use are tried, never Pillow's other plugins.
    try:
        with Image.open(io.BytesIO(data), formats=REFERENCE_FORMATS) as image:
            width, height = image.size
            if width * height > MAX_REFERENCE_PIXELS:
                return (
                    f"{reference!r} is {width}x{height} pixels; a reference image must have "
                    f"at most {MAX_REFERENCE_PIXELS} pixels"
                )
            image.verify()
        with Image.open(io.BytesIO(data), formats=REFERENCE_FORMATS) as image:
            image.load()
    except UnidentifiedImageError:
        return f"{reference!r} is not a PNG, JPEG or WebP image"
    except Image.DecompressionBombError:  # Pillow's own, larger limit, checked on open
        return f"{reference!r} has too many pixels to be a reference image"
    except (OSError, SyntaxError, ValueError) as exc:  # what Pillow raises for damaged files
        return f"{reference!r} is a damaged image: {exc}"
    return None


def _too_large(reference: str, size: int) -> str:
    return f"{reference!r} is {size} bytes; an image must be at most {MAX_REFERENCE_BYTES}"
