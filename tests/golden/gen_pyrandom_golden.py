#!/usr/bin/env python3
"""Expected values hardcoded in tests/test_pyrandom.c (printed, not written to a file).

CPython's random module (3.11 here; the MT19937 seeding, getrandbits and shuffle are unchanged
since 3.2) and MuSc's sub_datasets (datasets/mvtec.py, musc_hetmm_spec §A.6.5) re-typed from the
spec: seed 42, groups by type in first-appearance order, chunks of divide_num.
"""
import random

random.seed(42)
for n in (5, 17, 100):  # one seed, three successive shuffles (the state carries on)
    x = list(range(n))
    random.shuffle(x)
    print(f"shuffle {n}:", x)
random.seed(42)
print("seed 42 bits:", [random.getrandbits(32) for _ in range(3)], random.getrandbits(7))
random.seed(2**32 + 5)
print("seed 2^32+5:", [random.getrandbits(32) for _ in range(2)])
random.seed(0)
print("seed 0:", [random.getrandbits(32) for _ in range(2)])


def sub_datasets(types, divide_num, divide_iter, seed=42):
    random.seed(seed)
    groups = {}
    for i, t in enumerate(types):
        groups.setdefault(t, []).append(i)
    out = []
    for ids in groups.values():
        random.shuffle(ids)
        chunks = [ids[i:i + divide_num] for i in range(0, len(ids), divide_num)]
        out.extend(c[divide_iter] for c in chunks if len(c) > divide_iter)
    return out


for types, d in ((["crack"] * 7 + ["good"] * 10 + ["hole"] * 5, 3),
                 (list("babbacabcab"), 2)):
    for it in range(d):
        print(f"divide {d} subset {it}:", sorted(sub_datasets(types, d, it)))
