"""Loading SURF's attribute records: surfturf's Arrow form against the baseline SURF itself uses
(every line `json.loads`-ed into a dict and kept), on the same generated files in this run.

Records have SURF's shape: prompt, response, 10 `sae_attributes` drawn from 25k cluster summaries,
10 raw `attributes`, `normalized_weights`, id, source. Each load runs in a fresh child process
that reports its own peak RSS (VmHWM, the interpreter's imports included). Prints seconds and
peak MiB per loader and the ratios baseline / surfturf. Goal (issue 29): 25k records in
seconds; 1M records in a compact form.

    python bench/record_pool_load.py [--records 25000 1000000] [--no-baseline-above N]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("query user asks about code formal tone list steps history recipe metric units travel music "
         "health finance child beginner deadline summary opinion joke translation bullet points").split()


def generate(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    summaries = [f"The query {' '.join(rng.choices(WORDS, k=8))} ({i})" for i in range(25_000)]
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({
                "id": i, "prompt": f"Question {i}: " + " ".join(rng.choices(WORDS, k=30)),
                "response": " ".join(rng.choices(WORDS, k=40)),
                "attributes": [f"The query {' '.join(rng.choices(WORDS, k=5))} {i}.{j}" for j in range(10)],
                "sae_attributes": rng.sample(summaries, 10),
                "normalized_weights": [round(rng.random(), 3) for _ in range(10)], "source": "bench",
            }) + "\n")


CHILD = {
    "surfturf": "from app.core.search.records import read_records\n"
                "p = read_records(Path(sys.argv[1]), sys.argv[2])\n"
                "held = p.texts.nbytes + p.codes.nbytes + p.offsets.nbytes + (p.prompts.nbytes if p.prompts "
                "is not None else 0)\n"
                "summary = (p.n_records, p.n_attributes, round(held / 2**20))\n",
    "baseline": "data = []\n"
                "for line in open(sys.argv[1]):\n"
                "    if line.strip():\n"
                "        r = json.loads(line)\n"
                "        if r.get(sys.argv[2]):\n"
                "            data.append(r)\n"
                "summary = (len(data), len({a for r in data for a in r[sys.argv[2]]}))\n",
}


def measure(kind: str, path: Path, column: str) -> tuple[float, float, tuple[int, int]]:
    # VmHWM, not ru_maxrss: exec gives the child a fresh address space, but ru_maxrss keeps the
    # high-water mark of the parent's copy it was forked as
    code = ("import json, sys, time\nfrom pathlib import Path\nt = time.perf_counter()\n"
            + CHILD[kind] + "peak = next(int(x.split()[1]) for x in open('/proc/self/status') "
            "if x.startswith('VmHWM'))\nprint(json.dumps([time.perf_counter() - t, peak, summary]))\n")
    out = subprocess.run([sys.executable, "-c", code, str(path), column], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    seconds, peak_kib, summary = json.loads(out.stdout)
    return seconds, peak_kib / 1024, tuple(summary)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, nargs="+", default=[25_000, 1_000_000])
    ap.add_argument("--no-baseline-above", type=int, default=1_000_000,
                    help="skip the baseline for larger files (it holds every record as dicts)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted(args.records):
            path = Path(tmp) / f"records-{n}.jsonl"
            started = time.perf_counter()
            generate(path, n)
            size = path.stat().st_size / 2**20
            print(f"{n:,} records: {size:,.0f} MiB JSONL, generated in {time.perf_counter() - started:.0f} s")
            parquet = Path(tmp) / f"records-{n}.parquet"
            _to_parquet(path, parquet)
            rows = []
            for kind, file in (("surfturf", path), ("surfturf", parquet), ("baseline", path)):
                if kind == "baseline" and n > args.no_baseline_above:
                    continue
                seconds, mib, summary = measure(kind, file, "sae_attributes")
                rows.append((kind, file.suffix, seconds, mib, summary))
                print(f"  {kind:<9}{file.suffix:<9}{seconds:8.1f} s  peak {mib:8,.0f} MiB  "
                      f"records, distinct attributes{', MiB held after' if kind == 'surfturf' else ''}: "
                      f"{summary}")
            base = next((r for r in rows if r[0] == "baseline"), None)
            ours = rows[0]
            if base is not None:
                print(f"  ratio baseline / surfturf (JSONL): time {base[2] / ours[2]:.1f}x, "
                      f"peak memory {base[3] / ours[3]:.1f}x")


def _to_parquet(jsonl: Path, parquet: Path) -> None:
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    pq.write_table(pajson.read_json(str(jsonl)), parquet)


if __name__ == "__main__":
    main()
