"""The data: MNIST (`mnist`), the convolutional figures' image sets (`images`) and the one
resumable `(images, noise)` stream every experiment trains on (`streams`).

A data folder (`--data_dir`, default `$EBGAN_TF_DATA_DIR`) holds one sub-folder per data set
(`mnist/`, `lsun_bedroom/`, ...); `--data_source` picks local files, TFDS, or local when present.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from ebgan_tf.errors import DataError  # noqa: F401  (the data modules' error, re-exported)

DATA_DIR_ENV = "EBGAN_TF_DATA_DIR"
DATA_SOURCES = ("auto", "local", "tfds")


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """`data_dir`, else `$EBGAN_TF_DATA_DIR`, else None."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else None


def reachable(host: tuple[str, int], timeout: float = 3.0) -> bool:
    """Whether a TCP connection to `host` opens: probed before a TFDS download, so an offline
    machine fails in seconds, not minutes."""
    try:
        socket.create_connection(host, timeout=timeout).close()
        return True
    except OSError:
        return False
