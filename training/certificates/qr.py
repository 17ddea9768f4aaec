"""The QR code of a certificate: exactly the module matrix of the ``qrcode``
package (``QRCode(error_correction=M, mask_pattern=2)``, data chunked as its
``add_data`` does), made about ten times faster.

``qrcode`` writes the data one bit at a time into a list, divides polynomials
built of Python objects for the error correction and walks the whole matrix
to place the bits. Here the bits go into one integer, the Reed-Solomon
remainder is the usual shift register over qrcode's own log/exp tables, and
each version's matrix without data (finder, timing and alignment patterns,
format and version information for the fixed mask) and the order in which
data modules are filled are worked out once per process, with qrcode's own
methods. The first code made in a process is compared with qrcode's; if they
ever differ (another qrcode version), every code is made by qrcode.
"""

from __future__ import annotations

from bisect import bisect_left
from functools import lru_cache

from qrcode import base, exceptions, util
from qrcode.constants import ERROR_CORRECT_M
from qrcode.main import QRCode

MASK = 2
ERROR_CORRECTION = ERROR_CORRECT_M

Matrix = tuple[tuple[bool, ...], ...]


class _Bits:
    """qrcode's BitBuffer (``put``, ``put_bit``, ``len``) kept in one integer."""

    __slots__ = ("value", "length")

    def __init__(self) -> None:
        self.value = 0
        self.length = 0

    def put(self, num: int, length: int) -> None:
        self.value = (self.value << length) | (num & ((1 << length) - 1))
        self.length += length

    def put_bit(self, bit: bool) -> None:
        self.put(1 if bit else 0, 1)

    def __len__(self) -> int:
        return self.length


def reference(url: str) -> Matrix:
    """The matrix as the qrcode package makes it."""
    qr = QRCode(error_correction=ERROR_CORRECTION, border=0, mask_pattern=MASK)
    qr.add_data(url)
    qr.make(fit=True)
    return tuple(tuple(bool(m) for m in row) for row in qr.modules)


def _chunks(url: str) -> list:
    return list(util.optimal_data_chunks(url, minimum=20))  # what QRCode.add_data does (optimize=20)


def _write(chunks: list, mode_sizes: dict) -> _Bits:
    bits = _Bits()
    for data in chunks:
        bits.put(data.mode, 4)
        bits.put(len(data), mode_sizes[data.mode])
        data.write(bits)
    return bits


def _version(chunks: list) -> int:
    """QRCode.best_fit: the smallest version the data fits in."""
    start = 1
    while True:
        mode_sizes = util.mode_sizes_for_version(start)
        version = bisect_left(util.BIT_LIMIT_TABLE[ERROR_CORRECTION], len(_write(chunks, mode_sizes)), start)
        if version == 41:
            raise exceptions.DataOverflowError()
        if mode_sizes is util.mode_sizes_for_version(version):
            return version
        start = version


@lru_cache(maxsize=64)
def _generator(ec_count: int) -> list[int]:
    """For each byte value f, f times the Reed-Solomon generator polynomial
    (without its leading term), as one integer of ``ec_count`` bytes."""
    poly = base.Polynomial([1], 0)
    for i in range(ec_count):
        poly = poly * base.Polynomial([1, base.gexp(i)], 0)
    coefficients = [poly[i] for i in range(1, ec_count + 1)]
    exp, log = base.EXP_TABLE, base.LOG_TABLE
    table = [0]
    for factor in range(1, 256):
        product = bytes(exp[(log[c] + log[factor]) % 255] if c else 0 for c in coefficients)
        table.append(int.from_bytes(product, "big"))
    return table


def _remainder(data: bytes, ec_count: int) -> bytes:
    """The error correction codewords: data times x^ec_count modulo the generator,
    in GF(256) (a shift register one byte wide)."""
    table, shift, keep = _generator(ec_count), 8 * (ec_count - 1), (1 << 8 * ec_count) - 1
    remainder = 0
    for byte in data:
        remainder = ((remainder << 8) & keep) ^ table[byte ^ (remainder >> shift)]
    return remainder.to_bytes(ec_count, "big")


def _codewords(version: int, chunks: list) -> bytes:
    """util.create_data: data bits, terminator, padding, then the blocks and their error correction, interleaved."""
    bits = _write(chunks, util.mode_sizes_for_version(version))
    blocks = base.rs_blocks(version, ERROR_CORRECTION)
    limit = sum(block.data_count * 8 for block in blocks)
    if len(bits) > limit:
        raise exceptions.DataOverflowError()
    bits.put(0, min(limit - len(bits), 4))
    if len(bits) % 8:
        bits.put(0, 8 - len(bits) % 8)
    for i in range((limit - len(bits)) // 8):
        bits.put(util.PAD0 if i % 2 == 0 else util.PAD1, 8)
    data = bits.value.to_bytes(limit // 8, "big")
    dc: list[bytes] = []
    ec: list[bytes] = []
    offset = 0
    for block in blocks:
        part = data[offset : offset + block.data_count]
        offset += block.data_count
        dc.append(part)
        ec.append(_remainder(part, block.total_count - block.data_count))
    out = bytearray()
    for parts in (dc, ec):
        for i in range(max(len(p) for p in parts)):
            out.extend(p[i] for p in parts if i < len(p))
    return bytes(out)


@lru_cache(maxsize=40)
def _layout(version: int) -> tuple[bytearray, list[int], int]:
    """The matrix without data for this version, row after row as b"0"/b"1"
    (qrcode's own patterns, format and version information); the positions of
    the data modules in the order QRCode.map_data fills them; and the mask over
    those modules, as one integer (first module the highest bit)."""
    qr = QRCode(version=version, error_correction=ERROR_CORRECTION, border=0, mask_pattern=MASK)
    n = qr.modules_count = version * 4 + 17
    qr.modules = [[None] * n for _ in range(n)]
    qr.setup_position_probe_pattern(0, 0)
    qr.setup_position_probe_pattern(n - 7, 0)
    qr.setup_position_probe_pattern(0, n - 7)
    qr.setup_position_adjust_pattern()
    qr.setup_timing_pattern()
    qr.setup_type_info(False, MASK)
    if version >= 7:
        qr.setup_type_number(False)
    mask = util.mask_func(MASK)
    positions: list[int] = []
    masked = 0
    row, step = n - 1, -1
    for col in range(n - 1, 0, -2):
        if col <= 6:
            col -= 1
        while True:
            for c in (col, col - 1):
                if qr.modules[row][c] is None:
                    positions.append(row * n + c)
                    masked = masked << 1 | (1 if mask(row, c) else 0)
            row += step
            if row < 0 or n <= row:
                row -= step
                step = -step
                break
    blank = bytearray(49 if m else 48 for line in qr.modules for m in line)  # b"1", b"0"
    return blank, positions, masked


def _rows(url: str) -> tuple[str, ...]:
    chunks = _chunks(url)
    version = _version(chunks)
    codewords = _codewords(version, chunks)
    blank, positions, masked = _layout(version)
    count = len(positions)
    # the data bits, then light modules for the remainder bits, each flipped where the mask is dark
    value = (int.from_bytes(codewords, "big") << (count - 8 * len(codewords))) ^ masked
    flat = bytearray(blank)
    for position, bit in zip(positions, format(value, f"0{count}b").encode(), strict=True):
        flat[position] = bit
    n = version * 4 + 17
    text = flat.decode("ascii")
    return tuple(text[i : i + n] for i in range(0, n * n, n))


def fast(url: str) -> Matrix:
    return tuple(tuple(ch == "1" for ch in row) for row in _rows(url))


@lru_cache(maxsize=1)
def _fast_is_exact() -> bool:
    samples = ("https://training.example.com/verify/0123456789ABCDEFGHJKMNPQRSTV", "http://localhost/verify/x")
    try:
        return all(fast(url) == reference(url) for url in samples)
    except Exception:  # any difference in qrcode's internals: use qrcode itself
        return False


def rows(url: str) -> tuple[str, ...]:
    """The QR code row by row, top first: "1" for a dark module, "0" for a light one."""
    if _fast_is_exact():
        return _rows(url)
    return tuple("".join("1" if m else "0" for m in row) for row in reference(url))


def modules(url: str) -> Matrix:
    """The QR code's dark (True) and light modules, row by row, top first."""
    return tuple(tuple(ch == "1" for ch in row) for row in rows(url))
