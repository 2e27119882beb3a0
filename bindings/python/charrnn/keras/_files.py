"""Opening the files a caller names, and unpacking .keras archives, without trusting either.

A path may name a FIFO (opening it for reading waits for a writer), a device (/dev/zero never ends), a
directory or a symbolic-link loop: each is refused with a charrnn.IOError naming the path and the reason,
and what is read afterwards comes from the descriptor that was checked. An archive may declare, or
inflate to, far more than it stores: members are capped before and while they are unpacked, and the
weights member is unpacked into an anonymous temporary file rather than memory.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
import zipfile
import zlib

from ._errors import KerasFormatError, file_error

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
MAX_JSON_BYTES = 64 << 20  # a model's config.json is kilobytes; more is damage or a zip bomb
MAX_DIRECTORY_BYTES = 1 << 20  # a .keras archive lists three members in a few hundred bytes
COPY_CHUNK = 1 << 20

_KINDS = (  # what a path that is not a regular file is, for the message
    (stat.S_ISDIR, "a directory", errno.EISDIR),
    (stat.S_ISFIFO, "a FIFO (named pipe)", None),
    (stat.S_ISCHR, "a character device", None),
    (stat.S_ISBLK, "a block device", None),
    (stat.S_ISSOCK, "a socket", None),
)
_OPEN_FAILURES = {  # Python's own wording for ELOOP ("too many levels") hides that the links go round
    errno.ELOOP: "symbolic link loop (too many levels of symbolic links)",
    errno.ENOENT: "no such file or directory",
    errno.EACCES: "permission denied",
    errno.ENXIO: "no such device or address (a socket, or a device without a driver)",
}


# ------------------------------------------------------------------------------------------------
# files named by the caller


def open_regular(path):
    """`path` opened for reading as a binary file object; a charrnn.IOError unless it is a regular file.

    The open does not block (O_NONBLOCK: a FIFO without a writer would wait forever) and the type is
    checked on the opened descriptor, so the file cannot be swapped for another between the check and
    the reads."""
    path = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        reason = _OPEN_FAILURES.get(exc.errno, exc.strerror or str(exc))
        raise file_error(path, f"cannot open: {reason}", exc.errno) from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind, code = next(((k, c) for test, k, c in _KINDS if test(mode)), ("something else", None))
            raise file_error(path, f"not a regular file ({kind})", code)
        os.set_blocking(fd, True)  # the flag served the open only; reads of a regular file do not wait
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def file_kind(fh, path) -> str:
    """ "keras" (a zip archive) or "h5", from the first bytes: the two formats cannot be mistaken for each
    other, and an HDF5 file with a user block (bytes before the HDF5 signature, which Keras never writes)
    could be both."""
    fh.seek(0)
    head = fh.read(8)
    if head.startswith(ZIP_SIGNATURE):
        return "keras"
    if head == HDF5_SIGNATURE:
        return "h5"
    offset = _user_block_size(fh)
    if offset:
        raise KerasFormatError(
            f"{path}: an HDF5 file with a {offset}-byte user block before its data; Keras "
            "never writes one, and charrnn reads HDF5 that starts at the first byte"
        )
    raise KerasFormatError(f"{path}: not a Keras file (neither a .keras zip archive nor HDF5)")


def sniff(path) -> str | None:
    """ "keras" (a zip archive, as .keras files are), "h5" (HDF5, also after a user block) or None (anything
    else, or a path that cannot be opened as a regular file): what a file is, told by its content, never
    raising."""
    try:
        fh = open_regular(path)
    except (OSError, ValueError, TypeError):
        return None
    with fh:
        head = fh.read(8)
        if head.startswith(ZIP_SIGNATURE):
            return "keras"
        if head == HDF5_SIGNATURE or _user_block_size(fh):
            return "h5"
    return None


def _user_block_size(fh) -> int:
    """Where HDF5 would find its signature after a user block (512, 1024, 2048, ... bytes in), or 0."""
    size = os.fstat(fh.fileno()).st_size
    offset = 512
    while offset + 8 <= size:
        fh.seek(offset)
        if fh.read(8) == HDF5_SIGNATURE:
            return offset
        offset *= 2
    return 0


# ------------------------------------------------------------------------------------------------
# .keras archives


def open_archive(fh, path) -> zipfile.ZipFile:
    """The zip archive in `fh`, refused when its central directory is larger than a Keras archive's
    could be (zipfile builds an object of some hundred bytes for each 46-byte entry) or when a member
    could not be inflated with a bound on its output."""
    try:
        end = zipfile._EndRecData(fh)  # the end-of-directory record, found as ZipFile finds it
        if end is not None and end[zipfile._ECD_SIZE] > MAX_DIRECTORY_BYTES:
            raise KerasFormatError(
                f"{path}: the archive's directory takes {end[zipfile._ECD_SIZE]} bytes, more "
                f"than the {MAX_DIRECTORY_BYTES} a .keras archive needs"
            )
        z = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, OverflowError) as exc:
        if isinstance(exc, KerasFormatError):
            raise
        raise KerasFormatError(f"{path}: corrupt .keras archive ({exc})") from exc
    try:
        for info in z.infolist():
            _check_entry(info, path)
    except BaseException:
        z.close()
        raise
    return z


def json_member(z: zipfile.ZipFile, name: str, path):
    """A JSON member of the archive, parsed; at most MAX_JSON_BYTES of it are inflated."""
    info = _member_info(z, name, MAX_JSON_BYTES, path)
    with _member_stream(z, info, path) as src:
        data = _read_capped(src, MAX_JSON_BYTES, info, path)
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise KerasFormatError(f"{path}: {name} in the archive is not valid JSON ({exc})") from exc


def member_file(z: zipfile.ZipFile, name: str, limit: int, path):
    """A member unpacked into an anonymous temporary file (positioned at its start), at most `limit`
    bytes: the size it declares is checked first, and what it inflates to as it is copied, since the
    declared size is only what the archive says. The file has no name, so nothing is left behind on any
    path; it is closed here if the copy fails."""
    info = _member_info(z, name, limit, path)
    out = tempfile.TemporaryFile()
    try:
        with _member_stream(z, info, path) as src:
            while True:
                chunk = _read_capped(src, limit - out.tell(), info, path, COPY_CHUNK)
                if not chunk:
                    break
                _write(out, chunk, name, path)
        out.seek(0)
        return out
    except BaseException:
        out.close()
        raise


def _check_entry(info: zipfile.ZipInfo, path) -> None:
    """Refuses a member that is encrypted or compressed with a method other than Keras's (stored,
    deflate): zipfile inflates bzip2 and lzma members without bounding the output."""
    if info.flag_bits & 0x1:
        raise KerasFormatError(f"{path}: corrupt .keras archive: {info.filename} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise KerasFormatError(
            f"{path}: corrupt .keras archive: {info.filename} uses compression method "
            f"{info.compress_type}; Keras writes stored or deflated members"
        )


def _member_info(z, name, limit, path) -> zipfile.ZipInfo:
    """The member's entry, refused before anything is inflated when it declares more than `limit` bytes."""
    info = z.getinfo(name)
    if info.file_size > limit:
        raise KerasFormatError(
            f"{path}: {name} in the archive unpacks to {info.file_size} bytes, more than the "
            f"{limit} this reader accepts"
        )
    return info


def _member_stream(z, info, path):
    try:
        return z.open(info)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise KerasFormatError(f"{path}: corrupt .keras archive ({exc})") from exc


def _read_capped(src, room: int, info, path, size: int | None = None) -> bytes:
    """Up to `size` inflated bytes (all that is left when None), failing once more than `room` would be
    returned."""
    want = room + 1 if size is None else min(size, room + 1)
    try:
        data = src.read(want)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, RuntimeError, zlib.error) as exc:
        raise KerasFormatError(f"{path}: corrupt .keras archive ({exc})") from exc
    if len(data) > room:
        raise KerasFormatError(
            f"{path}: {info.filename} in the archive unpacks to more than the "
            f"{info.file_size} bytes it declares or the limit this reader accepts"
        )
    return data


def _write(out, chunk: bytes, name: str, path) -> None:
    try:
        out.write(chunk)
    except OSError as exc:
        raise KerasFormatError(f"{path}: cannot unpack {name} from the archive into a temporary file ({exc})") from exc
