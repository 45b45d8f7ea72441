#!/usr/bin/env python3
"""Writes an image as a docker-archive tarball (the format `docker save` writes and
`ctr images import` reads) from a root filesystem folder, with no engine and no registry.

    mkimage.py ROOTFS NAME:TAG OUT.tar [--entrypoint JSON] [--cmd JSON] [--env K=V]...
               [--workdir DIR] [--user UID]

One layer. Every entry is owned by root with mtime 0 and the layer is written in sorted order, so
the same folder gives the same image id (the cache key of scripts/node-image stays honest).
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile

BLOCK = 1 << 20


def normalise(ti: tarfile.TarInfo) -> tarfile.TarInfo:
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.mtime = 0
    return ti


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(BLOCK):
            h.update(chunk)
    return h.hexdigest()


def write_layer(root: str, path: str) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for name in sorted(os.listdir(root)):
            # tarfile.add recurses in sorted order (Python 3.7+).
            t.add(os.path.join(root, name), arcname=name, filter=normalise)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rootfs")
    ap.add_argument("ref", help="NAME:TAG (never latest: the kubelet would try to pull it)")
    ap.add_argument("out")
    ap.add_argument("--entrypoint", type=json.loads, default=None)
    ap.add_argument("--cmd", type=json.loads, default=None)
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--workdir", default="/")
    ap.add_argument("--user", default="")
    a = ap.parse_args()
    if ":" not in a.ref.rsplit("/", 1)[-1] or a.ref.endswith(":latest"):
        print(f"mkimage: {a.ref}: give a tag other than latest", file=sys.stderr)
        return 2
    if not os.path.isdir(a.rootfs):
        print(f"mkimage: {a.rootfs} is not a folder", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="mkimage-", dir=os.path.dirname(os.path.abspath(a.out)))
    try:
        layer = os.path.join(work, "layer.tar")
        write_layer(a.rootfs, layer)
        diff = sha256_file(layer)
        os.makedirs(os.path.join(work, diff))
        os.rename(layer, os.path.join(work, diff, "layer.tar"))
        env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", *a.env]
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": env, "WorkingDir": a.workdir, "User": a.user},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff}"]},
            "history": [{"created_by": "kfcheck tools/sandbox/images/mkimage.py"}],
        }
        if a.entrypoint is not None:
            config["config"]["Entrypoint"] = a.entrypoint
        if a.cmd is not None:
            config["config"]["Cmd"] = a.cmd
        raw = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        cid = hashlib.sha256(raw).hexdigest()
        with open(os.path.join(work, f"{cid}.json"), "wb") as f:
            f.write(raw)
        manifest = [{"Config": f"{cid}.json", "RepoTags": [a.ref], "Layers": [f"{diff}/layer.tar"]}]
        with open(os.path.join(work, "manifest.json"), "w") as f:
            json.dump(manifest, f)
        tmp_out = a.out + ".tmp"
        with tarfile.open(tmp_out, "w") as t:
            for name in ("manifest.json", f"{cid}.json", diff):
                t.add(os.path.join(work, name), arcname=name, filter=normalise)
        os.replace(tmp_out, a.out)
        print(f"sha256:{cid}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
