#!/usr/bin/env python3
"""A synthetic OSV PyPI export of a chosen size, for timing `pypi-sentinel vulns sync`.

Every record has the shape of the simulator's records (`sim/src/routes/osv.rs`: id,
one alias, summary, details, modified, published, one PyPI package with an ECOSYSTEM
range `introduced 0` / `fixed`, its affected `versions`, one reference), invented and
marked so: NOT real advisories, only sized like an export. Python's zipfile writes
zip64 records past 65,535 entries, as OSV's exporter does.

    scripts/osv_export_synth.py OUT.zip --advisories 20000 --packages 5000 \
        --versions 12 --details-bytes 1000

Then serve it (`python3 -m http.server -d DIR PORT`) and sync it with
`PYPI_SENTINEL_VULNERABILITIES__EXPORT__URL=http://127.0.0.1:PORT/OUT.zip
pypi-sentinel --data-dir DIR vulns sync` (no `--origin`: it would point the URL at
the origin).
"""

import argparse
import json
import random
import zipfile


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--advisories", type=int, default=20000)
    p.add_argument("--packages", type=int, default=5000)
    p.add_argument("--versions", type=int, default=12)
    p.add_argument("--details-bytes", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    rng = random.Random(a.seed)
    filler = "synthetic advisory text, not a real advisory. "
    with zipfile.ZipFile(a.out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for i in range(a.advisories):
            ident = f"SYNTH-{i:06d}"
            package = f"synth-{rng.randrange(a.packages):04d}"
            fixed_major = rng.randrange(1, 9)
            versions = [f"{fixed_major - 1}.{m}.{p}" for m in range(3) for p in range(a.versions // 3)]
            record = {
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": package, "purl": f"pkg:pypi/{package}"},
                        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": f"{fixed_major}.0.0"}]}],
                        "versions": versions,
                    }
                ],
                "aliases": [f"SYNTH-CVE-{i:06d}"],
                "details": (filler * (a.details_bytes // len(filler) + 1))[: a.details_bytes],
                "id": ident,
                "modified": "2024-06-01T00:00:00Z",
                "published": "2024-01-01T00:00:00Z",
                "references": [{"type": "ADVISORY", "url": f"https://osv.sim.invalid/vulnerability/{ident}"}],
                "schema_version": "1.6.0",
                "summary": f"Synthetic advisory {i} about {package} (invented)",
            }
            z.writestr(f"{ident}.json", json.dumps(record, sort_keys=True, separators=(",", ":")))


if __name__ == "__main__":
    main()
