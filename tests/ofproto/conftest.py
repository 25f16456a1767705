import glob
import os

CAPTURES = "/work/shared/docs/openflow-scripts/captures"


def capture_messages():
    """Unique (file, hex) pairs from the stored ovs-ofctl/controller captures."""
    seen = {}
    files = sorted(glob.glob(f"{CAPTURES}/of1*/*.raw")) + sorted(glob.glob(f"{CAPTURES}/*.log"))
    for f in files:
        for line in open(f):
            p = line.split()
            if not p or p[0] == "#" or "elided" in line:
                continue
            seen.setdefault(p[-1], os.path.relpath(f, CAPTURES))
    return [(f, h) for h, f in seen.items()]
