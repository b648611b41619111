"""Read the scalar tags of TensorBoard event files (test helper; tensorboardX's own protobufs)."""

from __future__ import annotations

from pathlib import Path


def read_tags(folder: Path) -> set[str]:
    import struct

    from tensorboardX.proto.event_pb2 import Event

    tags: set[str] = set()
    for path in Path(folder).glob("events.out.tfevents.*"):
        data = path.read_bytes()
        pos = 0
        while pos + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            record = data[pos + 12 : pos + 12 + length]
            pos += 12 + length + 4
            event = Event.FromString(record)
            tags.update(v.tag for v in event.summary.value)
    return tags
