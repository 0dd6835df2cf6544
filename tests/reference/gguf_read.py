"""Independent GGUF reader (versions 2 and 3) for the gpt-oss reference.

Written from /work/shared/docs/gpt-oss.md, sections 2 (container), 4 (tensors) and
5 (block formats). Standard library + NumPy only.

    g = GGUFReader("model.gguf")                 # or "<prefix>-00001-of-00003.gguf"
    g.kv["gpt-oss.block_count"]                  # metadata value (int, float, str, bool,
                                                 # numpy array or list of str)
    t = g.tensors["blk.0.attn_q.weight"]         # TensorInfo
    w = g.load("blk.0.attn_q.weight")            # float64, shape = reversed(ne) = [out][in]
    e = g.load("blk.0.ffn_up_exps.weight", 3)    # expert 3 only: index on the outermost dim

File layout (little-endian):

    u32 magic "GGUF"  u32 version  u64 n_tensors  u64 n_kv
    n_kv      x { str key; u32 vtype; value }
    n_tensors x { str name; u32 n_dims; u64 ne[n_dims]; u32 ggml_type; u64 offset }
    zero padding to a multiple of ALIGN (general.alignment, default 32), then the data section
    str = u64 length + bytes (no NUL)
"""

import mmap
import os
import re
import struct
import sys

import numpy as np

GGUF_MAGIC = 0x46554747  # the bytes "GGUF" read as a little-endian u32
DEFAULT_ALIGNMENT = 32

# ---------------------------------------------------------------------------------------------
# Metadata value types
# ---------------------------------------------------------------------------------------------

VT_U8, VT_I8, VT_U16, VT_I16, VT_U32, VT_I32, VT_F32, VT_BOOL, VT_STR, VT_ARRAY, \
    VT_U64, VT_I64, VT_F64 = range(13)

VALUE_TYPE_NAMES = {
    VT_U8: "u8", VT_I8: "i8", VT_U16: "u16", VT_I16: "i16", VT_U32: "u32", VT_I32: "i32",
    VT_F32: "f32", VT_BOOL: "bool", VT_STR: "str", VT_ARRAY: "array", VT_U64: "u64",
    VT_I64: "i64", VT_F64: "f64",
}

# Fixed-size scalar types: NumPy dtype (little-endian). Bool is one byte.
_SCALAR_DTYPES = {
    VT_U8: np.dtype("<u1"), VT_I8: np.dtype("<i1"), VT_U16: np.dtype("<u2"),
    VT_I16: np.dtype("<i2"), VT_U32: np.dtype("<u4"), VT_I32: np.dtype("<i4"),
    VT_F32: np.dtype("<f4"), VT_BOOL: np.dtype("<u1"), VT_U64: np.dtype("<u8"),
    VT_I64: np.dtype("<i8"), VT_F64: np.dtype("<f8"),
}

# Strings are decoded as UTF-8 with surrogateescape, so that any byte sequence survives and
# s.encode("utf-8", "surrogateescape") gives back the exact bytes of the file.
STR_ERRORS = "surrogateescape"

# ---------------------------------------------------------------------------------------------
# Tensor types (ggml ids)
# ---------------------------------------------------------------------------------------------

GGML_F32, GGML_F16, GGML_Q8_0, GGML_BF16, GGML_MXFP4 = 0, 1, 8, 30, 39

# id -> (name, elements per block, bytes per block)
GGML_TYPES = {
    GGML_F32: ("F32", 1, 4),
    GGML_F16: ("F16", 1, 2),
    GGML_Q8_0: ("Q8_0", 32, 34),
    GGML_BF16: ("BF16", 1, 2),
    GGML_MXFP4: ("MXFP4", 32, 17),
}

# FP4 E2M1 magnitudes for nibble & 7; bit 3 is the sign.
FP4_E2M1 = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
                     -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0], dtype=np.float64)


_Q8_0_BLOCK = np.dtype([("d", "<f2"), ("q", "i1", (32,))])      # 34 bytes, unaligned


class GGUFError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Dequantization: raw bytes -> float64. All vectorised over blocks.
# ---------------------------------------------------------------------------------------------

def dequantize(raw, ggml_type):
    """Dequantize a flat uint8 array holding whole blocks of `ggml_type`; returns flat float64."""
    raw = np.ascontiguousarray(raw, dtype=np.uint8).reshape(-1)
    if ggml_type not in GGML_TYPES:
        raise GGUFError("unsupported ggml type %d" % ggml_type)
    name, block_elems, block_bytes = GGML_TYPES[ggml_type]
    if raw.size % block_bytes:
        raise GGUFError("%s data of %d bytes is not a whole number of blocks" % (name, raw.size))

    if ggml_type == GGML_F32:
        return raw.view("<f4").astype(np.float64)
    if ggml_type == GGML_F16:
        return raw.view("<f2").astype(np.float64)
    if ggml_type == GGML_BF16:
        # BF16 is the top half of an f32.
        bits = raw.view("<u2").astype(np.uint32) << 16
        return bits.view("<f4").astype(np.float64)

    if ggml_type == GGML_Q8_0:
        # u16 d (IEEE half), then int8 q[32]; x[j] = d * q[j]
        blocks = raw.view(_Q8_0_BLOCK)
        return (blocks["d"].astype(np.float64)[:, None] * blocks["q"]).reshape(-1)
    if ggml_type == GGML_MXFP4:
        blocks = raw.reshape(-1, block_bytes)
        # u8 e (E8M0), then u8 qs[16]; element j < 16 is the low nibble of qs[j], element j+16
        # is the high nibble of qs[j]; x = fp4(nibble) * 2^(e - 127).  (e = 255 is not special:
        # like ggml, it is just 2^128.)
        e = blocks[:, 0].astype(np.int64)
        qs = blocks[:, 1:17]
        nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1)          # (nb, 32)
        scale = np.ldexp(1.0, e - 127)                                     # exact powers of two
        return (FP4_E2M1[nibbles] * scale[:, None]).reshape(-1)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------------
# One GGUF file
# ---------------------------------------------------------------------------------------------

class TensorInfo:
    """One entry of a tensor-info table. `ne` is in ggml order (ne[0] innermost)."""

    def __init__(self, name, ne, ggml_type, offset, gguf_file):
        self.name = name
        self.ne = tuple(int(n) for n in ne)
        self.ggml_type = ggml_type
        self.offset = offset                 # relative to the data section
        self.file = gguf_file
        if ggml_type not in GGML_TYPES:
            raise GGUFError("tensor %s: unsupported ggml type %d" % (name, ggml_type))
        self.type_name, block_elems, block_bytes = GGML_TYPES[ggml_type]
        if self.ne[0] % block_elems:
            raise GGUFError("tensor %s: ne[0] = %d is not a multiple of the %s block size %d"
                            % (name, self.ne[0], self.type_name, block_elems))
        self.row_bytes = self.ne[0] // block_elems * block_bytes      # nb1
        n_rows = 1
        for n in self.ne[1:]:
            n_rows *= n
        self.nbytes = self.row_bytes * n_rows

    @property
    def shape(self):
        """NumPy shape: ne reversed, so a weight with ne [in, out] is an array [out][in]."""
        return tuple(reversed(self.ne))

    @property
    def n_elements(self):
        n = 1
        for x in self.ne:
            n *= x
        return n

    def raw(self):
        """The tensor's bytes as a read-only uint8 array (a view into the mapped file)."""
        start = self.file.data_start + self.offset
        return self.file.u8[start:start + self.nbytes]

    def load(self, index=None):
        """Dequantize to float64 with shape `self.shape`.

        `index` (int, slice or integer array) selects along the outermost dimension (shape[0]),
        so only those rows / experts are read and dequantized. An int index drops that axis.
        """
        if index is None:
            return dequantize(self.raw(), self.ggml_type).reshape(self.shape)
        if len(self.ne) < 2:
            raise GGUFError("tensor %s: indexing needs at least 2 dimensions" % self.name)
        outer = self.ne[-1]
        per_outer = self.nbytes // outer
        raw = self.raw().reshape(outer, per_outer)[index]
        values = dequantize(raw, self.ggml_type)
        sub = self.shape[1:]
        if np.ndim(raw) == 1:           # single int index
            return values.reshape(sub)
        return values.reshape((-1,) + sub)

    def __repr__(self):
        return "TensorInfo(%s, ne=%s, %s)" % (self.name, list(self.ne), self.type_name)


class GGUFFile:
    """A single .gguf file: metadata, tensor-info table and the mapped data section."""

    def __init__(self, path):
        self.path = path
        size = os.path.getsize(path)
        if size < 24:
            raise GGUFError("%s: too small to be a GGUF file (%d bytes)" % (path, size))
        with open(path, "rb") as f:
            self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self.u8 = np.frombuffer(self._mm, dtype=np.uint8)
        self._pos = 0
        self._parse()

    # -- primitive readers over the mapped bytes --

    def _take(self, fmt):
        vals = struct.unpack_from(fmt, self._mm, self._pos)
        self._pos += struct.calcsize(fmt)
        return vals[0] if len(vals) == 1 else vals

    def _need(self, n, what):
        if self._pos + n > len(self._mm):
            raise GGUFError("%s: truncated while reading %s at offset %d"
                            % (self.path, what, self._pos))

    def _str(self):
        self._need(8, "string length")
        n = self._take("<Q")
        self._need(n, "string bytes")
        s = self._mm[self._pos:self._pos + n].decode("utf-8", STR_ERRORS)
        self._pos += n
        return s

    def _value(self, vtype):
        if vtype in _SCALAR_DTYPES:
            dt = _SCALAR_DTYPES[vtype]
            self._need(dt.itemsize, "value")
            v = np.frombuffer(self._mm, dtype=dt, count=1, offset=self._pos)[0]
            self._pos += dt.itemsize
            if vtype == VT_BOOL:
                return bool(v)
            if vtype in (VT_F32, VT_F64):
                return float(v)          # exact: a f32 widens to float without rounding
            return int(v)
        if vtype == VT_STR:
            return self._str()
        if vtype == VT_ARRAY:
            self._need(12, "array header")
            etype, count = self._take("<IQ")
            return self._array(etype, count)
        raise GGUFError("%s: unknown metadata value type %d at offset %d"
                        % (self.path, vtype, self._pos - 4))

    def _array(self, etype, count):
        if etype in _SCALAR_DTYPES:
            dt = _SCALAR_DTYPES[etype]
            self._need(dt.itemsize * count, "array data")
            a = np.frombuffer(self._mm, dtype=dt, count=count, offset=self._pos).copy()
            self._pos += dt.itemsize * count
            return a.astype(bool) if etype == VT_BOOL else a
        if etype == VT_STR:
            # A tight loop: ~0.5 s for the 446189 merges of a gpt-oss file.
            mm, pos, end = self._mm, self._pos, len(self._mm)
            unpack = struct.Struct("<Q").unpack_from
            out = [None] * count
            for i in range(count):
                if pos + 8 > end:
                    raise GGUFError("%s: truncated string array" % self.path)
                n = unpack(mm, pos)[0]
                pos += 8
                if pos + n > end:
                    raise GGUFError("%s: truncated string array" % self.path)
                out[i] = mm[pos:pos + n].decode("utf-8", STR_ERRORS)
                pos += n
            self._pos = pos
            return out
        if etype == VT_ARRAY:
            out = []
            for _ in range(count):
                self._need(12, "nested array header")
                et, n = self._take("<IQ")
                out.append(self._array(et, n))
            return out
        raise GGUFError("%s: unknown array element type %d" % (self.path, etype))

    # -- the file --

    def _parse(self):
        magic, self.version = self._take("<II")
        if magic != GGUF_MAGIC:
            raise GGUFError("%s: bad magic 0x%08x (not a little-endian GGUF file)"
                            % (self.path, magic))
        if self.version not in (2, 3):
            raise GGUFError("%s: unsupported GGUF version %d (need 2 or 3)"
                            % (self.path, self.version))
        n_tensors, n_kv = self._take("<QQ")

        self.kv = {}
        self.kv_types = {}
        for _ in range(n_kv):
            key = self._str()
            self._need(4, "value type")
            vtype = self._take("<I")
            if key in self.kv:
                raise GGUFError("%s: duplicate key %s" % (self.path, key))
            self.kv[key] = self._value(vtype)
            self.kv_types[key] = vtype

        self.alignment = DEFAULT_ALIGNMENT
        if "general.alignment" in self.kv:
            self.alignment = int(self.kv["general.alignment"])
            if self.alignment <= 0 or self.alignment & (self.alignment - 1):
                raise GGUFError("%s: general.alignment %d is not a power of two"
                                % (self.path, self.alignment))

        self.tensors = {}
        self.tensor_order = []
        for _ in range(n_tensors):
            name = self._str()
            self._need(4, "n_dims")
            n_dims = self._take("<I")
            if not 1 <= n_dims <= 4:
                raise GGUFError("%s: tensor %s has %d dimensions" % (self.path, name, n_dims))
            self._need(8 * n_dims + 12, "tensor info")
            ne = struct.unpack_from("<%dQ" % n_dims, self._mm, self._pos)
            self._pos += 8 * n_dims
            ggml_type, offset = self._take("<IQ")
            if name in self.tensors:
                raise GGUFError("%s: duplicate tensor %s" % (self.path, name))
            self.tensors[name] = TensorInfo(name, ne, ggml_type, offset, self)
            self.tensor_order.append(name)

        self.data_start = (self._pos + self.alignment - 1) // self.alignment * self.alignment
        for t in self.tensors.values():
            if t.offset % self.alignment:
                raise GGUFError("%s: tensor %s offset %d is not a multiple of %d"
                                % (self.path, t.name, t.offset, self.alignment))
            if self.data_start + t.offset + t.nbytes > len(self._mm):
                raise GGUFError("%s: tensor %s (%d bytes at %d) runs past the end of the file"
                                % (self.path, t.name, t.nbytes, t.offset))


# ---------------------------------------------------------------------------------------------
# A model: one file, or the shards of a split file
# ---------------------------------------------------------------------------------------------

_SPLIT_RE = re.compile(r"^(?P<prefix>.*)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")


class GGUFReader:
    """A GGUF model, possibly split over `<prefix>-%05d-of-%05d.gguf` shards.

    Metadata comes from shard 1 only; tensors are looked up by name across all shards.
    """

    def __init__(self, path):
        m = _SPLIT_RE.match(path)
        if m:
            count = int(m.group("count"))
            paths = ["%s-%05d-of-%05d.gguf" % (m.group("prefix"), i, count)
                     for i in range(1, count + 1)]
        else:
            paths = [path]
        for p in paths:
            if not os.path.exists(p):
                raise GGUFError("missing file %s" % p)
        self.files = [GGUFFile(p) for p in paths]
        first = self.files[0]
        self.path = first.path
        self.kv = first.kv
        self.kv_types = first.kv_types
        self.version = first.version

        if m or "split.count" in self.kv:
            self._check_split(m)

        self.tensors = {}
        for f in self.files:
            for name in f.tensor_order:
                if name in self.tensors:
                    raise GGUFError("tensor %s appears in two shards" % name)
                self.tensors[name] = f.tensors[name]

    def _check_split(self, m):
        n_files = len(self.files)
        if "split.count" not in self.kv:
            raise GGUFError("%s: split file name but no split.count key" % self.path)
        count = int(self.kv["split.count"])
        if count != n_files:
            raise GGUFError("%s: split.count is %d but the file name says %d shards"
                            % (self.path, count, n_files))
        if n_files > 1 and not m:
            raise GGUFError("%s: split.count = %d but the name is not <prefix>-00001-of-%05d.gguf"
                            % (self.path, count, count))
        total = 0
        for i, f in enumerate(self.files):
            if int(f.kv.get("split.no", -1)) != i:
                raise GGUFError("%s: split.no is %s, expected %d"
                                % (f.path, f.kv.get("split.no"), i))
            total += len(f.tensors)
        expected = int(self.kv.get("split.tensors.count", total))
        if total != expected:
            raise GGUFError("%s: shards hold %d tensors but split.tensors.count is %d"
                            % (self.path, total, expected))

    def get(self, key, default=None):
        return self.kv.get(key, default)

    def require(self, key):
        if key not in self.kv:
            raise GGUFError("%s: missing metadata key %s" % (self.path, key))
        return self.kv[key]

    def tensor(self, name):
        if name not in self.tensors:
            raise GGUFError("%s: missing tensor %s" % (self.path, name))
        return self.tensors[name]

    def load(self, name, index=None):
        """Dequantized float64 array of a tensor (optionally only some outermost rows)."""
        return self.tensor(name).load(index)


def _main(argv):
    """Print a summary of a GGUF file: `python3 gguf_read.py MODEL.gguf`."""
    if len(argv) != 2:
        print("usage: gguf_read.py MODEL.gguf", file=sys.stderr)
        return 2
    g = GGUFReader(argv[1])
    print("GGUF v%d, %d file(s), %d keys, %d tensors"
          % (g.version, len(g.files), len(g.kv), len(g.tensors)))
    for k, v in g.kv.items():
        t = VALUE_TYPE_NAMES[g.kv_types[k]]
        if isinstance(v, (list, np.ndarray)):
            v = "[%d items]" % len(v)
        elif isinstance(v, str) and len(v) > 60:
            v = repr(v[:60]) + "..."
        print("  %-50s %-5s %s" % (k, t, v))
    for name, t in g.tensors.items():
        print("  %-40s %-6s ne=%s" % (name, t.type_name, list(t.ne)))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
