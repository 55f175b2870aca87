#!/usr/bin/env python3
"""Clean-room verifier for Warden's receipt log.

Written only from the published contract (ARCHITECTURE.md, "Receipt ledger —
exact format"), the C2SP specs signed-note / tlog-checkpoint / tlog-proof,
RFC 8785 (JCS) and RFC 9162 §2.1 — never from Warden's source — so that it
checks that an independent implementation accepts what Warden produces and
rejects tampering.

Usage:
  verify_warden.py --trust trust.json --receipts log.jsonl [--checkpoint note.txt]
  verify_warden.py --trust trust.json --proof entry.tlog-proof
  verify_warden.py --selftest [--vectors DIR]

Exit 0 and "OK ..." when valid; exit 1 and "FAIL seq N: reason" (or
"FAIL checkpoint: ..." / "FAIL proof: ...") when invalid; exit 2 when the input
cannot be used at all (missing file, bad arguments, malformed trust bundle).

Python 3.11, stdlib + `cryptography` (Ed25519 only).
"""
from __future__ import annotations

import argparse
import base64
import binascii
import calendar
import hashlib
import json
import math
import os
import re
import sys
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

RECEIPT_DOMAIN = b"warden-receipt/v1\n"
TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
ZERO_HASH_HEX = "0" * 64
MAX_SAFE_INTEGER = 2**53 - 1
MAX_NOTE_SIGNATURES = 64  # C2SP: MUST accept at least 16


class Invalid(Exception):
    """The input is well-formed enough to judge and it does not verify (exit 1)."""


class Unusable(Exception):
    """The input cannot be used at all (exit 2)."""


# --------------------------------------------------------------------------
# Strict helpers
# --------------------------------------------------------------------------

def b64decode_strict(s: Any, what: str) -> bytes:
    """RFC 4648 §4 standard base64, padded, canonical (re-encodes to itself)."""
    if not isinstance(s, str):
        raise Invalid(f"{what}: not a base64 string")
    try:
        raw = base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise Invalid(f"{what}: invalid base64") from None
    if base64.b64encode(raw).decode("ascii") != s:
        raise Invalid(f"{what}: non-canonical base64")
    return raw


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_rfc3339(s: Any, what: str) -> Fraction:
    """RFC 3339 date-time -> exact seconds since the Unix epoch (a Fraction)."""
    if not isinstance(s, str):
        raise Invalid(f"{what}: not an RFC 3339 string")
    m = _RFC3339.match(s)
    if not m:
        raise Invalid(f"{what}: not an RFC 3339 date-time: {s!r}")
    year, month, day, hour, minute, sec = (int(m.group(i)) for i in range(1, 7))
    if not (1 <= month <= 12):
        raise Invalid(f"{what}: bad month in {s!r}")
    mdays = calendar.monthrange(year, month)[1] if year >= 1 else 31
    if not (1 <= day <= mdays) or hour > 23 or minute > 59 or sec > 60:
        raise Invalid(f"{what}: bad date/time field in {s!r}")
    t = Fraction(calendar.timegm((year, month, day, hour, minute, sec, 0, 0, 0)))
    if m.group(7):
        frac = m.group(7)[1:]
        t += Fraction(int(frac), 10 ** len(frac))
    off = m.group(8)
    if off not in ("Z", "z"):
        sign = 1 if off[0] == "+" else -1
        oh, om = int(off[1:3]), int(off[4:6])
        if oh > 23 or om > 59:
            raise Invalid(f"{what}: bad offset in {s!r}")
        t -= sign * (oh * 3600 + om * 60)
    return t


def sha256(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


# --------------------------------------------------------------------------
# JSON parsing (strict) and RFC 8785 canonicalization
# --------------------------------------------------------------------------

class _Dup(Exception):
    pass


def _pairs_no_dup(pairs: list[tuple[str, Any]]) -> dict:
    d: dict = {}
    for k, v in pairs:
        if k in d:
            raise _Dup(k)
        d[k] = v
    return d


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-JSON constant {name}")


def parse_json_strict(text: str) -> Any:
    """json.loads without duplicate keys, NaN/Infinity; floats kept as float."""
    try:
        return json.loads(text, object_pairs_hook=_pairs_no_dup, parse_constant=_reject_constant)
    except _Dup as e:
        raise Invalid(f"duplicate object member {e.args[0]!r}") from None
    except (ValueError, RecursionError) as e:
        raise Invalid(f"not JSON ({e})") from None


def _jcs_number(x: Any) -> str:
    """ECMAScript Number::toString of an IEEE-754 double (RFC 8785 §3.2.2.3)."""
    if isinstance(x, int):
        if abs(x) > MAX_SAFE_INTEGER:
            # The contract says integers stay below 2^53 ("anything larger is a
            # string"); an I-JSON number of that size has no exact canonical form.
            raise Invalid(f"integer {x} is outside the I-JSON safe range (|n| < 2^53)")
        return str(x)
    if not isinstance(x, float) or not math.isfinite(x):
        raise Invalid(f"number {x!r} cannot be canonicalised")
    if x == 0:
        return "0"  # also for -0
    if x < 0:
        return "-" + _jcs_number(-x)
    # repr() gives the shortest round-tripping digits (same digit string as ES).
    r = repr(x)
    mant, _, exp = r.partition("e")
    e = int(exp) if exp else 0
    if "." in mant:
        ip, fp = mant.split(".")
    else:
        ip, fp = mant, ""
    digits = (ip + fp).lstrip("0")
    # position of the decimal point relative to the start of `ip + fp`
    point = len(ip) + e
    lead_zeros = len(ip + fp) - len((ip + fp).lstrip("0"))
    point -= lead_zeros
    digits = digits.rstrip("0")
    k = len(digits)
    n = point  # value = 0.digits * 10^n  ==  digits * 10^(n-k)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    exp_s = n - 1
    sign = "+" if exp_s >= 0 else "-"
    if k == 1:
        return f"{digits}e{sign}{abs(exp_s)}"
    return f"{digits[0]}.{digits[1:]}e{sign}{abs(exp_s)}"


_ESC = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}


def _jcs_string(s: str) -> str:
    out = ['"']
    for ch in s:
        c = ord(ch)
        if 0xD800 <= c <= 0xDFFF:
            raise Invalid("string contains a lone surrogate (not valid Unicode)")
        if c in _ESC:
            out.append(_ESC[c])
        elif c < 0x20:
            out.append("\\u%04x" % c)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _utf16_key(k: str) -> bytes:
    # Big-endian UTF-16 bytes compare exactly like sequences of UTF-16 code units.
    return k.encode("utf-16-be", "surrogatepass")


def jcs(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return _jcs_number(value)
    if isinstance(value, str):
        return _jcs_string(value)
    if isinstance(value, list):
        return "[" + ",".join(jcs(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value.keys(), key=_utf16_key)
        return "{" + ",".join(_jcs_string(k) + ":" + jcs(value[k]) for k in keys) + "}"
    raise Invalid(f"value of type {type(value).__name__} cannot be canonicalised")


def jcs_bytes(value: Any) -> bytes:
    return jcs(value).encode("utf-8")


# --------------------------------------------------------------------------
# RFC 9162 §2.1 Merkle tree
# --------------------------------------------------------------------------

def leaf_hash(data: bytes) -> bytes:
    return sha256(b"\x00" + data)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def merkle_root(leaf_hashes: list[bytes]) -> bytes:
    """MTH(D[n]) over already-hashed leaves (RFC 9162 §2.1.1)."""
    n = len(leaf_hashes)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return leaf_hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(merkle_root(leaf_hashes[:k]), merkle_root(leaf_hashes[k:]))


def verify_inclusion(index: int, size: int, lhash: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if index < 0 or index >= size:
        return False
    if len(lhash) != 32 or len(root) != 32 or any(len(p) != 32 for p in path):
        return False
    fn, sn, r = index, size - 1, lhash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# --------------------------------------------------------------------------
# C2SP signed-note and tlog-checkpoint
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class NoteVerifier:
    name: str
    key_id: bytes  # 4 bytes
    public_key: bytes  # 32 bytes


def _valid_key_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name)


def ed25519_note_key_id(name: str, public_key: bytes) -> bytes:
    return sha256(name.encode("utf-8") + b"\x0a\x01" + public_key)[:4]


def parse_vkey(vkey: Any) -> NoteVerifier:
    """<name>+hex(key ID)+base64(0x01 || 32-byte Ed25519 key)."""
    if not isinstance(vkey, str):
        raise Unusable("note key: not a string")
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise Unusable(f"note key {vkey!r}: expected name+hash+key")
    name, hid, b64 = parts
    if not _valid_key_name(name):
        raise Unusable(f"note key {vkey!r}: bad key name")
    if not re.fullmatch(r"[0-9a-f]{8}", hid):
        raise Unusable(f"note key {vkey!r}: key ID is not 8 lowercase hex digits")
    try:
        raw = b64decode_strict(b64, "note key")
    except Invalid as e:
        raise Unusable(str(e)) from None
    if len(raw) != 33 or raw[0] != 0x01:
        raise Unusable(f"note key {vkey!r}: not an Ed25519 (type 0x01, 32-byte) key")
    pub = raw[1:]
    kid = bytes.fromhex(hid)
    if ed25519_note_key_id(name, pub) != kid:
        raise Unusable(f"note key {vkey!r}: key ID does not match SHA-256(name||0x0A||0x01||key)[:4]")
    return NoteVerifier(name, kid, pub)


def _ed25519_verify(pub: bytes, sig: bytes, msg: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)
        return True
    except (InvalidSignature, ValueError):
        return False


def open_signed_note(note: bytes, verifiers: list[NoteVerifier]) -> tuple[str, list[NoteVerifier]]:
    """Verify a C2SP signed note; returns (text, verifiers whose signature verified).

    Signatures by unknown keys (name and ID not both matching) are ignored; a
    signature by a known key that fails rejects the whole note; at least one
    known signature must verify.
    """
    try:
        s = note.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise Invalid("note is not valid UTF-8") from None
    if any(ord(c) < 0x20 and c != "\n" for c in s):
        raise Invalid("note contains ASCII control characters other than newline")
    if not s.endswith("\n"):
        raise Invalid("note does not end with a newline")
    split = s.rfind("\n\n")
    if split < 0:
        raise Invalid("note has no blank line before its signatures")
    text = s[: split + 1]
    sig_block = s[split + 2 :]
    sig_lines = sig_block.split("\n")
    assert sig_lines[-1] == ""
    sig_lines = sig_lines[:-1]
    if not sig_lines:
        raise Invalid("note has no signature lines")
    if len(sig_lines) > MAX_NOTE_SIGNATURES:
        raise Invalid("note has too many signatures")
    verified: list[NoteVerifier] = []
    for line in sig_lines:
        if not line.startswith("\u2014 "):
            raise Invalid(f"malformed signature line {line!r}")
        rest = line[2:]
        name, sp, b64 = rest.rpartition(" ")
        if not sp or not _valid_key_name(name):
            raise Invalid(f"malformed signature line {line!r}")
        raw = b64decode_strict(b64, "note signature")
        if len(raw) < 5:
            raise Invalid("note signature too short")
        kid, sig = raw[:4], raw[4:]
        for v in verifiers:
            if v.name == name and v.key_id == kid:
                if not _ed25519_verify(v.public_key, sig, text.encode("utf-8")):
                    raise Invalid(f"signature by known key {name}+{kid.hex()} does not verify")
                if v not in verified:
                    verified.append(v)
    if not verified:
        raise Invalid("no signature by a trusted note key")
    return text, verified


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes


def parse_checkpoint_text(text: str) -> Checkpoint:
    if not text.endswith("\n"):
        raise Invalid("checkpoint text does not end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise Invalid("checkpoint has fewer than three lines")
    if any(line == "" for line in lines):
        raise Invalid("checkpoint has an empty line")
    origin, size_s, root_s = lines[0], lines[1], lines[2]
    if not re.fullmatch(r"0|[1-9][0-9]*", size_s):
        raise Invalid(f"checkpoint tree size {size_s!r} is not a decimal without leading zeros")
    root = b64decode_strict(root_s, "checkpoint root hash")
    if len(root) != 32:
        raise Invalid("checkpoint root hash is not 32 bytes")
    return Checkpoint(origin, int(size_s), root)


def verify_checkpoint(note: bytes, trust: "Trust") -> Checkpoint:
    # Only note keys whose name is the bundle's origin can vouch for this log.
    verifiers = [v for v in trust.note_keys if v.name == trust.origin]
    if not verifiers:
        raise Invalid(f"trust bundle has no note key named {trust.origin!r}")
    text, _ = open_signed_note(note, verifiers)
    cp = parse_checkpoint_text(text)
    if cp.origin != trust.origin:
        raise Invalid(f"checkpoint origin {cp.origin!r} is not the bundle's origin {trust.origin!r}")
    return cp


# --------------------------------------------------------------------------
# Trust bundle
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class ReceiptKey:
    kid: str
    public_key: bytes
    not_before: Fraction
    not_after: Fraction | None
    revoked_at: Fraction | None


@dataclass
class Trust:
    tenant: str
    origin: str
    note_keys: list[NoteVerifier]
    keys: dict[str, ReceiptKey]


def load_trust(path: str) -> Trust:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise Unusable(f"cannot read trust bundle: {e}") from None
    try:
        b = parse_json_strict(raw.decode("utf-8"))
    except (Invalid, UnicodeDecodeError) as e:
        raise Unusable(f"trust bundle is not JSON: {e}") from None
    if not isinstance(b, dict) or b.get("v") != 1:
        raise Unusable("trust bundle: not a v1 bundle object")
    tenant, origin = b.get("tenant"), b.get("origin")
    if not isinstance(tenant, str) or not tenant or not isinstance(origin, str) or not origin:
        raise Unusable("trust bundle: tenant and origin must be non-empty strings")
    nks = b.get("note_keys")
    if not isinstance(nks, list):
        raise Unusable("trust bundle: note_keys must be a list")
    note_keys = [parse_vkey(k) for k in nks]
    ks = b.get("keys")
    if not isinstance(ks, list):
        raise Unusable("trust bundle: keys must be a list")
    keys: dict[str, ReceiptKey] = {}
    try:
        for k in ks:
            if not isinstance(k, dict):
                raise Unusable("trust bundle: key entry is not an object")
            kid = k.get("kid")
            if not isinstance(kid, str) or not kid:
                raise Unusable("trust bundle: key without kid")
            if kid in keys:
                raise Unusable(f"trust bundle: duplicate kid {kid}")
            if k.get("alg") != "Ed25519":
                raise Unusable(f"trust bundle: key {kid} alg is not Ed25519")
            pub = b64decode_strict(k.get("public_key"), f"trust bundle key {kid} public_key")
            if len(pub) != 32:
                raise Unusable(f"trust bundle: key {kid} public_key is not 32 bytes")
            nb = parse_rfc3339(k.get("not_before"), f"key {kid} not_before")
            na = k.get("not_after")
            ra = k.get("revoked_at")
            na_t = None if na is None else parse_rfc3339(na, f"key {kid} not_after")
            ra_t = None if ra is None else parse_rfc3339(ra, f"key {kid} revoked_at")
            keys[kid] = ReceiptKey(kid, pub, nb, na_t, ra_t)
    except Invalid as e:
        raise Unusable(f"trust bundle: {e}") from None
    return Trust(tenant, origin, note_keys, keys)


# --------------------------------------------------------------------------
# Receipts
# --------------------------------------------------------------------------

def check_receipt_line(line: bytes, trust: Trust) -> dict:
    """Checks that need only the line and the bundle. Returns the parsed receipt."""
    try:
        text = line.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise Invalid("line is not valid UTF-8") from None
    r = parse_json_strict(text)
    if not isinstance(r, dict):
        raise Invalid("line is not a JSON object")
    return r


def check_receipt_body(r: dict, line: bytes, trust: Trust) -> None:
    if r.get("v") != 1 or isinstance(r.get("v"), bool):
        raise Invalid(f"v is {r.get('v')!r}, expected 1")
    if r.get("tenant") != trust.tenant:
        raise Invalid(f"tenant {r.get('tenant')!r} is not the bundle's tenant {trust.tenant!r}")
    canonical = jcs_bytes(r)
    if canonical != line:
        raise Invalid("line is not the exact JCS (RFC 8785) form of its receipt")
    sig = r.get("sig")
    if not isinstance(sig, dict):
        raise Invalid("sig is missing or not an object")
    if set(sig.keys()) != {"alg", "kid", "value"}:
        raise Invalid(f"sig has members {sorted(sig.keys())}, expected alg, kid, value")
    if sig.get("alg") != "Ed25519":
        raise Invalid(f"sig.alg is {sig.get('alg')!r}, expected Ed25519")
    kid = sig.get("kid")
    key = trust.keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise Invalid(f"sig.kid {kid!r} is not in the trust bundle")
    ts = parse_rfc3339(r.get("ts"), "ts")
    if ts < key.not_before:
        raise Invalid(f"key {kid} not yet valid at ts {r.get('ts')} (not_before)")
    if key.not_after is not None and ts > key.not_after:
        raise Invalid(f"key {kid} no longer valid at ts {r.get('ts')} (not_after)")
    if key.revoked_at is not None and ts >= key.revoked_at:
        raise Invalid(f"key {kid} revoked at or before ts {r.get('ts')}")
    sig_raw = b64decode_strict(sig.get("value"), "sig.value")
    if len(sig_raw) != 64:
        raise Invalid("sig.value is not a 64-byte Ed25519 signature")
    statement = jcs_bytes({k: v for k, v in r.items() if k != "sig"})
    if not _ed25519_verify(key.public_key, sig_raw, RECEIPT_DOMAIN + statement):
        raise Invalid(f"Ed25519 signature by {kid} does not verify")


def split_lines(data: bytes) -> list[bytes]:
    if data == b"":
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def verify_log(trust: Trust, receipts_path: str, checkpoint_path: str | None) -> str:
    try:
        with open(receipts_path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise Unusable(f"cannot read receipts: {e}") from None
    note = None
    if checkpoint_path is not None:
        try:
            with open(checkpoint_path, "rb") as f:
                note = f.read()
        except OSError as e:
            raise Unusable(f"cannot read checkpoint: {e}") from None
    lines = split_lines(data)
    hashes: list[bytes] = []
    prev_hex = ZERO_HASH_HEX
    for i, line in enumerate(lines):
        try:
            r = check_receipt_line(line, trust)
            seq = r.get("seq")
            if not _is_int(seq) or seq != i:
                raise Invalid(f"seq is {seq!r}, expected {i} (line {i + 1})")
            if r.get("tenant") != trust.tenant:
                raise Invalid(f"tenant {r.get('tenant')!r} is not the bundle's tenant {trust.tenant!r}")
            if r.get("prev") != prev_hex:
                raise Invalid(f"prev {r.get('prev')!r} is not the leaf hash of seq {i - 1}" if i else
                              "prev of seq 0 is not 64 zeros")
            check_receipt_body(r, line, trust)
        except RecursionError:
            raise Invalid(f"seq {i}: JSON nested too deeply") from None
        except Invalid as e:
            raise Invalid(f"seq {i}: {e}") from None
        h = leaf_hash(line)
        hashes.append(h)
        prev_hex = h.hex()
    root = merkle_root(hashes)
    msg = f"OK {len(lines)} receipts, tenant {trust.tenant}, root {base64.b64encode(root).decode()}"
    if note is not None:
        try:
            cp = verify_checkpoint(note, trust)
        except Invalid as e:
            raise Invalid(f"checkpoint: {e}") from None
        if cp.size > len(hashes):
            raise Invalid(f"checkpoint: tree size {cp.size} exceeds the log's {len(hashes)} receipts")
        at = merkle_root(hashes[: cp.size])
        if at != cp.root:
            raise Invalid(f"checkpoint: root at size {cp.size} does not match the log")
        msg += f"; checkpoint {cp.origin} size {cp.size} matches"
    return msg


def parse_tlog_proof(data: bytes) -> tuple[bytes | None, int, list[bytes], bytes]:
    try:
        s = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise Invalid("proof is not valid UTF-8") from None
    lines = s.split("\n")
    if not lines or lines[0] != TLOG_PROOF_HEADER:
        raise Invalid(f"first line is not {TLOG_PROOF_HEADER}")
    i = 1
    extra = None
    if i < len(lines) and lines[i].startswith("extra "):
        extra = b64decode_strict(lines[i][6:], "extra")
        i += 1
    if i >= len(lines) or not lines[i].startswith("index "):
        raise Invalid("missing index line")
    idx_s = lines[i][6:]
    if not re.fullmatch(r"0|[1-9][0-9]*", idx_s):
        raise Invalid(f"index {idx_s!r} is not a decimal without leading zeros")
    index = int(idx_s)
    i += 1
    path: list[bytes] = []
    while i < len(lines) and lines[i] != "":
        h = b64decode_strict(lines[i], "inclusion path hash")
        if len(h) != 32:
            raise Invalid("inclusion path hash is not 32 bytes")
        path.append(h)
        i += 1
    if i >= len(lines):
        raise Invalid("no blank line before the checkpoint")
    checkpoint = "\n".join(lines[i + 1 :]).encode("utf-8")
    return extra, index, path, checkpoint


def verify_proof(trust: Trust, proof_path: str) -> str:
    try:
        with open(proof_path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise Unusable(f"cannot read proof: {e}") from None
    try:
        extra, index, path, note = parse_tlog_proof(data)
    except Invalid as e:
        raise Invalid(f"proof: {e}") from None
    if extra is None:
        raise Invalid("proof: no extra line (the receipt's leaf input L)")
    try:
        r = check_receipt_line(extra, trust)
        seq = r.get("seq")
        if not _is_int(seq) or seq != index:
            raise Invalid(f"seq is {seq!r}, but the proof's index is {index}")
        if not (isinstance(r.get("prev"), str) and re.fullmatch(r"[0-9a-f]{64}", r["prev"])):
            raise Invalid("prev is not a 64-hex-digit hash")
        if index == 0 and r["prev"] != ZERO_HASH_HEX:
            raise Invalid("prev of seq 0 is not 64 zeros")
        check_receipt_body(r, extra, trust)
    except RecursionError:
        raise Invalid(f"seq {index}: JSON nested too deeply") from None
    except Invalid as e:
        raise Invalid(f"seq {index}: {e}") from None
    try:
        cp = verify_checkpoint(note, trust)
    except Invalid as e:
        raise Invalid(f"checkpoint: {e}") from None
    if not verify_inclusion(index, cp.size, leaf_hash(extra), path, cp.root):
        raise Invalid(f"seq {index}: inclusion proof does not lead to the checkpoint root (size {cp.size})")
    return f"OK receipt seq {index} included in {cp.origin} at size {cp.size}"


# --------------------------------------------------------------------------
# Self-test against the shared vectors
# --------------------------------------------------------------------------

def default_vectors_dir() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    # <root>/test/independent -> <root>/../shared/vectors
    return os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "vectors"))


def selftest(vectors: str) -> str:
    done = []
    # 1. signed-note example
    with open(os.path.join(vectors, "signed-note", "vectors.json"), "rb") as f:
        cases = json.loads(f.read())
    for c in cases:
        v = parse_vkey(c["verifier_key"])
        note = c["note"].encode("utf-8")
        try:
            open_signed_note(note, [v])
            ok = True
        except Invalid:
            ok = False
        if ok != c["valid"]:
            raise Invalid(f"selftest: signed-note vector {c['description']!r}: got valid={ok}")
        if c["valid"]:
            # tampering with the text must break it
            bad = note.replace(b"example", b"exbmple", 1)
            try:
                open_signed_note(bad, [v])
                raise Invalid("selftest: tampered signed note verified")
            except Invalid as e:
                if "selftest" in str(e):
                    raise
            # an unknown key (other name) alone must not verify
            other = NoteVerifier("example.com/bar", v.key_id, v.public_key)
            try:
                open_signed_note(note, [other])
                raise Invalid("selftest: note verified by an unknown key")
            except Invalid as e:
                if "selftest" in str(e):
                    raise
    done.append(f"{len(cases)} signed-note")
    # 2. RFC 6962 8-leaf root
    leaves = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f"]
    hashes = [leaf_hash(bytes.fromhex(x)) for x in leaves]
    want = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    if merkle_root(hashes).hex() != want:
        raise Invalid("selftest: RFC 6962 8-leaf root mismatch")
    if merkle_root([]).hex() != hashlib.sha256(b"").hexdigest():
        raise Invalid("selftest: empty-tree root mismatch")
    done.append("8-leaf root")
    # 3. inclusion vectors (transparency-dev/merkle testdata)
    inc_dir = os.path.join(vectors, "merkle", "inclusion")
    n_inc = 0
    for dirpath, _, files in os.walk(inc_dir):
        for fn in sorted(files):
            if not fn.endswith(".json"):
                continue
            with open(os.path.join(dirpath, fn), "rb") as f:
                t = json.loads(f.read())
            try:
                path = [base64.b64decode(p) for p in (t.get("proof") or [])]
                ok = verify_inclusion(t["leafIdx"], t["treeSize"], base64.b64decode(t["leafHash"] or ""),
                                      path, base64.b64decode(t["root"] or ""))
            except (binascii.Error, TypeError):
                ok = False
            if ok == t["wantErr"]:
                raise Invalid(f"selftest: inclusion vector {dirpath}/{fn}: ok={ok} wantErr={t['wantErr']}")
            n_inc += 1
    if n_inc == 0:
        raise Invalid("selftest: no inclusion vectors found")
    # also every (index, size) of the 8-leaf tree with proofs we build ourselves
    for size in range(1, 9):
        root = merkle_root(hashes[:size])
        for idx in range(size):
            if not verify_inclusion(idx, size, hashes[idx], _audit_path(idx, hashes[:size]), root):
                raise Invalid(f"selftest: own inclusion proof {idx}/{size} failed")
    done.append(f"{n_inc} inclusion")
    # 4. JCS vectors (cyberphone)
    jdir = os.path.join(vectors, "jcs")
    n_jcs = 0
    for fn in sorted(os.listdir(os.path.join(jdir, "input"))):
        with open(os.path.join(jdir, "input", fn), "rb") as f:
            inp = f.read().decode("utf-8")
        with open(os.path.join(jdir, "output", fn), "rb") as f:
            out = f.read()
        got = jcs_bytes(parse_json_strict(inp))
        if got != out:
            raise Invalid(f"selftest: JCS vector {fn}: got {got!r}")
        n_jcs += 1
    # ES6 number formatting corner cases (RFC 8785 appendix B)
    for x, want_s in [(0.0, "0"), (-0.0, "0"), (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
                      (9007199254740992.0, "9007199254740992"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
                      (1e-7, "1e-7"), (1e-6, "0.000001"), (123.456, "123.456"), (-1.5, "-1.5"),
                      (295147905179352830000.0, "295147905179352830000")]:
        if _jcs_number(x) != want_s:
            raise Invalid(f"selftest: JCS number {x!r} -> {_jcs_number(x)!r}, want {want_s!r}")
    if jcs({"\U0001F600": 1, "\uFB01": 2, "a": 3}) != '{"a":3,"\U0001F600":1,"\uFB01":2}':
        raise Invalid("selftest: JCS UTF-16 key order")
    done.append(f"{n_jcs} JCS")
    return "OK selftest: " + ", ".join(done)


def _audit_path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) from RFC 9162 §2.1.3.1 (test helper)."""
    n = len(d)
    if n <= 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return _audit_path(m, d[:k]) + [merkle_root(d[k:])]
    return _audit_path(m - k, d[k:]) + [merkle_root(d[:k])]


# --------------------------------------------------------------------------

def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="Independent verifier for Warden receipt logs")
    ap.add_argument("--trust")
    ap.add_argument("--receipts")
    ap.add_argument("--checkpoint")
    ap.add_argument("--proof")
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--vectors", default=default_vectors_dir())
    try:
        a = ap.parse_args(argv)
    except SystemExit:
        return 2
    try:
        if a.selftest:
            print(selftest(a.vectors))
            return 0
        if not a.trust or (bool(a.receipts) == bool(a.proof)) or (a.checkpoint and not a.receipts):
            print("usage: --trust T (--receipts F [--checkpoint N] | --proof P) | --selftest", file=sys.stderr)
            return 2
        trust = load_trust(a.trust)
        if a.receipts:
            print(verify_log(trust, a.receipts, a.checkpoint))
        else:
            print(verify_proof(trust, a.proof))
        return 0
    except Invalid as e:
        print(f"FAIL {e}")
        return 1
    except Unusable as e:
        print(f"UNUSABLE {e}")
        return 2
    except OSError as e:
        print(f"UNUSABLE {e}")
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
