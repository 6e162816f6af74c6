"""Throughput of face-vid2vid synthesis: frames per second rendered against one encoded photo, by image size.

The networks are the vox-256 architecture (space.models.facevid2vid, the public checkpoint's shapes) with
random weights: the cost of a forward pass does not depend on the weights. Per size, the photo is encoded once
(appearance volume, canonical keypoints, head params; timed apart as `encode_seconds`), then `--frames`
driving keypoint sets (the photo's head params with a yaw/pitch sweep and expression noise, through
FaceVid2Vid.keypoints) are rendered in batches of `--batch` (dense motion + warp + SPADE decoder), after
`--warmup` untimed batches. float32 on CPU; on CUDA `--dtype bfloat16` (or float16) runs under torch.autocast.

    python benchmarks/bench_facevid2vid.py --frames 2                         # CPU, 256 and 512, float32
    python benchmarks/bench_facevid2vid.py --device cuda --dtype bfloat16 --frames 64 --batch 8

Imports torch, numpy and space.models.facevid2vid only, so it runs on a machine with nothing else of the project.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import write_result  # noqa: E402
from benchmarks.bench_fan import cpu_name  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DTYPES = ("float32", "bfloat16", "float16")


def driving_params(source_params, frames: int, seed: int = 0):
    """(frames, 51): the photo's head params with a +-20 degree yaw sweep, a pitch nod and expression noise."""
    import torch

    from space.models.facevid2vid import EXPRESSION, PITCH, YAW

    g = torch.Generator().manual_seed(seed)
    params = source_params.detach().float().cpu().expand(frames, -1).clone()
    phase = torch.linspace(0, 2 * torch.pi, frames + 1)[:frames]
    params[:, YAW] += 20 * torch.sin(phase)
    params[:, PITCH] += 5 * torch.sin(2 * phase)
    params[:, EXPRESSION] += 0.01 * torch.randn(frames, params[:, EXPRESSION].shape[1], generator=g)
    return params


def bench_size(size: int, device, dtype, frames: int, batch: int, warmup: int) -> dict:
    import torch

    from space.models.facevid2vid import FaceVid2Vid, FaceVid2VidConfig

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    torch.manual_seed(0)
    model = FaceVid2Vid(FaceVid2VidConfig(size=size)).to(device).eval()
    autocast = (torch.autocast(device.type, dtype=getattr(torch, dtype)) if dtype != "float32"
                else contextlib.nullcontext())
    image = torch.rand(1, 3, size, size, device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with torch.inference_mode(), autocast:
        sync()
        start = time.perf_counter()
        source = model.encode(image)
        sync()
        encode_seconds = time.perf_counter() - start
        params = driving_params(source.params, frames).to(device)
        kp = model.keypoints(source.kp_canonical.float().expand(frames, -1, -1), params)  # (frames, 15, 3)
        for _ in range(warmup):
            model.render(source, kp[:batch])
        sync()
        start = time.perf_counter()
        for first in range(0, frames, batch):
            out = model.render(source, kp[first:first + batch])
        sync()
        seconds = time.perf_counter() - start
    assert out.shape[1:] == (3, size, size) and torch.isfinite(out.float()).all()
    result = {
        "frames_per_s": round(frames / seconds, 4),
        "batch": batch,
        "frames": frames,
        "seconds": round(seconds, 3),
        "encode_seconds": round(encode_seconds, 3),
    }
    if device.type == "cuda":
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    del model, source, out
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="image sizes (default 256 512)")
    parser.add_argument("--frames", type=int, default=8, help="frames rendered per size (default 8)")
    parser.add_argument("--batch", type=int, default=None, help="frames per render call (default: 1 on cpu, 8 on cuda)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i] (default cpu)")
    parser.add_argument("--dtype", default="float32", choices=DTYPES, help="autocast dtype (default float32)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed batches first (default: 0 on cpu, 2 on cuda)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's default)")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON output (default results/facevid2vid.json on cpu, "
                             "results/facevid2vid-<device>-<dtype>.json otherwise)")
    args = parser.parse_args(argv)

    import torch

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA device")
    if device.type == "cpu" and args.dtype != "float32":
        parser.error("the CPU benchmark is float32 (autocast dtypes are for --device cuda)")
    if args.threads:
        torch.set_num_threads(args.threads)
    batch = args.batch or (8 if device.type == "cuda" else 1)
    warmup = args.warmup if args.warmup is not None else (2 if device.type == "cuda" else 0)
    out_path = args.out or RESULTS / ("facevid2vid.json" if device.type == "cpu"
                                      else f"facevid2vid-{device.type}-{args.dtype}.json")

    result = {
        "benchmark": "facevid2vid_render",
        "what": "FaceVid2Vid.render of driving keypoints against one encoded photo (dense motion, 3D warp, "
                "SPADE decoder), frames per second; encode_seconds is the one-off encode of the photo",
        "weights": "random init of the vox-256 architecture (timings do not depend on weights)",
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
        "dtype": args.dtype,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),  # > cpu_count: a shared, busy machine
        "sizes": {},
    }
    for size in args.sizes:
        entry = bench_size(size, device, args.dtype, args.frames, batch, warmup)
        result["sizes"][str(size)] = entry
        print(f"{size:>4}: {entry['frames_per_s']:8.3f} frames/s  (batch {batch}, {entry['seconds']:.1f} s for "
              f"{args.frames} frames; encode {entry['encode_seconds']:.2f} s)", file=sys.stderr)

    return write_result(out_path, result, indent=2)


if __name__ == "__main__":
    main()
