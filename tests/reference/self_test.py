#!/usr/bin/python3
"""Self-tests of the NumPy gpt-oss reference (no C code involved).

    /usr/bin/python3 tests/reference/self_test.py [--bench] [--no-vocab] [-k NAME]

Builds tiny GGUF files with its own minimal writer and checks:
  - the reader: all 13 metadata value types, v2/v3, general.alignment, split files;
  - block decoding of known byte patterns (every MXFP4 nibble, e = 0, 1, 2, 127, 254; Q8_0; F16;
    BF16), and against ggml's doubled-integer MXFP4 formulation;
  - YaRN: correction range, ramp table, mscale, f32 angle step (gpt-oss.md §7);
  - mask, router and SwiGLU details;
  - the vectorised forward pass against a naive token-by-token implementation in this file;
  - causality (prefix logits), the sliding window on a one-layer (sliding-only) model, fused
    gate_up vs split gate/up, split files, the CLIs of gptoss_ref.py and compare.py;
  - check_vocab.py on tokenizer data built from data/o200k_base.tiktoken (if present).
--bench times 300 tokens on a 4-layer / d_model 256 / 8-expert / vocab 201088 model.
Exit status 0 when everything passes.
"""

import argparse
import base64
import math
import os
import struct
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gguf_read as gr           # noqa: E402
import gptoss_ref as ref         # noqa: E402

PY = sys.executable

# ---------------------------------------------------------------------------------------------
# Minimal GGUF writer
# ---------------------------------------------------------------------------------------------

_PACK = {gr.VT_U8: "<B", gr.VT_I8: "<b", gr.VT_U16: "<H", gr.VT_I16: "<h", gr.VT_U32: "<I",
         gr.VT_I32: "<i", gr.VT_F32: "<f", gr.VT_BOOL: "<B", gr.VT_U64: "<Q", gr.VT_I64: "<q",
         gr.VT_F64: "<d"}
_NP = {gr.VT_U8: "<u1", gr.VT_I8: "<i1", gr.VT_U16: "<u2", gr.VT_I16: "<i2", gr.VT_U32: "<u4",
       gr.VT_I32: "<i4", gr.VT_F32: "<f4", gr.VT_BOOL: "<u1", gr.VT_U64: "<u8", gr.VT_I64: "<i8",
       gr.VT_F64: "<f8"}


def _gstr(s):
    b = s.encode("utf-8", gr.STR_ERRORS) if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def _value(vtype, value):
    """Encode a value. Arrays are given as (element_type, items)."""
    if vtype in _PACK:
        return struct.pack(_PACK[vtype], int(value) if vtype == gr.VT_BOOL else value)
    if vtype == gr.VT_STR:
        return _gstr(value)
    if vtype == gr.VT_ARRAY:
        etype, items = value
        head = struct.pack("<IQ", etype, len(items))
        if etype in _NP:
            return head + np.asarray(items).astype(_NP[etype]).tobytes()
        return head + b"".join(_value(etype, it) for it in items)
    raise ValueError(vtype)


def write_gguf(path, kv, tensors, alignment=32, version=3):
    """kv: list of (key, vtype, value); tensors: list of (name, ne, ggml_type, raw bytes)."""
    if alignment != 32 and not any(k == "general.alignment" for k, _, _ in kv):
        kv = [("general.alignment", gr.VT_U32, alignment)] + list(kv)
    out = [struct.pack("<IIQQ", gr.GGUF_MAGIC, version, len(tensors), len(kv))]
    for key, vtype, value in kv:
        out.append(_gstr(key) + struct.pack("<I", vtype) + _value(vtype, value))
    offset, blobs = 0, []
    for name, ne, gtype, raw in tensors:
        out.append(_gstr(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne)
                   + struct.pack("<IQ", gtype, offset))
        pad = (-len(raw)) % alignment
        blobs.append(bytes(raw) + b"\0" * pad)
        offset += len(raw) + pad
    header = b"".join(out)
    header += b"\0" * ((-len(header)) % alignment)
    with open(path, "wb") as f:
        f.write(header)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------------------------------------
# Encoders for test weights
# ---------------------------------------------------------------------------------------------

def enc_f32(x):
    return np.asarray(x, dtype="<f4").tobytes()


def enc_f16(x):
    return np.asarray(x, dtype="<f2").tobytes()


def enc_bf16(x):
    bits = np.asarray(x, dtype="<f4").view("<u4") >> 16       # truncation is fine for tests
    return bits.astype("<u2").tobytes()


def enc_q8_0(x):
    """ggml's reference quantizer: d = amax / 127, q = round(x / d), d stored as half."""
    blocks = np.asarray(x, dtype=np.float32).reshape(-1, 32)
    amax = np.abs(blocks).max(axis=1)
    d = amax / 127.0
    inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1), 0.0)
    q = np.clip(np.round(blocks * inv[:, None]), -128, 127).astype(np.int8)
    out = np.empty((blocks.shape[0], 34), dtype=np.uint8)
    out[:, 0:2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def mxfp4_random(rng, n_blocks, e_lo, e_hi):
    """Random MXFP4 blocks: random nibbles, shared exponent uniform in [e_lo, e_hi]."""
    out = np.empty((n_blocks, 17), dtype=np.uint8)
    out[:, 0] = rng.integers(e_lo, e_hi + 1, size=n_blocks)
    out[:, 1:] = rng.integers(0, 256, size=(n_blocks, 16))
    return out


DENSE_ENCODERS = {gr.GGML_F32: enc_f32, gr.GGML_F16: enc_f16, gr.GGML_BF16: enc_bf16,
                  gr.GGML_Q8_0: enc_q8_0}


# ---------------------------------------------------------------------------------------------
# Synthetic gpt-oss models
# ---------------------------------------------------------------------------------------------

TINY = dict(n_layer=3, d=64, H=4, H_kv=2, hd=16, E=4, k=2, ff=64, vocab=64, window=8,
            qk_std=0.15, dense="mixed")
BENCH = dict(n_layer=4, d=256, H=8, H_kv=2, hd=64, E=8, k=4, ff=256, vocab=201088, window=128,
             qk_std=0.06, dense="q8_0")


def _dense_type(cfg, name):
    if cfg["dense"] == "q8_0":
        return gr.GGML_Q8_0
    # "mixed": exercise every dense type in the forward pass
    for key, t in (("attn_k", gr.GGML_BF16), ("attn_v", gr.GGML_F16), ("attn_output", gr.GGML_F32)):
        if key in name:
            return t
    return gr.GGML_Q8_0


def model_kv(cfg):
    A = "gpt-oss."
    U32, F32, STR = gr.VT_U32, gr.VT_F32, gr.VT_STR
    return [
        ("general.architecture", STR, "gpt-oss"),
        ("general.name", STR, "synthetic"),
        (A + "block_count", U32, cfg["n_layer"]),
        (A + "context_length", U32, 131072),
        (A + "embedding_length", U32, cfg["d"]),
        (A + "feed_forward_length", U32, cfg["ff"]),
        (A + "expert_feed_forward_length", U32, cfg["ff"]),
        (A + "attention.head_count", U32, cfg["H"]),
        (A + "attention.head_count_kv", U32, cfg["H_kv"]),
        (A + "attention.key_length", U32, cfg["hd"]),
        (A + "attention.value_length", U32, cfg["hd"]),
        (A + "attention.layer_norm_rms_epsilon", F32, 1e-5),
        (A + "attention.sliding_window", U32, cfg["window"]),
        (A + "expert_count", U32, cfg["E"]),
        (A + "expert_used_count", U32, cfg["k"]),
        (A + "rope.freq_base", F32, 150000.0),
        (A + "rope.scaling.type", STR, "yarn"),
        (A + "rope.scaling.factor", F32, 32.0),
        (A + "rope.scaling.original_context_length", U32, 4096),
        ("tokenizer.ggml.model", STR, "gpt2"),
        ("tokenizer.ggml.tokens", gr.VT_ARRAY, (STR, ["t%d" % i for i in range(cfg["vocab"])])),
    ]


def model_tensors(cfg, seed, fused=False):
    """List of (name, ne, type, raw) for a synthetic model. The same seed gives the same
    weights with fused=False (gate/up) and fused=True (gate_up)."""
    rng = np.random.default_rng(seed)
    d, H, Hkv, hd, E, ff, V = (cfg[k] for k in ("d", "H", "H_kv", "hd", "E", "ff", "vocab"))
    out = []

    def dense(name, n_in, n_out, std):
        t = _dense_type(cfg, name)
        x = rng.normal(0.0, std, size=(n_out, n_in)).astype(np.float32)
        out.append((name, [n_in, n_out], t, DENSE_ENCODERS[t](x)))

    def vec(name, ne, std, mean=0.0):
        x = (mean + rng.normal(0.0, std, size=int(np.prod(ne)))).astype(np.float32)
        out.append((name, list(ne), gr.GGML_F32, enc_f32(x)))

    # Exponents: gate/up pre-activations with std ~5 (so the +-7 clamps engage), down ~1.
    e_gu = int(round(127 + math.log2(5.0 / (2.93 * math.sqrt(d)))))
    e_dn = int(round(127 + math.log2(1.0 / (2.93 * 3.0 * math.sqrt(ff)))))

    dense("token_embd.weight", d, V, 1.0)
    for l in range(cfg["n_layer"]):
        p = "blk.%d." % l
        vec(p + "attn_norm.weight", [d], 0.1, 1.0)
        dense(p + "attn_q.weight", d, H * hd, cfg["qk_std"])
        vec(p + "attn_q.bias", [H * hd], 0.3)
        dense(p + "attn_k.weight", d, Hkv * hd, cfg["qk_std"])
        vec(p + "attn_k.bias", [Hkv * hd], 0.3)
        dense(p + "attn_v.weight", d, Hkv * hd, 1.0 / math.sqrt(d))
        vec(p + "attn_v.bias", [Hkv * hd], 0.1)
        dense(p + "attn_output.weight", H * hd, d, 1.0 / math.sqrt(H * hd))
        vec(p + "attn_output.bias", [d], 0.1)
        vec(p + "attn_sinks.weight", [H], 1.0)
        vec(p + "post_attention_norm.weight", [d], 0.1, 1.0)
        vec(p + "ffn_gate_inp.weight", [d, E], 0.3)        # router: always F32
        vec(p + "ffn_gate_inp.bias", [E], 0.5)
        row_blocks = d // 32
        gate = mxfp4_random(rng, E * ff * row_blocks, e_gu - 1, e_gu + 1).reshape(E, ff, -1)
        up = mxfp4_random(rng, E * ff * row_blocks, e_gu - 1, e_gu + 1).reshape(E, ff, -1)
        bg = rng.normal(0.0, 1.0, size=(E, ff)).astype(np.float32)
        bu = rng.normal(0.0, 1.0, size=(E, ff)).astype(np.float32)
        if fused:
            out.append((p + "ffn_gate_up_exps.weight", [d, 2 * ff, E], gr.GGML_MXFP4,
                        np.concatenate([gate, up], axis=1).tobytes()))
            out.append((p + "ffn_gate_up_exps.bias", [2 * ff, E], gr.GGML_F32,
                        enc_f32(np.concatenate([bg, bu], axis=1))))
        else:
            out.append((p + "ffn_gate_exps.weight", [d, ff, E], gr.GGML_MXFP4, gate.tobytes()))
            out.append((p + "ffn_gate_exps.bias", [ff, E], gr.GGML_F32, enc_f32(bg)))
            out.append((p + "ffn_up_exps.weight", [d, ff, E], gr.GGML_MXFP4, up.tobytes()))
            out.append((p + "ffn_up_exps.bias", [ff, E], gr.GGML_F32, enc_f32(bu)))
        down = mxfp4_random(rng, E * d * (ff // 32), e_dn - 1, e_dn + 1)
        out.append((p + "ffn_down_exps.weight", [ff, d, E], gr.GGML_MXFP4, down.tobytes()))
        vec(p + "ffn_down_exps.bias", [d, E], 0.1)
    vec("output_norm.weight", [d], 0.1, 1.0)
    dense("output.weight", d, V, 1.0 / math.sqrt(d))
    return out


def build_model(path, cfg, seed, fused=False, n_shards=1):
    """Write a synthetic model. With n_shards > 1, `path` is the prefix and the first shard's
    path is returned."""
    kv = model_kv(cfg)
    tensors = model_tensors(cfg, seed, fused)
    if n_shards == 1:
        write_gguf(path, kv, tensors)
        return path
    per = -(-len(tensors) // n_shards)
    paths = []
    for i in range(n_shards):
        split_kv = [("split.no", gr.VT_U16, i), ("split.count", gr.VT_U16, n_shards),
                    ("split.tensors.count", gr.VT_I32, len(tensors))]
        shard_path = "%s-%05d-of-%05d.gguf" % (path, i + 1, n_shards)
        write_gguf(shard_path, (kv if i == 0 else []) + split_kv, tensors[i * per:(i + 1) * per])
        paths.append(shard_path)
    return paths[0]


# ---------------------------------------------------------------------------------------------
# A naive, token-by-token implementation (scalar loops; written separately from gptoss_ref)
# ---------------------------------------------------------------------------------------------

def naive_logits(path, tokens):
    g = gr.GGUFReader(path)
    kv = g.kv
    A = "gpt-oss."
    L = kv[A + "block_count"]
    H, Hkv, hd = kv[A + "attention.head_count"], kv[A + "attention.head_count_kv"], \
        kv[A + "attention.key_length"]
    E, K = kv[A + "expert_count"], kv[A + "expert_used_count"]
    eps = kv[A + "attention.layer_norm_rms_epsilon"]
    window = kv[A + "attention.sliding_window"]
    base = kv[A + "rope.freq_base"]
    factor = kv[A + "rope.scaling.factor"]
    n_orig = kv[A + "rope.scaling.original_context_length"]
    n_rot, half = hd, hd // 2
    W = {name: g.load(name) for name in g.tensors}

    def rms(x, w):
        return x / math.sqrt(sum(v * v for v in x) / len(x) + eps) * w

    def corr(beta):
        return n_rot * math.log(n_orig / (2 * math.pi * beta)) / (2 * math.log(base))
    lo, hi = max(0, math.floor(corr(32))), min(n_rot - 1, math.ceil(corr(1)))
    mscale = 1 + 0.1 * math.log(factor)
    step = np.float32(float(np.float32(base)) ** (-2.0 / n_rot))

    def rope(vec, p):
        out = vec.copy()
        theta = np.float32(p)
        for i in range(half):
            if i > 0:
                theta = np.float32(theta * step)
            ramp = 1 - min(1.0, max(0.0, (i - lo) / max(0.001, hi - lo)))
            t = float(theta) / factor * (1 - ramp) + float(theta) * ramp
            c, s = math.cos(t) * mscale, math.sin(t) * mscale
            out[i] = vec[i] * c - vec[i + half] * s
            out[i + half] = vec[i] * s + vec[i + half] * c
        return out

    caches = [([], []) for _ in range(L)]
    rows = []
    for p, tok in enumerate(tokens):
        x = W["token_embd.weight"][tok].copy()
        for l in range(L):
            b = "blk.%d." % l
            h = rms(x, W[b + "attn_norm.weight"])
            q = W[b + "attn_q.weight"] @ h + W[b + "attn_q.bias"]
            k = W[b + "attn_k.weight"] @ h + W[b + "attn_k.bias"]
            v = W[b + "attn_v.weight"] @ h + W[b + "attn_v.bias"]
            qh = [rope(q[i * hd:(i + 1) * hd], p) for i in range(H)]
            kh = [rope(k[i * hd:(i + 1) * hd], p) for i in range(Hkv)]
            vh = [v[i * hd:(i + 1) * hd] for i in range(Hkv)]
            caches[l][0].append(kh)
            caches[l][1].append(vh)
            o = []
            for hq in range(H):
                hk = hq // (H // Hkv)
                js = [j for j in range(p + 1) if l % 2 == 1 or p - j < window]
                s = [float(qh[hq] @ caches[l][0][j][hk]) / math.sqrt(hd) for j in js]
                sink = W[b + "attn_sinks.weight"][hq]
                m = max(max(s), sink)
                z = sum(math.exp(si - m) for si in s) + math.exp(sink - m)
                acc = np.zeros(hd)
                for si, j in zip(s, js):
                    acc += math.exp(si - m) / z * caches[l][1][j][hk]
                o.append(acc)
            x = x + W[b + "attn_output.weight"] @ np.concatenate(o) + W[b + "attn_output.bias"]
            h2 = rms(x, W[b + "post_attention_norm.weight"])
            r = W[b + "ffn_gate_inp.weight"] @ h2 + W[b + "ffn_gate_inp.bias"]
            top = sorted(range(E), key=lambda e: (-r[e], e))[:K]
            wts = [math.exp(r[e] - r[top[0]]) for e in top]
            wts = [w / sum(wts) for w in wts]
            y = np.zeros_like(x)
            for e, w in zip(top, wts):
                fused = b + "ffn_gate_up_exps"
                if fused + ".weight" in W:
                    gu = W[fused + ".weight"][e] @ h2 + W[fused + ".bias"][e]
                    gg, uu = gu[:len(gu) // 2], gu[len(gu) // 2:]
                else:
                    gg = W[b + "ffn_gate_exps.weight"][e] @ h2 + W[b + "ffn_gate_exps.bias"][e]
                    uu = W[b + "ffn_up_exps.weight"][e] @ h2 + W[b + "ffn_up_exps.bias"][e]
                a = np.array([min(gi, 7.0) / (1 + math.exp(-1.702 * min(gi, 7.0)))
                              * (min(7.0, max(-7.0, ui)) + 1) for gi, ui in zip(gg, uu)])
                y += w * (W[b + "ffn_down_exps.weight"][e] @ a + W[b + "ffn_down_exps.bias"][e])
            x = x + y
        rows.append(W["output.weight"] @ rms(x, W["output_norm.weight"]))
    return np.array(rows)


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------

class Ctx:
    def __init__(self, tmp, args):
        self.tmp = tmp
        self.args = args
        self._models = {}

    def model(self, name, cfg=TINY, seed=1, **kw):
        if name not in self._models:
            self._models[name] = build_model(os.path.join(self.tmp, name), cfg, seed, **kw)
        return self._models[name]


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def rel_err(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_value_types(ctx):
    """All 13 value types, arrays of each, nested arrays, alignment 64, versions 2 and 3."""
    kv = [
        ("t.u8", gr.VT_U8, 250), ("t.i8", gr.VT_I8, -100), ("t.u16", gr.VT_U16, 65000),
        ("t.i16", gr.VT_I16, -32000), ("t.u32", gr.VT_U32, 4000000000),
        ("t.i32", gr.VT_I32, -2000000000), ("t.f32", gr.VT_F32, 1e-5),
        ("t.bool", gr.VT_BOOL, True), ("t.str", gr.VT_STR, "h\u00e9llo \u0120"),
        ("t.u64", gr.VT_U64, 2 ** 63 + 5), ("t.i64", gr.VT_I64, -2 ** 62),
        ("t.f64", gr.VT_F64, math.pi),
        ("a.i32", gr.VT_ARRAY, (gr.VT_I32, [1, -2, 3])),
        ("a.f32", gr.VT_ARRAY, (gr.VT_F32, [0.5, -1.25])),
        ("a.bool", gr.VT_ARRAY, (gr.VT_BOOL, [True, False, True])),
        ("a.u8", gr.VT_ARRAY, (gr.VT_U8, [0, 255])),
        ("a.f64", gr.VT_ARRAY, (gr.VT_F64, [1e300])),
        ("a.str", gr.VT_ARRAY, (gr.VT_STR, ["a", "", "\u0120b c", "x" * 300])),
        ("a.empty", gr.VT_ARRAY, (gr.VT_STR, [])),
        ("a.nested", gr.VT_ARRAY, (gr.VT_ARRAY, [(gr.VT_U16, [1, 2]), (gr.VT_STR, ["q"])])),
    ]
    tensors = [("w", [32, 2], gr.GGML_F32, enc_f32(np.arange(64))),
               ("v", [3], gr.GGML_F16, enc_f16([1, 2, 3]))]
    for version in (2, 3):
        for align in (32, 64):
            path = os.path.join(ctx.tmp, "types_v%d_a%d.gguf" % (version, align))
            write_gguf(path, kv, tensors, alignment=align, version=version)
            g = gr.GGUFReader(path)
            check(g.version == version, "version")
            for key, vtype, value in kv:
                got = g.kv[key]
                check(g.kv_types[key] == vtype, "type of " + key)
                if vtype == gr.VT_F32:
                    check(got == float(np.float32(value)), key)
                elif vtype == gr.VT_ARRAY and key == "a.nested":
                    check(list(got[0]) == [1, 2] and got[1] == ["q"], key)
                elif vtype == gr.VT_ARRAY:
                    check(list(got) == list(value[1]), "%s: %r" % (key, got))
                else:
                    check(got == value and type(got) is type(value), "%s: %r" % (key, got))
            check(g.files[0].data_start % align == 0, "data section alignment")
            check(np.array_equal(g.load("w"), np.arange(64).reshape(2, 32)), "tensor w")
            check(np.array_equal(g.load("v"), [1, 2, 3]), "tensor v")
            check(g.tensors["v"].offset % align == 0, "tensor offset alignment")
    # refusals
    bad = os.path.join(ctx.tmp, "bad.gguf")
    write_gguf(bad, [], [("x", [32], 2, b"\0" * 18)])              # Q4_0: not implemented
    try:
        gr.GGUFReader(bad)
        raise AssertionError("unsupported type accepted")
    except gr.GGUFError as exc:
        check("x" in str(exc), "message names the tensor")


def test_dequant_patterns(ctx):
    """Exact decoding of known bytes (doc §5, §8 test ladder step 1)."""
    mags = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
    ggml_int = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]
    for e in (0, 1, 2, 127, 254):
        block = np.zeros(17, dtype=np.uint8)
        block[0] = e
        for j in range(16):
            block[1 + j] = j | ((15 - j) << 4)          # low nibbles 0..15, high nibbles 15..0
        got = gr.dequantize(block, gr.GGML_MXFP4)
        nib = list(range(16)) + list(range(15, -1, -1))
        want = [(-1.0 if n & 8 else 1.0) * mags[n & 7] * math.ldexp(1.0, e - 127) for n in nib]
        check(np.array_equal(got, want), "MXFP4 e=%d: %s" % (e, got))
        # ggml's formulation: doubled integer table times 2^(e-128) built as f32 bits
        bits = {0: 0x00200000, 1: 0x00400000}.get(e, (e - 1) << 23)
        s = float(np.array([bits], dtype="<u4").view("<f4")[0])
        check(np.array_equal(got, [ggml_int[n] * s for n in nib]), "MXFP4 ggml table e=%d" % e)
        check(math.copysign(1.0, got[8]) == -1.0, "nibble 8 is -0")
    # element order within a block: j = low nibble of qs[j], j + 16 = high nibble
    block = np.zeros(17, dtype=np.uint8)
    block[0] = 127
    block[1 + 3] = 0x52                                  # elem 3 = 2 -> 1.0, elem 19 = 5 -> 3.0
    got = gr.dequantize(block, gr.GGML_MXFP4)
    check(got[3] == 1.0 and got[19] == 3.0 and np.count_nonzero(got) == 2, "MXFP4 positions")

    # Q8_0: half d (1, 0.5, -1, smallest subnormal, largest finite), q = -128..127
    ds = [0x3C00, 0x3800, 0xBC00, 0x0001, 0x7BFF]
    dval = [1.0, 0.5, -1.0, 2.0 ** -24, 65504.0]
    q = np.arange(-128, 128, dtype=np.int64).reshape(8, 32)
    for dbits, dv in zip(ds, dval):
        raw = np.zeros((8, 34), dtype=np.uint8)
        raw[:, 0] = dbits & 0xFF
        raw[:, 1] = dbits >> 8
        raw[:, 2:] = (q & 0xFF).astype(np.uint8)
        got = gr.dequantize(raw, gr.GGML_Q8_0)
        check(np.array_equal(got, dv * q.reshape(-1)), "Q8_0 d=0x%04x" % dbits)

    f16 = np.array([0x3C00, 0xC000, 0x0001, 0x7BFF, 0x8000], dtype="<u2")
    check(np.array_equal(gr.dequantize(f16.view(np.uint8), gr.GGML_F16),
                         [1.0, -2.0, 2.0 ** -24, 65504.0, -0.0]), "F16")
    bf16 = np.array([0x3F80, 0xC040, 0x0001, 0x7F7F], dtype="<u2")
    check(np.array_equal(gr.dequantize(bf16.view(np.uint8), gr.GGML_BF16),
                         [1.0, -3.0, 2.0 ** -133, float(np.float32(3.3895313892515355e38))]),
          "BF16")
    f32 = np.array([1.5, -2.25e-30], dtype="<f4")
    check(np.array_equal(gr.dequantize(f32.view(np.uint8), gr.GGML_F32),
                         f32.astype(np.float64)), "F32")

    # indexing on the outermost dimension (experts, rows) equals slicing the full array
    path = ctx.model("tiny.gguf")
    g = gr.GGUFReader(path)
    full = g.load("blk.0.ffn_up_exps.weight")
    check(full.shape == (TINY["E"], TINY["ff"], TINY["d"]), "expert tensor shape")
    check(np.array_equal(g.load("blk.0.ffn_up_exps.weight", 2), full[2]), "expert index")
    emb = g.load("token_embd.weight")
    check(np.array_equal(g.load("token_embd.weight", np.array([5, 1, 5])), emb[[5, 1, 5]]),
          "row gather")
    check(np.array_equal(g.load("token_embd.weight", slice(3, 9)), emb[3:9]), "row slice")


def test_yarn(ctx):
    """gpt-oss.md §7 with head_dim 64, base 150000, original context 4096, factor 32."""
    lo, hi = ref.yarn_corr_dims(64, 4096, 150000.0, 32.0, 1.0, rounded=True)
    check((lo, hi) == (8, 18), "rounded corr dims %r" % ((lo, hi),))
    ulo, uhi = ref.yarn_corr_dims(64, 4096, 150000.0, 32.0, 1.0, rounded=False)
    check(abs(ulo - 8.0928) < 5e-5 and abs(uhi - 17.3980) < 5e-5, "unrounded %r" % ((ulo, uhi),))
    ramp = ref.yarn_ramp(64, lo, hi)
    want = np.concatenate([np.ones(9), [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1],
                           np.zeros(14)])
    check(ramp.shape == (32,) and np.allclose(ramp, want, atol=1e-12, rtol=0), "ramp %s" % ramp)
    uramp = ref.yarn_ramp(64, ulo, uhi)
    uwant = [0.9025, 0.7950, 0.6876, 0.5801, 0.4726, 0.3652, 0.2577, 0.1502, 0.0428]
    check(np.allclose(uramp[9:18], uwant, atol=6e-5, rtol=0) and np.all(uramp[:9] == 1)
          and np.all(uramp[18:] == 0), "unrounded ramp %s" % uramp)
    ms = ref.yarn_mscale(1 / 32, 1.0, 1.0)
    check(abs(ms - 1.3465736) < 1e-7, "mscale %r" % ms)
    check(abs(0.125 * ms * ms - 0.2266576) < 1e-7, "effective q.k scale")
    step = ref.rope_theta_step_f32(150000.0, 64)
    check(step == np.float32(0.68904430), "f32 step %r" % step)
    th = ref.rope_thetas(np.array([0, 1, 300, 131071]), 150000.0, 64)
    exact = ref.rope_thetas(np.array([0, 1, 300, 131071]), 150000.0, 64, f32_iterative=False)
    check(np.all(th[:, 0] == [0, 1, 300, 131071]), "theta_0 = p")
    check(np.allclose(th, exact, rtol=2e-6, atol=0), "f32 iteration close to closed form")
    check(not np.array_equal(th, exact), "f32 iteration is not the float64 closed form")

    # rotation: NEOX pairs (i, i + 32), norm scaled by mscale, dims beyond n_rot untouched
    class HP:
        rope_base, n_rot, freq_scale, n_ctx_orig = 150000.0, 64, 1 / 32, 4096
        ext_factor, attn_factor, beta_fast, beta_slow = 1.0, 1.0, 32.0, 1.0
    cos, sin = ref.rope_cos_sin(HP, np.array([7]))
    x = np.zeros((1, 1, 64))
    x[0, 0, 3] = 1.0
    y = ref.apply_rope(x, cos, sin, 64)
    check(np.count_nonzero(y) == 2 and abs(y[0, 0, 3] - cos[0, 3]) < 1e-15
          and abs(y[0, 0, 35] - sin[0, 3]) < 1e-15, "NEOX pair (3, 35)")
    t = 7 * float(step) ** 3                               # ramp 1 at pair 3: original frequency
    check(abs(cos[0, 3] - ms * math.cos(t)) < 1e-6, "angle of pair 3")
    t20 = float(ref.rope_thetas(np.array([7]), 150000.0, 64)[0, 20]) / 32   # ramp 0: /32
    check(abs(sin[0, 20] - ms * math.sin(t20)) < 1e-15, "angle of pair 20")


def test_mask_route_swiglu(ctx):
    pos = np.arange(301)
    m = ref.visible(pos[300:301], pos, sliding=True, window=128)[0]
    check(list(np.nonzero(m)[0]) == list(range(173, 301)), "sliding visible set at p=300")
    m = ref.visible(pos[300:301], pos, sliding=False, window=128)[0]
    check(list(np.nonzero(m)[0]) == list(range(0, 301)), "full visible set at p=300")
    m = ref.visible(pos[5:6], pos, sliding=True, window=128)[0]
    check(list(np.nonzero(m)[0]) == list(range(0, 6)), "causal")

    r = np.array([[0.5, 2.0, 2.0, -1.0, 2.0, 1.0]])
    top, w, margin = ref.route(r, 2)
    check(list(top[0]) == [1, 2], "ties go to the lower index: %s" % top)
    check(np.allclose(w[0], [0.5, 0.5]) and margin[0] == 0.0, "tie weights / margin")
    top, w, margin = ref.route(np.array([[3.0, 1.0, 0.0, 2.5]]), 2)
    e = np.exp([3.0, 2.5])
    check(list(top[0]) == [0, 3] and np.allclose(w[0], e / e.sum()) and margin[0] == 1.5,
          "softmax over the selected k only")

    g = np.array([10.0, 7.0, -3.0, 0.0, 1.0])
    u = np.array([-10.0, 10.0, 0.5, 2.0, -0.5])
    want = [7 / (1 + math.exp(-1.702 * 7)) * -6, 7 / (1 + math.exp(-1.702 * 7)) * 8,
            -3 / (1 + math.exp(1.702 * 3)) * 1.5, 0.0, 1 / (1 + math.exp(-1.702)) * 0.5]
    check(np.allclose(ref.swiglu_oai(g, u), want, rtol=1e-14, atol=0), "swiglu_oai")


def test_synthetic_model_is_sharp(ctx):
    """The test model must make attention peaky and engage the SwiGLU clamps (doc §8)."""
    m = ref.GptOssReference(ctx.model("tiny.gguf"), kv="f64")
    hp, g = m.hp, m.g
    tokens = np.arange(24) * 5 % TINY["vocab"]
    x = g.load("token_embd.weight", tokens)
    h = ref.rms_norm(x, g.load("blk.0.attn_norm.weight"), hp.eps)
    q = m._proj(h, "blk.0.attn_q", hp.n_head * hp.head_dim, hp.d_model)
    k = m._proj(h, "blk.0.attn_k", hp.n_head_kv * hp.head_dim, hp.d_model)
    q, k = q.reshape(24, hp.n_head, -1), k.reshape(24, hp.n_head_kv, -1)
    cos, sin = ref.rope_cos_sin(hp, np.arange(24))
    q, k = ref.apply_rope(q, cos, sin, hp.n_rot), ref.apply_rope(k, cos, sin, hp.n_rot)
    s = np.einsum("thd,jhd->htj", q[:, ::hp.n_head // hp.n_head_kv], k) / math.sqrt(hp.head_dim)
    check(s.std() > 1.0, "attention scores too flat: std %.3f" % s.std())
    x = x + m.attention_block(0, x, np.arange(24))
    h2 = ref.rms_norm(x, g.load("blk.0.post_attention_norm.weight"), hp.eps)
    gate = h2 @ g.load("blk.0.ffn_gate_exps.weight", 0).T + g.load("blk.0.ffn_gate_exps.bias", 0)
    up = h2 @ g.load("blk.0.ffn_up_exps.weight", 0).T + g.load("blk.0.ffn_up_exps.bias", 0)
    check((gate > 7).mean() > 0.01 and (gate < -7).mean() > 0.01, "gate clamp not exercised")
    check((up > 7).mean() > 0.01 and (up < -7).mean() > 0.01, "up clamp not exercised")


def test_against_naive(ctx):
    """Vectorised layer-by-layer pass == naive token-by-token pass with a growing cache."""
    tokens = list(np.random.default_rng(5).integers(0, TINY["vocab"], size=20))
    for name, kw in (("tiny.gguf", {}), ("tiny_fused.gguf", {"fused": True})):
        path = ctx.model(name, **kw)
        got, margin = ref.GptOssReference(path, kv="f64").logits(tokens)
        want = naive_logits(path, tokens)
        check(got.shape == (20, TINY["vocab"]) and margin.shape == (20,), "shapes")
        err = max(rel_err(got[i].astype(np.float64), want[i]) for i in range(20))
        check(err < 1e-6, "%s: vectorised vs naive rel err %.3e" % (name, err))  # f32 output


def test_causality(ctx):
    path = ctx.model("tiny.gguf")
    m = ref.GptOssReference(path, kv="f64")
    tokens = list(np.random.default_rng(6).integers(0, TINY["vocab"], size=40))
    full, _ = m.logits(tokens)
    pre, _ = m.logits(tokens[:23])
    check(np.allclose(full[:23], pre, rtol=1e-6, atol=1e-6), "prefix logits differ")
    tokens2 = list(tokens)
    tokens2[30] = (tokens2[30] + 1) % TINY["vocab"]
    alt, _ = m.logits(tokens2)
    check(np.allclose(full[:30], alt[:30], rtol=1e-6, atol=1e-6), "future token changed the past")
    check(rel_err(alt[30].astype(float), full[30].astype(float)) > 1e-3, "token change no effect")


def test_sliding_window_only_model(ctx):
    """A 1-layer model has only layer 0, which is sliding: token 0 affects rows 0..window-1."""
    cfg = dict(TINY, n_layer=1)
    path = ctx.model("one_layer.gguf", cfg=cfg, seed=3)
    m = ref.GptOssReference(path, kv="f64")
    tokens = list(np.random.default_rng(7).integers(0, TINY["vocab"], size=20))
    a, _ = m.logits(tokens)
    tokens[0] = (tokens[0] + 7) % TINY["vocab"]
    b, _ = m.logits(tokens)
    W = cfg["window"]
    for i in range(20):
        err = rel_err(b[i].astype(float), a[i].astype(float))
        if i < W:
            check(err > 1e-4, "row %d should see token 0 (err %.2e)" % (i, err))
        else:
            check(err < 1e-6, "row %d sees token 0 beyond the window (err %.2e)" % (i, err))
    # with a second (full) layer the influence reaches every row
    path2 = ctx.model("two_layer.gguf", cfg=dict(TINY, n_layer=2), seed=3)
    m2 = ref.GptOssReference(path2, kv="f64")
    a2, _ = m2.logits(tokens)
    tokens[0] = (tokens[0] + 7) % TINY["vocab"]
    b2, _ = m2.logits(tokens)
    check(rel_err(b2[-1].astype(float), a2[-1].astype(float)) > 1e-4, "full layer sees token 0")


def test_fused_gate_up(ctx):
    tokens = list(np.random.default_rng(8).integers(0, TINY["vocab"], size=30))
    a, ma = ref.GptOssReference(ctx.model("tiny.gguf")).logits(tokens)
    b, mb = ref.GptOssReference(ctx.model("tiny_fused.gguf", fused=True)).logits(tokens)
    check(np.array_equal(a, b) and np.array_equal(ma, mb), "fused gate_up differs from split")


def test_split_files(ctx):
    tokens = list(np.random.default_rng(9).integers(0, TINY["vocab"], size=12))
    a, _ = ref.GptOssReference(ctx.model("tiny.gguf")).logits(tokens)
    first = ctx.model("tiny_split", n_shards=3)
    g = gr.GGUFReader(first)
    check(len(g.files) == 3 and len(g.tensors) == len(model_tensors(TINY, 1)), "shards")
    check("gpt-oss.block_count" not in g.files[1].kv, "metadata only in shard 1")
    b, _ = ref.GptOssReference(first).logits(tokens)
    check(np.array_equal(a, b), "split model differs")
    os.rename(first.replace("00001-of", "00003-of"), os.path.join(ctx.tmp, "moved"))
    try:
        gr.GGUFReader(first)
        raise AssertionError("missing shard accepted")
    except gr.GGUFError as exc:
        check("00003" in str(exc), "missing shard message")
    finally:
        os.rename(os.path.join(ctx.tmp, "moved"), first.replace("00001-of", "00003-of"))


def test_kv_and_rope_options(ctx):
    path = ctx.model("tiny.gguf")
    tokens = list(np.random.default_rng(10).integers(0, TINY["vocab"], size=30))
    out = {}
    for kvm in ("f64", "f32", "f16"):
        out[kvm] = ref.GptOssReference(path, kv=kvm).logits(tokens)[0].astype(np.float64)
    e32 = max(rel_err(out["f32"][i], out["f64"][i]) for i in range(30))
    e16 = max(rel_err(out["f16"][i], out["f64"][i]) for i in range(30))
    check(e32 < 1e-5 and 1e-6 < e16 < 5e-2, "kv rounding effects f32 %.2e f16 %.2e" % (e32, e16))
    un = ref.GptOssReference(path, kv="f64", rope_rounded=False).logits(tokens)[0]
    check(rel_err(un[-1].astype(float), out["f64"][-1]) > 1e-4, "--rope-unrounded has no effect")


def _run(args, expect):
    p = subprocess.run([PY] + args, capture_output=True, text=True)
    if p.returncode != expect:
        raise AssertionError("%s exited %d, expected %d\n%s%s"
                             % (" ".join(args), p.returncode, expect, p.stdout, p.stderr))
    return p.stdout + p.stderr


def test_cli(ctx):
    path = ctx.model("tiny.gguf")
    V = TINY["vocab"]
    tokens = list(np.random.default_rng(11).integers(0, V, size=25))
    out, mar = os.path.join(ctx.tmp, "ref.bin"), os.path.join(ctx.tmp, "mar.bin")
    _run([os.path.join(HERE, "gptoss_ref.py"), path, "--tokens", ",".join(map(str, tokens)),
          "-o", out, "--margins", mar, "--kv", "f16"], 0)
    got = np.fromfile(out, dtype="<f4").reshape(25, V)
    m = np.fromfile(mar, dtype="<f4")
    want, wm = ref.GptOssReference(path, kv="f16").logits(tokens)
    check(np.array_equal(got, want) and np.array_equal(m, wm.astype(np.float32)), "CLI output")
    check(os.path.getsize(out) == 25 * V * 4 and m.shape == (25,) and np.all(m >= 0), "sizes")
    _run([os.path.join(HERE, "gptoss_ref.py"), path, "--tokens", "1,%d" % V, "-o", out], 1)

    cmp_py = os.path.join(HERE, "compare.py")
    _run([cmp_py, out, out, "--vocab", str(V), "--label", "self"], 0)
    # perturb one row slightly (passes), then one row a lot and change its argmax (fails)
    a = got.copy()
    a[3] *= 1 + 1e-5
    pa = os.path.join(ctx.tmp, "a.bin")
    a.astype("<f4").tofile(pa)
    _run([cmp_py, pa, out, "--vocab", str(V)], 0)
    a[7] = -got[7]
    a.astype("<f4").tofile(pa)
    txt = _run([cmp_py, pa, out, "--vocab", str(V), "--label", "bad"], 1)
    check("row 7" in txt, "failing row reported")
    # excluding row 7 by its router margin makes it pass; 2 rows of 25 (8%) excluded fails
    mm = np.full(25, 1.0, dtype="<f4")
    mm[7] = 1e-4
    pm = os.path.join(ctx.tmp, "m.bin")
    mm.tofile(pm)
    txt = _run([cmp_py, pa, out, "--vocab", str(V), "--margins", pm, "--min-margin", "1e-3"], 0)
    check("excluded" in txt, "exclusions reported")
    mm[8] = 0.0
    mm.tofile(pm)
    _run([cmp_py, pa, out, "--vocab", str(V), "--margins", pm], 1)
    # a constant shift per row: a large error, but none once the rows are centered
    (got + 0.5).astype("<f4").tofile(pa)
    _run([cmp_py, pa, out, "--vocab", str(V)], 1)
    txt = _run([cmp_py, pa, out, "--vocab", str(V), "--centered"], 0)
    check("centered" in txt, "centered summary")
    # size checks
    got[:24].astype("<f4").tofile(pa)
    txt = _run([cmp_py, pa, out, "--vocab", str(V)], 1)
    check("sizes differ" in txt, "size mismatch message")
    _run([cmp_py, out, out, "--vocab", str(V + 1)], 1)
    a = got.copy()
    a[2, 5] = np.nan
    a.astype("<f4").tofile(pa)
    _run([cmp_py, pa, out, "--vocab", str(V)], 1)


# -- check_vocab against tokenizer data rebuilt from the rank file (tokenizer.md §2, §3) --

def byte_level_map():
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, n = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(0x100 + n)
            n += 1
    return table


def vocab_kv(rank_file):
    ranks = {}
    with open(rank_file, "rb") as f:
        for line in f:
            b64, r = line.split()
            ranks[base64.b64decode(b64)] = int(r)
    bl = byte_level_map()

    def s(b):
        return "".join(bl[c] for c in b)
    by_rank = sorted(ranks, key=ranks.get)
    tokens = [s(b) for b in by_rank]
    merges = []
    for t in by_rank:
        for i in range(1, len(t)):
            left, right = t[:i], t[i:]
            if left in ranks and right in ranks:
                merges.append((ranks[t], ranks[left], ranks[right]))
    merges.sort()
    merge_strs = [tokens[l] + " " + tokens[r] for _, l, r in merges]
    named = {199998: "<|startoftext|>", 199999: "<|endoftext|>", 200002: "<|return|>",
             200003: "<|constrain|>", 200005: "<|channel|>", 200006: "<|start|>",
             200007: "<|end|>", 200008: "<|message|>", 200012: "<|call|>",
             200018: "<|endofprompt|>"}
    tokens += [named.get(i, "<|reserved_%d|>" % i) for i in range(199998, 200019)]
    tokens += ["[PAD%d]" % i for i in range(200019, 201088)]
    types = [1] * 199998 + [3] * 21 + [5] * (201088 - 200019)
    S, U32 = gr.VT_STR, gr.VT_U32
    return [("general.architecture", S, "gpt-oss"),
            ("tokenizer.ggml.model", S, "gpt2"), ("tokenizer.ggml.pre", S, "gpt-4o"),
            ("tokenizer.ggml.tokens", gr.VT_ARRAY, (S, tokens)),
            ("tokenizer.ggml.token_type", gr.VT_ARRAY, (gr.VT_I32, types)),
            ("tokenizer.ggml.merges", gr.VT_ARRAY, (S, merge_strs)),
            ("tokenizer.ggml.bos_token_id", U32, 199998),
            ("tokenizer.ggml.eos_token_id", U32, 200002),
            ("tokenizer.ggml.padding_token_id", U32, 199999),
            ("tokenizer.chat_template", S, "{# harmony #}")]


def test_check_vocab(ctx):
    rank_file = os.path.join(HERE, "..", "..", "data", "o200k_base.tiktoken")
    if ctx.args.no_vocab or not os.path.exists(rank_file):
        print("    (skipped: no data/o200k_base.tiktoken or --no-vocab)")
        return
    kv = vocab_kv(rank_file)
    good = os.path.join(ctx.tmp, "vocab.gguf")
    write_gguf(good, kv, [])
    t0 = time.time()
    txt = _run([os.path.join(HERE, "check_vocab.py"), good], 0)
    print("    check_vocab on a full vocab: %.1f s" % (time.time() - t0))
    check("OK" in txt, txt)
    # one wrong token type, a wrong eos id and a missing template: each reported
    bad_kv = []
    for key, vt, val in kv:
        if key == "tokenizer.ggml.token_type":
            val = (val[0], list(val[1]))
            val[1][200010] = 1
        elif key == "tokenizer.ggml.eos_token_id":
            val = 199999
        elif key == "tokenizer.chat_template":
            continue
        bad_kv.append((key, vt, val))
    bad = os.path.join(ctx.tmp, "vocab_bad.gguf")
    write_gguf(bad, bad_kv, [])
    txt = _run([os.path.join(HERE, "check_vocab.py"), bad], 1)
    for needle in ("token_type", "eos_token_id", "chat_template"):
        check(needle in txt, "missing report for " + needle + ":\n" + txt)


def test_bench(ctx):
    if not ctx.args.bench:
        print("    (skipped: pass --bench)")
        return
    t0 = time.time()
    path = build_model(os.path.join(ctx.tmp, "bench.gguf"), BENCH, seed=2)
    t1 = time.time()
    tokens = list(np.random.default_rng(12).integers(0, BENCH["vocab"], size=300))
    out = os.path.join(ctx.tmp, "bench.bin")
    _run([os.path.join(HERE, "gptoss_ref.py"), path, "--tokens", ",".join(map(str, tokens)),
          "-o", out, "--margins", out + ".m"], 0)
    t2 = time.time()
    print("    bench: build %.1f s, reference on 300 tokens (4 layers, d_model 256, 8 experts, "
          "vocab 201088, %d MB file): %.1f s" % (t1 - t0, os.path.getsize(path) >> 20, t2 - t1))


TESTS = [test_value_types, test_dequant_patterns, test_yarn, test_mask_route_swiglu,
         test_synthetic_model_is_sharp, test_against_naive, test_causality,
         test_sliding_window_only_model, test_fused_gate_up, test_split_files,
         test_kv_and_rope_options, test_cli, test_check_vocab, test_bench]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", action="store_true", help="time a 300-token, vocab-201088 run")
    ap.add_argument("--no-vocab", action="store_true", help="skip the full-vocabulary check")
    ap.add_argument("-k", help="run only tests whose name contains this")
    args = ap.parse_args()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="ferry_ref_") as tmp:
        ctx = Ctx(tmp, args)
        for t in TESTS:
            if args.k and args.k not in t.__name__:
                continue
            t0 = time.time()
            try:
                t(ctx)
                print("PASS %-32s %.1f s" % (t.__name__, time.time() - t0))
            except Exception:
                failed += 1
                print("FAIL %s\n%s" % (t.__name__, traceback.format_exc()))
    print("self_test: %s" % ("all passed" if not failed else "%d FAILED" % failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
