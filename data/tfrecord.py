"""Checks a TFRecord file's framing and checksums without TensorFlow.

Each record is: an 8-byte little-endian length, the masked CRC-32C of those 8 bytes, the data,
and the masked CRC-32C of the data (TensorFlow's ``core/lib/io/record_writer.cc``). The local
runner verifies every input file before anything starts, naming a damaged one, which Beam's
reader inside ImportExampleGen does not; doing it without TensorFlow keeps TensorFlow's start-up
output out of the terminal until the run's log has taken over (local/console.py).
"""

import struct

import google_crc32c

HEADER = struct.Struct("<QI")
FOOTER = struct.Struct("<I")
_MASK_DELTA = 0xA282EAD8


class CorruptRecordError(ValueError):
    """A TFRecord file is truncated or a checksum does not match."""


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC-32C of ``data``."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def count_verified(path: str) -> int:
    """The number of records in an uncompressed TFRecord file, every checksum checked; raises CorruptRecordError."""
    count = 0
    with open(path, "rb") as f:
        while header := f.read(HEADER.size):
            if len(header) < HEADER.size:
                raise CorruptRecordError(f"record {count} is truncated in its header")
            length, length_crc = HEADER.unpack(header)
            if masked_crc(header[:8]) != length_crc:
                raise CorruptRecordError(f"record {count}: the length's checksum does not match")
            data, footer = f.read(length), f.read(FOOTER.size)
            if len(data) < length or len(footer) < FOOTER.size:
                raise CorruptRecordError(f"record {count} is truncated")
            if masked_crc(data) != FOOTER.unpack(footer)[0]:
                raise CorruptRecordError(f"record {count}: the data's checksum does not match")
            count += 1
    return count
