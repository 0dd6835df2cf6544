#!/usr/bin/python3
"""Check the tokenizer data of a gpt-oss GGUF against /work/shared/docs/tokenizer.md §3, §6.

    /usr/bin/python3 check_vocab.py MODEL.gguf

Prints one line per failed check and exits 1 if any failed, else prints OK and exits 0.
"""

import hashlib
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_read import GGUFReader, GGUFError, STR_ERRORS  # noqa: E402

N_VOCAB = 201088
N_MERGEABLE = 199998           # ids 0 .. 199997 are the byte-level BPE tokens
FIRST_PAD = 200019             # ids 200019 .. 201087 are pads
N_MERGES = 446189
TOKENS_SHA256 = "0fc8da96e9c1e979d83a0ad79129255c04f3d2806273de8cba33bbc584ed23fe"
MERGES_SHA256 = "6388f73f15bf8f56c7f1ed822f4aee03946c14bad89c663033c84df73e153a0b"
TYPE_NORMAL, TYPE_CONTROL, TYPE_UNUSED = 1, 3, 5


def special_tokens():
    """id -> string for ids 199998 .. 200018 (tokenizer.md §6)."""
    named = {
        199998: "<|startoftext|>",
        199999: "<|endoftext|>",
        200002: "<|return|>",
        200003: "<|constrain|>",
        200005: "<|channel|>",
        200006: "<|start|>",
        200007: "<|end|>",
        200008: "<|message|>",
        200012: "<|call|>",
        200018: "<|endofprompt|>",
    }
    return {i: named.get(i, "<|reserved_%d|>" % i) for i in range(N_MERGEABLE, FIRST_PAD)}


def sha256_joined(strings, trailing_newline):
    h = hashlib.sha256()
    data = "\n".join(strings).encode("utf-8", STR_ERRORS)
    h.update(data)
    if trailing_newline:
        h.update(b"\n")
    return h.hexdigest()


def check(g):
    """Returns a list of failure messages (empty when everything matches)."""
    errors = []
    kv = g.kv

    def expect_eq(key, want):
        got = kv.get(key)
        if got is None:
            errors.append("%s is missing (expected %r)" % (key, want))
        elif isinstance(got, (list, np.ndarray)) or got != want:
            errors.append("%s is %r, expected %r" % (key, got, want))

    expect_eq("tokenizer.ggml.model", "gpt2")
    expect_eq("tokenizer.ggml.pre", "gpt-4o")
    expect_eq("tokenizer.ggml.bos_token_id", 199998)
    expect_eq("tokenizer.ggml.eos_token_id", 200002)
    expect_eq("tokenizer.ggml.padding_token_id", 199999)

    tmpl = kv.get("tokenizer.chat_template")
    if not isinstance(tmpl, str) or not tmpl.strip():
        errors.append("tokenizer.chat_template is missing or empty")

    tokens = kv.get("tokenizer.ggml.tokens")
    if not isinstance(tokens, list):
        errors.append("tokenizer.ggml.tokens is missing or not a string array")
    elif len(tokens) != N_VOCAB:
        errors.append("tokenizer.ggml.tokens has %d entries, expected %d" % (len(tokens), N_VOCAB))
    else:
        digest = sha256_joined(tokens[:N_MERGEABLE], trailing_newline=False)
        if digest != TOKENS_SHA256:
            errors.append("sha256 of tokens 0..%d is %s, expected %s"
                          % (N_MERGEABLE - 1, digest, TOKENS_SHA256))
        for i, s in special_tokens().items():
            if tokens[i] != s:
                errors.append("token %d is %r, expected %r" % (i, tokens[i], s))

    types = kv.get("tokenizer.ggml.token_type")
    if not isinstance(types, np.ndarray) or types.dtype.kind not in "iu":
        errors.append("tokenizer.ggml.token_type is missing or not an integer array")
    elif types.size != N_VOCAB:
        errors.append("tokenizer.ggml.token_type has %d entries, expected %d"
                      % (types.size, N_VOCAB))
    else:
        for lo, hi, want in ((0, N_MERGEABLE, TYPE_NORMAL), (N_MERGEABLE, FIRST_PAD, TYPE_CONTROL),
                             (FIRST_PAD, N_VOCAB, TYPE_UNUSED)):
            bad = np.nonzero(types[lo:hi] != want)[0]
            if bad.size:
                i = lo + int(bad[0])
                errors.append("token_type of %d id(s) in %d..%d is not %d (first: id %d has %d)"
                              % (bad.size, lo, hi - 1, want, i, int(types[i])))

    merges = kv.get("tokenizer.ggml.merges")
    if not isinstance(merges, list):
        errors.append("tokenizer.ggml.merges is missing or not a string array")
    elif len(merges) != N_MERGES:
        errors.append("tokenizer.ggml.merges has %d entries, expected %d" % (len(merges), N_MERGES))
    else:
        digest = sha256_joined(merges, trailing_newline=True)
        if digest != MERGES_SHA256:
            errors.append("sha256 of merges is %s, expected %s" % (digest, MERGES_SHA256))
    return errors


def main(argv):
    if len(argv) != 2:
        print("usage: check_vocab.py MODEL.gguf", file=sys.stderr)
        return 2
    try:
        g = GGUFReader(argv[1])
    except (GGUFError, OSError) as exc:
        print("check_vocab: FAIL: cannot read %s: %s" % (argv[1], exc))
        return 1
    errors = check(g)
    for e in errors:
        print("check_vocab: FAIL: " + e)
    if errors:
        return 1
    print("check_vocab: OK: %s (201088 tokens, 446189 merges, types, specials, ids, template)"
          % argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
