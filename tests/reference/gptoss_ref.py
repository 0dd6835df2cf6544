#!/usr/bin/python3
"""Float64 reference forward pass of gpt-oss, from /work/shared/docs/gpt-oss.md (§6, §7).

    /usr/bin/python3 gptoss_ref.py MODEL.gguf --tokens 1,2,3 -o OUT.bin
        [--kv f64|f32|f16] [--rope-unrounded] [--margins MARGINS.bin]

OUT.bin holds n_tokens x n_vocab float32 little-endian logits; row i is the output after token i
(positions 0, 1, 2, ...). MARGINS.bin holds, per token, the smallest router top-k margin over all
layers (r_k - r_{k+1} of the sorted router logits) as float32, so near-ties can be excluded from
strict comparisons.

The computation is organised layer by layer over the whole sequence (every weight is dequantized
once, and each expert only if some token routes to it). Causality comes from the attention mask,
so the result is the same as processing the tokens one at a time with a growing KV cache.
"""

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_read import GGUFReader, GGUFError  # noqa: E402

ARCH = "gpt-oss"
SWIGLU_ALPHA = 1.702
SWIGLU_LIMIT = 7.0


# ---------------------------------------------------------------------------------------------
# Hyperparameters
# ---------------------------------------------------------------------------------------------

class HParams:
    """Model hyperparameters, read from `gpt-oss.*` keys with the doc's defaults (§1, §3)."""

    def __init__(self, g):
        arch = g.get("general.architecture")
        if arch != ARCH:
            raise GGUFError("general.architecture is %r, expected %r (Ollama 'gptoss' blobs are "
                            "a different format)" % (arch, ARCH))

        def key(name, default=None):
            full = ARCH + "." + name
            if full in g.kv:
                v = g.kv[full]
                if isinstance(v, (list, np.ndarray)):
                    raise GGUFError("%s: per-layer arrays are not supported" % full)
                return v
            if default is None:
                raise GGUFError("missing metadata key " + full)
            return default

        self.n_layer = int(key("block_count"))
        self.d_model = int(key("embedding_length"))
        self.n_head = int(key("attention.head_count"))
        self.n_head_kv = int(key("attention.head_count_kv"))
        self.head_dim = int(key("attention.key_length"))        # NOT d_model / n_head
        value_length = int(key("attention.value_length", self.head_dim))
        if value_length != self.head_dim:
            raise GGUFError("attention.value_length %d != key_length %d"
                            % (value_length, self.head_dim))
        if self.n_head % self.n_head_kv:
            raise GGUFError("head_count %d is not a multiple of head_count_kv %d"
                            % (self.n_head, self.n_head_kv))
        self.n_expert = int(key("expert_count"))
        self.n_expert_used = int(key("expert_used_count"))
        if not 0 < self.n_expert_used <= self.n_expert:
            raise GGUFError("expert_used_count %d out of range" % self.n_expert_used)
        self.eps = float(key("attention.layer_norm_rms_epsilon"))
        self.window = int(key("attention.sliding_window"))
        pattern = g.get(ARCH + ".attention.sliding_window_pattern")
        if pattern is not None and not (np.isscalar(pattern) and int(pattern) == 2):
            raise GGUFError("attention.sliding_window_pattern %r is not supported (only period "
                            "2 with even layers sliding)" % (pattern,))

        # RoPE / YaRN (§3, §7)
        self.rope_base = float(key("rope.freq_base"))
        base_swa = g.get(ARCH + ".rope.freq_base_swa")
        if base_swa is not None and float(base_swa) != self.rope_base:
            raise GGUFError("rope.freq_base_swa %r differs from rope.freq_base %r: not supported"
                            % (base_swa, self.rope_base))
        self.n_rot = int(key("rope.dimension_count", self.head_dim))
        if self.n_rot % 2 or self.n_rot > self.head_dim:
            raise GGUFError("rope.dimension_count %d is not usable with head_dim %d"
                            % (self.n_rot, self.head_dim))
        scaling = g.get(ARCH + ".rope.scaling.type", "yarn")
        if scaling == "yarn":
            factor = float(key("rope.scaling.factor"))
            self.freq_scale = 1.0 / factor
            self.n_ctx_orig = int(key("rope.scaling.original_context_length"))
            self.ext_factor = float(key("rope.scaling.yarn_ext_factor", 1.0))
        elif scaling == "none":
            self.freq_scale = 1.0
            self.n_ctx_orig = int(key("context_length"))
            self.ext_factor = 0.0
        else:
            raise GGUFError("rope.scaling.type %r is not supported" % scaling)
        self.attn_factor = float(key("rope.scaling.yarn_attn_factor", 1.0))
        self.beta_fast = float(key("rope.scaling.yarn_beta_fast", 32.0))
        self.beta_slow = float(key("rope.scaling.yarn_beta_slow", 1.0))

    def is_sliding(self, layer):
        """Even layers use the sliding window, odd layers full causal attention (§6)."""
        return layer % 2 == 0


# ---------------------------------------------------------------------------------------------
# Small ops
# ---------------------------------------------------------------------------------------------

def linear(x, w, b=None):
    """y = x W^T (+ b) for rows x (T, in) and a weight W stored [out][in].

    einsum instead of matmul: with Debian's reference BLAS its own loops are about twice as
    fast, and the result does not depend on which BLAS is installed."""
    y = np.einsum("ti,oi->to", x, w)
    return y if b is None else y + b


def rms_norm(x, weight, eps):
    """x / sqrt(mean(x^2) + eps) * weight, row-wise."""
    ms = np.mean(x * x, axis=-1, keepdims=True)
    return x / np.sqrt(ms + eps) * weight


def yarn_corr_dims(n_rot, n_ctx_orig, base, beta_fast, beta_slow, rounded=True):
    """Correction range [lo, hi] of pair indices (§7 step 1).

    d(beta) = n_rot * ln(n_ctx_orig / (2 pi beta)) / (2 ln base).
    ggml rounds: lo = max(0, floor(d(beta_fast))), hi = min(n_rot - 1, ceil(d(beta_slow))).
    OpenAI / HF do not round.
    """
    def d(beta):
        return n_rot * math.log(n_ctx_orig / (2.0 * math.pi * beta)) / (2.0 * math.log(base))
    lo, hi = d(beta_fast), d(beta_slow)
    if rounded:
        lo, hi = math.floor(lo), math.ceil(hi)
    return max(0.0, lo), min(n_rot - 1.0, hi)


def yarn_ramp(n_rot, lo, hi):
    """ramp_i = 1 - clamp((i - lo) / max(0.001, hi - lo), 0, 1) for pair i = 0 .. n_rot/2 - 1.

    1 keeps the original frequency, 0 uses frequency * freq_scale.
    """
    i = np.arange(n_rot // 2, dtype=np.float64)
    return 1.0 - np.clip((i - lo) / max(0.001, hi - lo), 0.0, 1.0)


def yarn_mscale(freq_scale, ext_factor, attn_factor):
    """Magnitude applied to both cos and sin: attn_factor * (1 + 0.1 ln(1/freq_scale))."""
    if ext_factor == 0.0:
        return attn_factor
    return attn_factor * (1.0 + 0.1 * math.log(1.0 / freq_scale))


def rope_theta_step_f32(base, n_rot):
    """float32(base^(-2/n_rot)): the per-pair angle ratio as ggml holds it."""
    exponent = np.float32(-2.0) / np.float32(n_rot)
    return np.float32(float(np.float32(base)) ** float(exponent))


def rope_thetas(positions, base, n_rot, f32_iterative=True):
    """theta[t, i] = p_t * base^(-2i/n_rot), shape (T, n_rot/2), returned as float64.

    Default: ggml's f32 iteration theta_0 = f32(p), theta_{i+1} = f32(theta_i * f32 step).
    Otherwise the closed form in float64.
    """
    positions = np.asarray(positions)
    half = n_rot // 2
    if not f32_iterative:
        i = np.arange(half, dtype=np.float64)
        return positions.astype(np.float64)[:, None] * base ** (-2.0 * i / n_rot)[None, :]
    step = rope_theta_step_f32(base, n_rot)
    theta = np.empty((len(positions), half), dtype=np.float32)
    theta[:, 0] = positions.astype(np.float32)
    for i in range(1, half):
        theta[:, i] = theta[:, i - 1] * step          # float32 * float32 -> float32
    return theta.astype(np.float64)


def rope_cos_sin(hp, positions, rounded=True, f32_iterative=True):
    """Per-position cos and sin tables (T, n_rot/2), mscale included (§7 steps 2-4)."""
    theta_extrap = rope_thetas(positions, hp.rope_base, hp.n_rot, f32_iterative)
    theta_interp = theta_extrap * hp.freq_scale
    theta = theta_interp
    if hp.ext_factor != 0.0:
        lo, hi = yarn_corr_dims(hp.n_rot, hp.n_ctx_orig, hp.rope_base,
                                hp.beta_fast, hp.beta_slow, rounded)
        ramp = yarn_ramp(hp.n_rot, lo, hi) * hp.ext_factor
        theta = theta_interp * (1.0 - ramp) + theta_extrap * ramp
    mscale = yarn_mscale(hp.freq_scale, hp.ext_factor, hp.attn_factor)
    return np.cos(theta) * mscale, np.sin(theta) * mscale


def apply_rope(x, cos, sin, n_rot):
    """NEOX rotation of pairs (i, i + n_rot/2) in every head.

    x: (T, n_heads, head_dim); cos, sin: (T, n_rot/2). Dimensions >= n_rot pass through.
    """
    half = n_rot // 2
    c = cos[:, None, :]
    s = sin[:, None, :]
    x0 = x[..., :half]
    x1 = x[..., half:n_rot]
    out = x.copy()
    out[..., :half] = x0 * c - x1 * s
    out[..., half:n_rot] = x0 * s + x1 * c
    return out


def visible(q_pos, k_pos, sliding, window):
    """Attention mask: key position j is visible from query position p iff j <= p, and on
    sliding layers also p - j < window (the current token plus the window-1 before it)."""
    diff = np.asarray(q_pos)[:, None] - np.asarray(k_pos)[None, :]
    mask = diff >= 0
    if sliding:
        mask &= diff < window
    return mask


def round_kv(x, mode):
    """Emulate the KV cache storage type."""
    if mode == "f64":
        return x
    if mode == "f32":
        return x.astype(np.float32).astype(np.float64)
    if mode == "f16":
        return x.astype(np.float16).astype(np.float64)
    raise ValueError("kv mode must be f64, f32 or f16")


def attention(q, k, v, sinks, positions, sliding, window):
    """Multi-head attention with GQA, a per-head sink logit and the layer's mask.

    q: (T, H, hd) (already rotated); k, v: (T, H_kv, hd) (rotated k, as stored in the cache);
    sinks: (H,). Query head h uses KV head h // (H / H_kv). Scores are q.k / sqrt(hd); the sink
    is a raw logit that adds exp(sink - m) to the softmax denominator and has no value.
    Returns (T, H * hd).
    """
    T, H, hd = q.shape
    H_kv = k.shape[1]
    G = H // H_kv
    scale = 1.0 / math.sqrt(hd)
    kt = k.transpose(1, 2, 0)                       # (H_kv, hd, T)
    vt = v.transpose(1, 0, 2)                       # (H_kv, T, hd)
    sink = sinks.reshape(H_kv, G)[:, :, None]       # (H_kv, G, 1), head h = kv * G + g
    out = np.empty((T, H, hd))
    block = max(1, min(256, (1 << 24) // (H * T)))  # query rows per step: bounds the memory use
    for a in range(0, T, block):
        b = min(T, a + block)
        qb = q[a:b].reshape(b - a, H_kv, G, hd).transpose(1, 2, 0, 3)      # (H_kv, G, n, hd)
        qb = qb.reshape(H_kv, G * (b - a), hd)
        s = np.matmul(qb, kt[:, :, :b]).reshape(H_kv, G, b - a, b) * scale  # keys 0 .. b-1
        mask = visible(positions[a:b], positions[:b], sliding, window)     # (n, b)
        s = np.where(mask, s, -np.inf)
        m = np.maximum(s.max(axis=-1), sink)                               # (H_kv, G, n)
        e = np.exp(s - m[..., None])
        z = e.sum(axis=-1) + np.exp(sink - m)
        p = (e / z[..., None]).reshape(H_kv, G * (b - a), b)
        o = np.matmul(p, vt[:, :b]).reshape(H_kv, G, b - a, hd)            # (H_kv, G, n, hd)
        out[a:b] = o.transpose(2, 0, 1, 3).reshape(b - a, H, hd)
    return out.reshape(T, H * hd)


def route(logits, k):
    """Top-k of the raw router logits (descending, ties to the lower expert index), softmax
    over the k selected logits only. Returns (experts (T, k), weights (T, k), margin (T,)),
    margin = k-th largest minus (k+1)-th largest logit (inf when k == E)."""
    order = np.argsort(-logits, axis=-1, kind="stable")
    top = order[:, :k]
    r = np.take_along_axis(logits, top, axis=-1)
    w = np.exp(r - r[:, :1])                          # r[:, 0] is the maximum
    w /= w.sum(axis=-1, keepdims=True)
    if k < logits.shape[1]:
        nxt = np.take_along_axis(logits, order[:, k:k + 1], axis=-1)[:, 0]
        margin = r[:, -1] - nxt
    else:
        margin = np.full(logits.shape[0], np.inf)
    return top, w, margin


def swiglu_oai(g, u):
    """gpt-oss gated activation (SwiGLU-OAI):
    g = min(g, 7), u = clip(u, -7, 7), out = g * sigmoid(1.702 g) * (u + 1)."""
    g = np.minimum(g, SWIGLU_LIMIT)
    u = np.clip(u, -SWIGLU_LIMIT, SWIGLU_LIMIT)
    return g / (1.0 + np.exp(-SWIGLU_ALPHA * g)) * (u + 1.0)


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------

class GptOssReference:
    def __init__(self, path, kv="f32", rope_rounded=True, rope_f32_iterative=True):
        self.g = GGUFReader(path) if isinstance(path, str) else path
        self.hp = HParams(self.g)
        self.kv = kv
        self.rope_rounded = rope_rounded
        self.rope_f32_iterative = rope_f32_iterative
        hp = self.hp
        if "output.weight" not in self.g.tensors:
            raise GGUFError("missing tensor output.weight (gpt-oss has no tied embeddings)")
        out = self.g.tensor("output.weight")
        emb = self.g.tensor("token_embd.weight")
        if out.ne[0] != hp.d_model or emb.ne[0] != hp.d_model:
            raise GGUFError("output / token_embd width does not match embedding_length")
        self.n_vocab = out.ne[1]
        self.n_embd_vocab = emb.ne[1]

    # -- weights --

    def _w(self, name, shape):
        """Load a whole tensor and check its (numpy-order) shape."""
        t = self.g.tensor(name)
        if t.shape != tuple(shape):
            raise GGUFError("tensor %s has shape %s, expected %s"
                            % (name, list(t.shape), list(shape)))
        return t.load()

    def _proj(self, x, name, n_out, n_in):
        """x W^T + b for the dense projection `name` (.weight [out][in] and .bias [out])."""
        w = self._w(name + ".weight", (n_out, n_in))
        return linear(x, w, self._w(name + ".bias", (n_out,)))

    def _expert_tensors(self, layer):
        """Names and sizes of the expert tensors; handles the fused gate_up variant."""
        hp = self.hp
        pre = "blk.%d." % layer
        if pre + "ffn_gate_up_exps.weight" in self.g.tensors:
            t = self.g.tensor(pre + "ffn_gate_up_exps.weight")
            if len(t.ne) != 3 or t.ne[0] != hp.d_model or t.ne[2] != hp.n_expert or t.ne[1] % 2:
                raise GGUFError("%s has unexpected ne %s" % (t.name, list(t.ne)))
            return True, t.ne[1] // 2
        t = self.g.tensor(pre + "ffn_gate_exps.weight")
        if len(t.ne) != 3 or t.ne[0] != hp.d_model or t.ne[2] != hp.n_expert:
            raise GGUFError("%s has unexpected ne %s" % (t.name, list(t.ne)))
        return False, t.ne[1]

    def _load_expert(self, layer, e, fused, n_ff):
        """(Wg, bg, Wu, bu, Wd, bd) of one expert, Wx as [out][in]."""
        g, pre = self.g, "blk.%d." % layer
        if fused:
            wgu = g.load(pre + "ffn_gate_up_exps.weight", e)          # (2 ff, d): gate, then up
            bgu = g.load(pre + "ffn_gate_up_exps.bias", e)            # (2 ff,)
            wg, wu = wgu[:n_ff], wgu[n_ff:]
            bg, bu = bgu[:n_ff], bgu[n_ff:]
        else:
            wg = g.load(pre + "ffn_gate_exps.weight", e)              # (ff, d)
            wu = g.load(pre + "ffn_up_exps.weight", e)
            bg = g.load(pre + "ffn_gate_exps.bias", e)                # (ff,)
            bu = g.load(pre + "ffn_up_exps.bias", e)
        wd = g.load(pre + "ffn_down_exps.weight", e)                  # (d, ff)
        bd = g.load(pre + "ffn_down_exps.bias", e)                    # (d,)
        d = self.hp.d_model
        if wg.shape != (n_ff, d) or wu.shape != (n_ff, d) or wd.shape != (d, n_ff) \
                or bg.shape != (n_ff,) or bu.shape != (n_ff,) or bd.shape != (d,):
            raise GGUFError("layer %d: expert tensor shapes do not match" % layer)
        return wg, bg, wu, bu, wd, bd

    # -- blocks --

    def attention_block(self, layer, x, positions):
        hp, pre = self.hp, "blk.%d." % layer
        d, H, Hkv, hd = hp.d_model, hp.n_head, hp.n_head_kv, hp.head_dim
        T = x.shape[0]
        h = rms_norm(x, self._w(pre + "attn_norm.weight", (d,)), hp.eps)
        q = self._proj(h, pre + "attn_q", H * hd, d)
        k = self._proj(h, pre + "attn_k", Hkv * hd, d)
        v = self._proj(h, pre + "attn_v", Hkv * hd, d)
        cos, sin = rope_cos_sin(hp, positions, self.rope_rounded, self.rope_f32_iterative)
        q = apply_rope(q.reshape(T, H, hd), cos, sin, hp.n_rot)
        k = apply_rope(k.reshape(T, Hkv, hd), cos, sin, hp.n_rot)
        k = round_kv(k, self.kv)                                       # what the cache holds
        v = round_kv(v.reshape(T, Hkv, hd), self.kv)
        sinks = self._w(pre + "attn_sinks.weight", (H,))
        o = attention(q, k, v, sinks, positions, hp.is_sliding(layer), hp.window)
        return self._proj(o, pre + "attn_output", d, H * hd)

    def moe_block(self, layer, x):
        """Returns (y, margin): the MoE output for every row and the router top-k margin."""
        hp, pre = self.hp, "blk.%d." % layer
        d, E, k = hp.d_model, hp.n_expert, hp.n_expert_used
        h2 = rms_norm(x, self._w(pre + "post_attention_norm.weight", (d,)), hp.eps)
        r = self._proj(h2, pre + "ffn_gate_inp", E, d)           # router weight is F32
        top, w, margin = route(r, k)
        fused, n_ff = self._expert_tensors(layer)
        y = np.zeros_like(x)
        for e in np.unique(top):                      # dequantize only the experts in use
            rows, slots = np.nonzero(top == e)
            wg, bg, wu, bu, wd, bd = self._load_expert(layer, int(e), fused, n_ff)
            he = h2[rows]
            a = swiglu_oai(linear(he, wg, bg), linear(he, wu, bu))
            de = linear(a, wd, bd)                    # down bias inside the weighted term
            y[rows] += w[rows, slots][:, None] * de
        return y, margin

    def hidden_states(self, tokens):
        """Final normalized hidden states (T, d) and per-token min router margin (T,)."""
        hp = self.hp
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.ndim != 1 or tokens.size == 0:
            raise ValueError("need a non-empty 1-D token list")
        if tokens.min() < 0 or tokens.max() >= self.n_embd_vocab:
            raise ValueError("token id out of range [0, %d)" % self.n_embd_vocab)
        positions = np.arange(tokens.size)
        x = self.g.load("token_embd.weight", tokens)                  # (T, d), no scaling
        margin = np.full(tokens.size, np.inf)
        for layer in range(hp.n_layer):
            x = x + self.attention_block(layer, x, positions)
            y, m = self.moe_block(layer, x)
            x = x + y
            margin = np.minimum(margin, m)
        return rms_norm(x, self._w("output_norm.weight", (hp.d_model,)), hp.eps), margin

    def logits(self, tokens, chunk_elems=1 << 20):
        """(T, n_vocab) float32 logits and (T,) float64 margins. The output matrix is
        dequantized and multiplied in row chunks, in float64."""
        xf, margin = self.hidden_states(tokens)
        out_t = self.g.tensor("output.weight")
        V = self.n_vocab
        logits = np.empty((xf.shape[0], V), dtype=np.float32)
        rows = max(256, chunk_elems // self.hp.d_model)
        for a in range(0, V, rows):
            b = min(V, a + rows)
            logits[:, a:b] = linear(xf, out_t.load(slice(a, b)))
        return logits, margin


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------

def parse_tokens(text):
    try:
        toks = [int(t) for t in text.replace(" ", "").split(",") if t != ""]
    except ValueError:
        raise argparse.ArgumentTypeError("--tokens must be comma-separated integers")
    if not toks:
        raise argparse.ArgumentTypeError("--tokens is empty")
    return toks


def main(argv=None):
    ap = argparse.ArgumentParser(description="float64 gpt-oss reference (logits for a token list)")
    ap.add_argument("model", help="GGUF file (or the first shard of a split model)")
    ap.add_argument("--tokens", required=True, type=parse_tokens, help="comma-separated ids")
    ap.add_argument("--kv", choices=("f64", "f32", "f16"), default="f32",
                    help="round cached K and V to this type (default f32)")
    ap.add_argument("--rope-unrounded", action="store_true",
                    help="OpenAI/HF YaRN: do not round the correction range")
    ap.add_argument("-o", "--output", required=True, help="logits, float32 [n_tokens][n_vocab]")
    ap.add_argument("--margins", help="per-token min router top-k margin, float32 [n_tokens]")
    args = ap.parse_args(argv)
    try:
        ref = GptOssReference(args.model, kv=args.kv, rope_rounded=not args.rope_unrounded)
        logits, margin = ref.logits(args.tokens)
    except (GGUFError, ValueError) as exc:
        print("gptoss_ref: error: %s" % exc, file=sys.stderr)
        return 1
    logits.astype("<f4").tofile(args.output)
    if args.margins:
        margin.astype("<f4").tofile(args.margins)
    return 0


if __name__ == "__main__":
    sys.exit(main())
