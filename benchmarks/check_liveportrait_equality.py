"""Our LivePortrait against the public code, for the same weights: every stage's output, compared.

    python benchmarks/check_liveportrait_equality.py --reference-repo ~/src/LivePortrait \
        [--weights ~/src/LivePortrait/pretrained_weights/liveportrait] [--image photo.png]

--reference-repo is a checkout of github.com/KwaiVGI/LivePortrait (its src/ is imported; it needs only torch,
numpy, opencv and pyyaml to be importable). With --weights, both sides load the released files (ours through
space.models.liveportrait.load_liveportrait, the public code through its own load_model). Without, the public
networks are built at the release sizes (src/config/models.yaml) with random weights -- batch-norm running
statistics and spectral-norm vectors randomised too, so that nothing is compared at a trivial value -- written in
the release layout, and loaded by ours from those files: the loader is checked with the networks.

Compared, on one photo (a real one with --image, else a smooth random image) and a driving frame (the photo
flipped, so the pose and expression differ): M's raw outputs, the head angles in degrees, the transformed
keypoints (public transform_keypoint), the stitching (public LivePortraitWrapper.stitching), F's feature volume,
W's warped features and occlusion, and G's 512x512 frame. Writes benchmarks/results/liveportrait_equality.json
with each stage's largest absolute difference and its scale; exits 1 when one exceeds --tolerance.
Not part of CI: it needs the public checkout (and, to be meaningful for a user, the release weights).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from space.models.liveportrait import LivePortrait, load_liveportrait  # noqa: E402
from space.models.liveportrait.model import BASE_FILES, STITCHING_FILE  # noqa: E402


def reference_modules(repo: Path, weights: Path | None, device: str) -> dict:
    """The public networks, {name: module} (stitching as its dict of three MLPs), from the checkout."""
    import yaml

    sys.path.insert(0, str(repo))
    from src.utils.helper import load_model  # the public loader: exactly what its demo does
    from src.modules.appearance_feature_extractor import AppearanceFeatureExtractor
    from src.modules.motion_extractor import MotionExtractor
    from src.modules.spade_generator import SPADEDecoder
    from src.modules.stitching_retargeting_network import StitchingRetargetingNetwork
    from src.modules.warping_network import WarpingNetwork

    config = yaml.safe_load((repo / "src/config/models.yaml").read_text())
    params = config["model_params"]
    if weights is not None:
        mods = {name: load_model(str(weights / rel), config, device, name) for name, rel in BASE_FILES.items()}
        mods["stitching_retargeting_module"] = load_model(str(weights / STITCHING_FILE), config, device,
                                                          "stitching_retargeting_module")
        return mods
    classes = {"appearance_feature_extractor": AppearanceFeatureExtractor, "motion_extractor": MotionExtractor,
               "warping_module": WarpingNetwork, "spade_generator": SPADEDecoder}
    mods = {name: cls(**params[f"{name}_params"]) for name, cls in classes.items()}
    s = params["stitching_retargeting_module_params"]
    mods["stitching_retargeting_module"] = {part: StitchingRetargetingNetwork(**s[part])
                                            for part in ("stitching", "lip", "eye")}
    generator = torch.Generator().manual_seed(0)
    for module in [*(mods[n] for n in classes), *mods["stitching_retargeting_module"].values()]:
        randomise(module, generator)
        module.to(device).eval()
    return mods


@torch.no_grad()
def randomise(module: torch.nn.Module, generator: torch.Generator) -> None:
    """Random running statistics and spectral-norm vectors (their initial values would hide a mix-up), and
    small random GRN gains (zero at init: the GRN would be an identity)."""
    for name, buffer in module.named_buffers():
        if name.endswith("running_mean"):
            buffer.copy_(torch.randn(buffer.shape, generator=generator) * 0.1)
        elif name.endswith("running_var"):
            buffer.copy_(torch.rand(buffer.shape, generator=generator) + 0.5)
        elif name.endswith(("weight_u", "weight_v")):
            v = torch.randn(buffer.shape, generator=generator)
            buffer.copy_(v / v.norm())
    for name, param in module.named_parameters():
        if name.endswith(("grn.gamma", "grn.beta")):
            param.copy_(torch.randn(param.shape, generator=generator) * 0.1)


def write_release(mods: dict, folder: Path) -> None:
    """The random public networks saved as the release lays its files out."""
    for name, rel in BASE_FILES.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        torch.save(mods[name].state_dict(), folder / rel)
    (folder / STITCHING_FILE).parent.mkdir(parents=True, exist_ok=True)
    keys = {"stitching": "retarget_shoulder", "lip": "retarget_mouth", "eye": "retarget_eye"}
    torch.save({key: {f"module.{k}": v for k, v in mods["stitching_retargeting_module"][part].state_dict().items()}
                for part, key in keys.items()}, folder / STITCHING_FILE)


def photo(path: str | None) -> torch.Tensor:
    """(1, 3, 256, 256) in [0, 1], the public prepare_source's input."""
    if path:
        import cv2

        image = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
        image = cv2.resize(image, (256, 256), interpolation=cv2.INTER_AREA)
        return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    noise = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    return torch.sigmoid(torch.nn.functional.interpolate(noise, size=(256, 256), mode="bicubic", align_corners=False))


def compare(name: str, ours: torch.Tensor, theirs: torch.Tensor, report: dict) -> None:
    ours, theirs = ours.detach().float().cpu(), theirs.detach().float().cpu()
    if ours.shape != theirs.shape:
        raise SystemExit(f"{name}: shapes differ, ours {tuple(ours.shape)} vs public {tuple(theirs.shape)}")
    report[name] = {"max_abs_diff": float((ours - theirs).abs().max()), "scale": float(theirs.abs().max()),
                    "std": float(theirs.std()), "shape": list(theirs.shape)}
    print(f"{name:28s} max |diff| {report[name]['max_abs_diff']:.3e}   (max |value| {report[name]['scale']:.3e})")


@torch.no_grad()
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference-repo", required=True, type=Path, help="checkout of KwaiVGI/LivePortrait")
    parser.add_argument("--weights", type=Path, default=None,
                        help="its pretrained_weights/liveportrait folder (default: random weights)")
    parser.add_argument("--image", default=None, help="a portrait photo (default: a smooth random image)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest allowed |diff| relative to scale")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/liveportrait_equality.json")
    args = parser.parse_args()
    if not (args.reference_repo / "src/modules/warping_network.py").is_file():
        parser.error(f"--reference-repo {args.reference_repo}: no src/modules/warping_network.py there "
                     "(expected a checkout of KwaiVGI/LivePortrait)")
    torch.manual_seed(0)
    mods = reference_modules(args.reference_repo, args.weights, args.device)
    from src.live_portrait_wrapper import LivePortraitWrapper
    from src.utils.camera import headpose_pred_to_degree

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.weights
        if folder is None:
            folder = Path(tmp) / "liveportrait"
            write_release(mods, folder)
        ours: LivePortrait = load_liveportrait(str(folder), device=args.device)
    # the public wrapper's methods use only these attributes of self
    public = SimpleNamespace(stitching_retargeting_module=mods["stitching_retargeting_module"])
    public.stitch = lambda s, d: LivePortraitWrapper.stitch(public, s, d)

    source = photo(args.image).to(args.device)
    driving = source.flip(-1)
    report: dict = {}
    start = time.perf_counter()

    # M: raw outputs, degrees, transformed keypoints
    kp_info = {}
    for label, image in (("source", source), ("driving", driving)):
        theirs_raw = mods["motion_extractor"](image)
        ours_raw = ours.motion(image)
        for key in ("pitch", "yaw", "roll", "t", "exp", "scale", "kp"):
            compare(f"M.{key} ({label})", ours_raw[key], theirs_raw[key], report)
        info = {k: v.float() for k, v in theirs_raw.items()}
        info["kp"], info["exp"] = info["kp"].reshape(1, -1, 3), info["exp"].reshape(1, -1, 3)
        theirs_degrees = torch.cat([headpose_pred_to_degree(info[k])[:, None] for k in ("yaw", "pitch", "roll")], 1)
        params = ours.estimate(image)
        compare(f"degrees ({label})", params[:, :3], theirs_degrees, report)
        theirs_kp = LivePortraitWrapper.transform_keypoint(None, dict(info))
        compare(f"keypoints ({label})", ours.keypoints(ours.canonical_keypoints(image), params), theirs_kp, report)
        kp_info[label] = theirs_kp

    # S: stitching; F, W, G: the frame
    theirs_stitched = LivePortraitWrapper.stitching(public, kp_info["source"], kp_info["driving"])
    compare("stitched keypoints", ours.stitched(kp_info["source"], kp_info["driving"]), theirs_stitched, report)
    state = ours.encode(source)
    theirs_feature = mods["appearance_feature_extractor"](source)
    compare("F feature volume", state.feature, theirs_feature, report)
    compare("source keypoints", state.kp_source, kp_info["source"], report)
    theirs_warp = mods["warping_module"](theirs_feature, kp_source=kp_info["source"], kp_driving=theirs_stitched)
    theirs_frame = mods["spade_generator"](feature=theirs_warp["out"])
    out = ours.render_outputs(state, kp_info["driving"])  # ours stitches inside render
    compare("W occlusion map", out["occlusion_map"], theirs_warp["occlusion_map"], report)
    compare("W deformation", out["deformation"], theirs_warp["deformation"], report)
    compare("G frame (512x512)", out["prediction"], theirs_frame, report)

    worst = max(r["max_abs_diff"] / max(r["scale"], 1e-6) for r in report.values())
    result = {"reference_repo": str(args.reference_repo), "weights": str(args.weights) if args.weights else
              "random (public networks at release sizes; BN statistics and spectral-norm vectors randomised)",
              "image": args.image or "smooth random image", "device": args.device, "torch": torch.__version__,
              "tolerance": args.tolerance, "worst_relative_diff": worst, "equal": worst <= args.tolerance,
              "seconds": round(time.perf_counter() - start, 1), "stages": report}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"worst relative difference {worst:.2e} (tolerance {args.tolerance:g}) -> {args.out}")
    return 0 if result["equal"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
