"""Raw-socket clients for the hostile-client tests, and what they need to measure a server."""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def head(method: str, path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: the connection ended without an answer
    text: str
    seconds: float  # from the read's start to the end of the connection


def read_answer(sock: socket.socket, started: float | None = None) -> Answer:
    """Everything the server sends until it closes (or the socket's timeout)."""
    started = time.monotonic() if started is None else started
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    seconds = time.monotonic() - started
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None
    return Answer(status, data.decode("latin-1"), seconds)


def read_head(sock: socket.socket) -> bytes:
    """What comes until the end of a head (request or answer), or until the peer closes."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def status_of(sock: socket.socket) -> int | None:
    """The status of the next answer on a kept-alive connection (its head only)."""
    data = read_head(sock)
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None


def upload_body(path: Path, boundary: str) -> bytes:
    """The legacy upload form twine sends, for one file."""
    data = path.read_bytes()
    name, version = path.name.split("-")[:2]
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": name,
        "version": version,
        "filetype": "bdist_wheel",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
    }
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{path.name}"'
        "\r\nContent-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts)


def upload_request(path: Path, authorization: str | None) -> tuple[bytes, bytes]:
    """(head, body) of an upload of ``path`` to the server root."""
    boundary = uuid.uuid4().hex
    body = upload_body(path, boundary)
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
               "Content-Length": str(len(body))}  # fmt: skip
    if authorization:
        headers["Authorization"] = authorization
    return head("POST", "/", headers), body


def huge_directory_wheel(directory: Path, name: str, version: str, entries: int) -> Path:
    """A small wheel whose zip64 end record claims ``entries`` members (3.5 million made
    the server load 1.7 GiB before refusing)."""
    path = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}-{version}.dist-info/METADATA",
                         f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")  # fmt: skip
        archive.writestr(f"{name}-{version}.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    _sig, _d, _cd, _here, _count, size, offset, _comment = struct.unpack_from("<4s4H2LH", data, end)
    # Replace the end record by a zip64 one (claiming ``entries``), its locator, and an end
    # record that defers to them.
    zip64_at = end
    zip64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries,
                        size, offset)  # fmt: skip
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, zip64_at, 1)
    record = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                         0xFFFFFFFF, 0)  # fmt: skip
    path.write_bytes(bytes(data[:end]) + zip64 + locator + record)
    return path


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
