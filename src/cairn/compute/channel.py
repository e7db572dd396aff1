"""Messages over a stream socket, each an 8-byte length and its bytes.

`multiprocessing.connection.Connection` does the same in more steps (a BytesIO per read, a
read per header and body): over the four ends of a task's round trip that was a tenth of
it. Only the standard library is imported: worker processes import this before anything.
"""

from __future__ import annotations

import socket
import struct

HEADER = struct.Struct("!Q")
READ_SIZE = 1 << 16  # one read takes a small message whole, and maybe the next one's start


class Channel:
    """One end of a socket carrying whole messages. Sending and receiving may happen on two
    threads at once; two threads must not both send, or both receive."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._unread = b""  # what a read took past the end of the last message

    def send(self, data: bytes) -> None:
        header = HEADER.pack(len(data))
        if len(data) < READ_SIZE:
            self._sock.sendall(header + data)
        else:  # not copied into one buffer first
            self._sock.sendall(header)
            self._sock.sendall(data)

    def recv(self) -> bytes | bytearray:
        """The next message; EOFError once the other end has shut its side."""
        data = self._unread
        while len(data) < HEADER.size:
            data += self._read()
        (size,) = HEADER.unpack_from(data)
        end = HEADER.size + size
        if len(data) < end and size >= READ_SIZE:
            self._unread = b""
            return self._read_large(data[HEADER.size :], size)
        while len(data) < end:
            data += self._read()
        self._unread = data[end:]
        return data[HEADER.size : end]

    def close(self) -> None:
        self._sock.close()

    def _read(self) -> bytes:
        chunk = self._sock.recv(READ_SIZE)
        if not chunk:
            raise EOFError("the other end closed the channel")
        return chunk

    def _read_large(self, start: bytes, size: int) -> bytearray:
        # Read straight into the message's own buffer, never past its end.
        body = bytearray(size)
        view = memoryview(body)
        view[: len(start)] = start
        have = len(start)
        while have < size:
            got = self._sock.recv_into(view[have:])
            if not got:
                raise EOFError("the other end closed the channel mid-message")
            have += got
        return body
