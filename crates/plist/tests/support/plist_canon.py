"""Canonical JSON form of a value read by Python's plistlib.

The Rust tests build the same form from a pippin_plist::Value (see
tests/common/mod.rs) and compare the two. Every value becomes a tagged pair so
that types cannot be confused (bytes vs. text, int vs. float):

    ["bool", true]            ["int", "-12"]           ["str", "text"]
    ["real", "<IEEE-754 bits as decimal>"] or ["real", "nan"]
    ["data", "<hex>"]         ["date", "<microseconds since 2001-01-01>"]
    ["uid", "<n>"]            ["array", [...]]         ["dict", [[key, value], ...]]
"""

import datetime
import math
import plistlib
import struct

EPOCH = datetime.datetime(2001, 1, 1)
MICRO = datetime.timedelta(microseconds=1)


def canon(v):
    if isinstance(v, bool):
        return ["bool", v]
    if isinstance(v, int):
        return ["int", str(v)]
    if isinstance(v, float):
        if math.isnan(v):
            return ["real", "nan"]
        return ["real", str(struct.unpack(">Q", struct.pack(">d", v))[0])]
    if isinstance(v, str):
        return ["str", v]
    if isinstance(v, (bytes, bytearray)):
        return ["data", bytes(v).hex()]
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return ["date", str((v - EPOCH) // MICRO)]
    if isinstance(v, plistlib.UID):
        return ["uid", str(v.data)]
    if isinstance(v, list):
        return ["array", [canon(x) for x in v]]
    if isinstance(v, dict):
        return ["dict", [[k, canon(x)] for k, x in v.items()]]
    raise TypeError(type(v))
