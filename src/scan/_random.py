"""Random numbers for the Monte Carlo replications: seeding, xoshiro256**, null data sets.

Kernel layer: plain Numba functions on arrays and scalars, imported by the kernels and by the
Monte Carlo driver alike.  Replication ``r`` draws only from a xoshiro256** stream seeded with four
words of ``SeedSequence(entropy, spawn_key=(r,))`` (:func:`replicate_states`), so its data set
depends on the root entropy and ``r`` alone.
"""
from __future__ import annotations

import numba as nb
import numpy as np

BLOCK = 64
"""Replications evaluated side by side in one sweep of the windows (the kernels' block)."""

_U53 = 1.0 / 9007199254740992.0  # 2**-53


# --- random numbers -----------------------------------------------------------------------------

def normalise_seed(rng) -> int:
    """Root entropy from an int, SeedSequence, Generator or None (fresh OS entropy)."""
    if isinstance(rng, np.random.SeedSequence):
        return int(rng.entropy)
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63 - 1))
    if rng is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return int(rng)
    from .errors import ScanParameterError

    raise ScanParameterError("rng", "a non-negative int, a SeedSequence, a Generator or None", rng)


def replicate_states(entropy: int, start: int, stop: int) -> np.ndarray:
    """(stop - start, 4) uint64 xoshiro256** states, one per replication in [start, stop)."""
    states = np.empty((stop - start, 4), dtype=np.uint64)
    for r in range(start, stop):
        s = np.random.SeedSequence(entropy, spawn_key=(r,)).generate_state(4, np.uint64)
        if not s.any():  # the all-zero state is the one xoshiro cannot leave
            s[0] = 1
        states[r - start] = s
    return states


@nb.njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@nb.njit(cache=True)
def _next_u64(s):
    """xoshiro256** (Blackman & Vigna 2018); ``s`` is a 4-word uint64 state, updated in place."""
    result = _rotl(s[1] * np.uint64(5), 7) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@nb.njit(cache=True)
def _uniform(s):
    """A double in [0, 1) from the top 53 bits."""
    return np.float64(_next_u64(s) >> np.uint64(11)) * _U53


@nb.njit(cache=True)
def _below(s, n):
    """An integer uniform on [0, n) (Lemire's nearly-divisionless method, unbiased)."""
    bound = np.uint64(n)
    while True:
        x = _next_u64(s)
        # 128-bit product via 32-bit halves
        x_hi, x_lo = x >> np.uint64(32), x & np.uint64(0xFFFFFFFF)
        b_hi, b_lo = bound >> np.uint64(32), bound & np.uint64(0xFFFFFFFF)
        lo_lo = x_lo * b_lo
        mid1 = x_hi * b_lo
        mid2 = x_lo * b_hi
        carry = ((lo_lo >> np.uint64(32)) + (mid1 & np.uint64(0xFFFFFFFF))
                 + (mid2 & np.uint64(0xFFFFFFFF))) >> np.uint64(32)
        hi = x_hi * b_hi + (mid1 >> np.uint64(32)) + (mid2 >> np.uint64(32)) + carry
        lo = x * bound
        if lo >= bound or lo >= (np.uint64(0) - bound) % bound:
            return np.int64(hi)


# --- null data sets -----------------------------------------------------------------------------

def alias_table(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias table (Vose's construction) for drawing locations with probability
    proportional to ``weights`` in constant time.  Zero weights are never drawn."""
    w = np.asarray(weights, dtype=np.float64)
    n = len(w)
    scaled = w * (n / w.sum())
    prob = np.ones(n)
    alias = np.arange(n, dtype=np.int64)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s] = scaled[s]
        alias[s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0
        (small if scaled[g] < 1.0 else large).append(g)
    zero = w <= 0
    if zero.any():  # rounding can leave a zero-weight cell marked certain: point it elsewhere
        prob[zero] = 0.0
        alias[zero & (alias == np.arange(n))] = int(np.argmax(w))
    return prob, alias


@nb.njit(cache=True)
def _draw_multinomial(state, total, prob, alias, out):
    """Spread ``total`` cases over locations in proportion to the alias table's weights."""
    n = out.shape[0]
    out[:] = 0
    for _ in range(total):
        x = _uniform(state) * n
        j = min(np.int64(x), n - 1)
        if x - j < prob[j]:
            out[j] += 1
        else:
            out[alias[j]] += 1


LABEL_MARKS_MAX = 1 << 24
"""Bernoulli null, Floyd's membership test: up to this many people (or when it is smaller) one
byte per person, ``marks``; above it a hash table of the picks, 8 bytes a slot and at most 4
slots a pick (:func:`labels_hashed`).  Both give the same draws."""

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: Fibonacci hashing


@nb.njit(cache=True)
def _draw_labels(state, cases, cum_pop, marks, out):
    """Bernoulli null: ``cases`` case labels placed on distinct people, uniformly.

    Floyd's algorithm picks distinct people (or the controls, when cases are the majority);
    ``cum_pop`` maps a person to the location counting them.  ``marks`` is scratch of size N
    (all False, left all False); :func:`_draw_labels_hashed` makes the same draws in memory
    proportional to the picks.
    """
    n = out.shape[0]
    N = cum_pop[n]
    flip = cases > N - cases
    k = N - cases if flip else cases
    out[:] = 0
    picked = np.empty(k, dtype=np.int64)
    for t in range(k):
        j = N - k + t
        p = _below(state, j + 1)
        if marks[p]:
            p = j
        marks[p] = True
        picked[t] = p
    for t in range(k):
        p = picked[t]
        marks[p] = False
        loc = np.searchsorted(cum_pop, p, side="right") - 1
        out[loc] += 1
    if flip:
        for j in range(n):
            out[j] = (cum_pop[j + 1] - cum_pop[j]) - out[j]


@nb.njit(cache=True)
def label_table_size(people, cases):
    """Slots of :func:`_draw_labels_hashed`'s table: a power of two, at least twice the picks."""
    k = min(cases, people - cases)
    size = 16
    while size < 2 * k:
        size *= 2
    return size


@nb.njit(cache=True)
def labels_hashed(people, cases):
    """Whether the Bernoulli null draws with the hash table (above :data:`LABEL_MARKS_MAX`
    people, when the table is the smaller scratch)."""
    return people > LABEL_MARKS_MAX and 8 * label_table_size(people, cases) < people


@nb.njit(cache=True, inline="always")
def _home(p, shift):
    return np.int64((np.uint64(p) * _GOLDEN) >> shift)


@nb.njit(cache=True)
def _draw_labels_hashed(state, cases, cum_pop, table, out):
    """:func:`_draw_labels` with the picks in an open-addressing hash table (linear probing)
    instead of one mark per person: the same calls to the generator in the same order, so the
    same people and the same counts.  ``table``: int64 scratch of
    :func:`label_table_size` slots."""
    n = out.shape[0]
    N = cum_pop[n]
    flip = cases > N - cases
    k = N - cases if flip else cases
    size = table.shape[0]
    mask = size - 1
    bits = 0
    while (1 << bits) < size:
        bits += 1
    shift = np.uint64(64 - bits)
    table[:] = -1
    for t in range(k):
        j = N - k + t
        p = _below(state, j + 1)
        i = _home(p, shift) & mask
        while table[i] != -1 and table[i] != p:
            i = (i + 1) & mask
        if table[i] == p:  # already a pick: Floyd takes j, which no earlier step could pick
            p = j
            i = _home(p, shift) & mask
            while table[i] != -1:
                i = (i + 1) & mask
        table[i] = p
    out[:] = 0
    for i in range(size):
        p = table[i]
        if p >= 0:
            out[np.searchsorted(cum_pop, p, side="right") - 1] += 1
    if flip:
        for j in range(n):
            out[j] = (cum_pop[j + 1] - cum_pop[j]) - out[j]
