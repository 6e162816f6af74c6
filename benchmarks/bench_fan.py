"""Throughput of the `fan` landmark backend (3D FAN-4 + depth network), crops per second by batch size.

The networks are face-alignment's real architectures with random weights, saved under the real file names
in a temporary folder (no download, no real weights needed): the cost of a forward pass does not depend on
the weights, so the timings are those of the real model. Each run times `FanBackend.landmarks` on N crops
(synthetic frames with one face box each; crop, FAN, heatmap decoding, depth network, all included), after
one warm-up call (numba's compile of face-alignment's decoder, first-run allocations).

    python benchmarks/bench_fan.py                      # 32 crops, batch 1 and 8, cpu (+ cuda if present)
    python benchmarks/bench_fan.py -n 64 --batch-sizes 1 8 32 --devices cuda --dtype bfloat16
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python benchmarks/...` from a checkout

from benchmarks.common import write_result  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "fan.json"


def make_weights(folder: Path) -> None:
    """Random-init FAN-4 and ResNetDepth saved as face-alignment 1.5 saves them, under its file names."""
    import torch
    from face_alignment.models import FAN, ResNetDepth

    from space.face.fan_backend import DEPTH_FILES, FAN_FILES

    torch.manual_seed(0)
    torch.save(FAN(4).state_dict(), folder / FAN_FILES[0])
    depth = ResNetDepth().state_dict()
    torch.save({"state_dict": {f"module.{k}": v for k, v in depth.items()}}, folder / DEPTH_FILES[0])


def synthetic_frames(n: int, height: int, width: int, seed: int = 0):
    """n noise frames, each with one face-sized box (about 45% of the frame height) at a jittered place."""
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(n)]
    side = 0.45 * height
    cx = width / 2 + rng.uniform(-0.1, 0.1, n) * width
    cy = height / 2 + rng.uniform(-0.1, 0.1, n) * height
    boxes = np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=1)
    return frames, boxes


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--crops", type=int, default=32, help="crops timed per run (default 32)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8], help="batch sizes (default 1 8)")
    parser.add_argument(
        "--devices", nargs="+", default=None, help="devices to time (default: cpu, and cuda when available)"
    )
    parser.add_argument(
        "--dtype", default=None, help="autocast dtype on cuda: bfloat16 or float16 (default float32)"
    )
    parser.add_argument(
        "--flip-input", action="store_true", help="also run the mirrored crop (face-alignment's flip_input)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's default)")
    parser.add_argument(
        "--frame", type=int, nargs=2, default=[360, 640], metavar=("H", "W"), help="frame size (default 360 640)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per setting; the fastest is kept (default 1)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON output (default {RESULTS})")
    args = parser.parse_args(argv)

    import torch

    import face_alignment

    from space.face.fan_backend import FanBackend

    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.devices or (["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    frames, boxes = synthetic_frames(args.crops, *args.frame)

    result = {
        "benchmark": "fan_landmarks",
        "what": "FanBackend.landmarks: crop + 3D FAN-4 + heatmap decoding + depth net, per crop",
        "weights": "random init of face-alignment's real architectures (timings do not depend on weights)",
        "crops": args.crops,
        "frame": list(args.frame),
        "flip_input": args.flip_input,
        "torch": torch.__version__,
        "face_alignment": face_alignment.__version__,
        "python": platform.python_version(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "runs": [],
        "fps": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench_fan_") as tmp:
        make_weights(Path(tmp))
        for device in devices:
            dtype = args.dtype if device.startswith("cuda") else None
            backend = FanBackend(
                tmp, device=device, batch_size=max(args.batch_sizes), dtype=dtype, flip_input=args.flip_input
            )
            name = torch.cuda.get_device_name(backend.device) if backend.device.type == "cuda" else result["cpu"]
            label = f"{device}" + (f"-{dtype}" if dtype else "")
            result["fps"][label] = {}
            for batch_size in args.batch_sizes:
                backend.batch_size = batch_size
                backend.landmarks(frames[:batch_size], boxes[:batch_size])  # warm-up
                times = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    out = backend.landmarks(frames, boxes)
                    times.append(time.perf_counter() - start)
                assert out.shape == (args.crops, 68, 3) and np.isfinite(out).all()
                seconds = min(times)
                fps = args.crops / seconds
                result["runs"].append(
                    {
                        "device": label,
                        "device_name": name,
                        "batch_size": batch_size,
                        "seconds": round(seconds, 4),
                        "fps": round(fps, 3),
                    }
                )
                result["fps"][label][str(batch_size)] = round(fps, 3)
                print(
                    f"{label:>14}  batch {batch_size:>3}: {fps:8.2f} crops/s  ({seconds:.2f} s for {args.crops})",
                    file=sys.stderr,
                )
            del backend
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    return write_result(args.out, result, indent=2)


if __name__ == "__main__":
    main()
