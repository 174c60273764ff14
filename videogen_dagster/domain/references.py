"""Reference images: paths relative to the spec file that must stay inside the spec's folder.

Checks in steps, because a spec is not always a file: ``reference_path_problem`` looks at
the text alone (absolute paths, ``..`` escapes, URLs) and runs whenever a spec is parsed;
``read_reference_file`` reads a reference once from the disk (inside the folder, no symbolic
links, a regular file, bounded size) when the spec's folder is known; and
``reference_data_problem`` checks those bytes (wherever they came from) decode as PNG, JPEG
or WebP. The image is opened for real: permission bits say nothing when the pipeline runs as
root, and a file named ``.png`` can hold anything. The bytes checked are the bytes stored.
"""

from __future__ import annotations

import errno
import io
import os
import posixpath
import re
import stat
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from videogen_dagster.domain.spec_files import UnreadableFile, os_reason, read_regular_file

MAX_REFERENCE_BYTES = 20 * 1024 * 1024
#: 40 megapixels: more than any camera a reference comes from, far below what would exhaust
#: memory when decoded (a small file can declare a huge image).
MAX_REFERENCE_PIXELS = 40_000_000
REFERENCE_FORMATS = ("PNG", "JPEG", "WEBP")


def reference_path_problem(reference: str) -> str | None:
    """Why ``reference`` cannot name a file inside the spec's folder, judged from the text alone."""
    if "\\" in reference:
        return "must use '/' between folder names, not '\\'"
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", reference):
        return (
            f"{reference!r} is a URL; a reference must be an image file inside the spec's "
            "folder (download it next to the spec)"
        )
    if reference.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", reference):
        return f"{reference!r} must be a path relative to the spec's folder, not an absolute path"
    normalised = posixpath.normpath(reference)
    if normalised == ".." or normalised.startswith("../"):
        return f"{reference!r} points outside the spec's folder"
    if normalised == ".":
        return f"{reference!r} names the spec's folder, not an image file"
    return None


class UnusableReference(Exception):
    """A reference image that cannot be used; ``str()`` is the problem, naming the reference."""


def read_reference_file(reference: str, base_dir: Path) -> bytes:
    """The content of ``reference`` (a normalised path relative to ``base_dir``), read once.

    Each folder on the way is opened relative to the one before and the file relative to the
    last, none of them through a symbolic link, so the file read is inside ``base_dir``
    however the folders change meanwhile; the file must be a regular file (checked on the
    opened descriptor), and a FIFO or device is refused without blocking. The bytes returned
    are the ones to check with ``reference_data_problem`` and to store.
    """
    *folders, name = reference.split("/")
    try:
        fd = os.open(base_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        reason = os_reason(exc)
        raise UnusableReference(f"the spec's folder {base_dir} cannot be read: {reason}") from None
    try:
        for index, folder in enumerate(folders):
            where = "/".join(folders[: index + 1])
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                inner = os.open(folder, flags, dir_fd=fd)
            except FileNotFoundError:
                raise UnusableReference(
                    f"the file {reference!r} does not exist in {base_dir}"
                ) from None
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    # Linux says ENOTDIR for a link opened with O_DIRECTORY | O_NOFOLLOW.
                    reason = "is a symbolic link" if _is_link(folder, fd) else "is not a folder"
                else:
                    reason = f"cannot be read: {os_reason(exc)}"
                raise UnusableReference(f"{reference!r}: {where!r} {reason}{_STAY}") from None
            os.close(fd)
            fd = inner
        try:
            return read_regular_file(
                name, limit=MAX_REFERENCE_BYTES, dir_fd=fd, follow_symlinks=False
            )
        except UnreadableFile as exc:
            raise UnusableReference(_unreadable_message(reference, base_dir, exc)) from None
    finally:
        os.close(fd)


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


#: Said after a refusal that a symbolic link or a swapped file could cause.
_STAY = "; a reference must be a regular file inside the spec's folder, reached without links"


def _unreadable_message(reference: str, base_dir: Path, exc: UnreadableFile) -> str:
    if exc.kind == "missing":
        return f"the file {reference!r} does not exist in {base_dir}"
    if exc.kind == "too-large":
        return _too_large(reference, exc.size)
    if exc.kind == "symlink":
        return f"{reference!r} is a symbolic link{_STAY}"
    if exc.kind in ("folder", "not-regular"):
        return f"{reference!r} is not a file: {exc.reason.removeprefix('is not a regular file: ')}"
    return f"{reference!r} {exc.reason}"


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
