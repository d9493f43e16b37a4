# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled form of warden.core.codec_fields' decoder (why: docs/decisions/0029-compiled-fields-decoder.md).

It runs a program that codec_fields makes from the writer schema (ops, see OP_* there) and returns exactly
what the generated Python reader returns for the same bytes, or raises Fallback for anything it does not
take (bytes that are no valid Avro, a negative index, a varint past ten bytes, a read past the end): the
caller then runs the Python reader, whose errors (and messages) are the contract. So this only ever
accepts what the Python reader accepts, with the same values; tests/core/test_codec_fields.py holds the
two side by side.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_New, PyDict_SetItem
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int64_t, uint64_t


cdef extern from "Python.h":
    double PyFloat_Unpack4(const char *p, int le) except? -1.0
    double PyFloat_Unpack8(const char *p, int le) except? -1.0


class Fallback(Exception):
    """Not taken here: the Python reader decides (and names what is wrong)."""


# The op codes: the same numbers as codec_fields' OP_*.
cdef enum:
    OP_NULL = 0
    OP_BOOL = 1
    OP_LONG = 2
    OP_TIMESTAMP = 3
    OP_FLOAT = 4
    OP_DOUBLE = 5
    OP_STRING = 6
    OP_BYTES = 7
    OP_ENUM = 8
    OP_UNION = 9
    OP_RECORD = 10

cdef object _FALLBACK = Fallback


cdef struct Cursor:
    const unsigned char *buf
    Py_ssize_t pos
    Py_ssize_t size


cdef inline int read_long(Cursor *c, int64_t *out) except -1:
    cdef uint64_t n = 0
    cdef unsigned int shift = 0
    cdef unsigned char b
    cdef Py_ssize_t end = c.pos + 10
    while True:
        if c.pos >= c.size or c.pos >= end:
            raise _FALLBACK()
        b = c.buf[c.pos]
        c.pos += 1
        if shift < 64:
            n |= (<uint64_t>(b & 0x7F)) << shift
        shift += 7
        if not (b & 0x80):
            break
    out[0] = <int64_t>((n >> 1) ^ (<uint64_t>0 - (n & 1)))
    return 0


cdef inline Py_ssize_t sized(Cursor *c) except -1:
    """A length, checked against what is left; returns where the bytes start."""
    cdef int64_t n
    read_long(c, &n)
    if n < 0 or n > c.size - c.pos:
        raise _FALLBACK()
    cdef Py_ssize_t start = c.pos
    c.pos += <Py_ssize_t>n
    return start


cdef object value(Cursor *c, tuple op, bint keep, object epoch, object timedelta):
    cdef int code = op[0]
    cdef int64_t n
    cdef Py_ssize_t start
    cdef tuple branches
    if code == OP_NULL:
        return None
    if code == OP_BOOL:
        if c.pos >= c.size:
            raise _FALLBACK()
        c.pos += 1
        return c.buf[c.pos - 1] != 0
    if code == OP_LONG:
        read_long(c, &n)
        return n
    if code == OP_TIMESTAMP:
        read_long(c, &n)
        return epoch + timedelta(0, 0, 0, n) if keep else None
    if code == OP_FLOAT:
        if c.size - c.pos < 4:
            raise _FALLBACK()
        c.pos += 4
        return PyFloat_Unpack4(<const char *>(c.buf + c.pos - 4), 1) if keep else None
    if code == OP_DOUBLE:
        if c.size - c.pos < 8:
            raise _FALLBACK()
        c.pos += 8
        return PyFloat_Unpack8(<const char *>(c.buf + c.pos - 8), 1) if keep else None
    if code == OP_STRING:
        start = sized(c)
        try:
            text = PyUnicode_DecodeUTF8(<const char *>(c.buf + start), c.pos - start, "strict")
        except UnicodeDecodeError:
            raise _FALLBACK()
        return text if keep else None
    if code == OP_BYTES:
        start = sized(c)
        return (<const char *>(c.buf + start))[:c.pos - start] if keep else None
    if code == OP_ENUM:
        read_long(c, &n)
        symbols = <tuple>op[1]
        if n < 0 or n >= len(symbols):
            raise _FALLBACK()
        return symbols[n] if keep else None
    if code == OP_UNION:
        read_long(c, &n)
        branches = <tuple>op[1]
        if n < 0 or n >= len(branches):
            raise _FALLBACK()
        branch = <tuple>branches[n]
        found = value(c, branch, keep, epoch, timedelta)
        if keep and branch[0] == OP_RECORD:
            return (branch[1], found)  # fastavro's return_record_name=True
        return found
    if code == OP_RECORD:
        return record(c, <tuple>op[2], keep, epoch, timedelta)
    raise _FALLBACK()


cdef object record(Cursor *c, tuple fields, bint keep, object epoch, object timedelta):
    """fields: ((name, kept, op), ...) in the writer's order."""
    cdef dict out = PyDict_New() if keep else None
    cdef tuple f
    cdef bint kept
    for f in fields:
        kept = keep and f[1]
        found = value(c, <tuple>f[2], kept, epoch, timedelta)
        if kept:
            PyDict_SetItem(out, f[0], found)
    return out


cdef class Reader:
    """reader(buf, pos) -> (record, end), as codec_fields' generated readers; the Python one on Fallback."""

    cdef tuple fields
    cdef object fallback
    cdef object epoch
    cdef object timedelta

    def __init__(self, tuple fields, fallback, epoch, timedelta):
        self.fields, self.fallback, self.epoch, self.timedelta = fields, fallback, epoch, timedelta

    def __call__(self, buf, pos):
        cdef Cursor c
        if type(buf) is not bytes or type(pos) is not int or pos < 0 or pos > len(buf):
            return self.fallback(buf, pos)
        c.buf = <const unsigned char *>PyBytes_AS_STRING(buf)
        c.size = PyBytes_GET_SIZE(buf)
        c.pos = <Py_ssize_t>pos
        try:
            out = record(&c, self.fields, True, self.epoch, self.timedelta)
        except Exception:  # Fallback, or a timestamp past datetime's range: the Python reader's error is the one
            return self.fallback(buf, pos)
        return out, c.pos
