"""face-vid2vid (Wang, Mallya, Liu, CVPR 2021, "One-Shot Free-View Neural Talking-Head Synthesis"): the
synthesis stage of SPACE. Our implementation, with the state-dict keys and shapes of the common public
re-implementation's vox-256 checkpoints (zhanglonghao1992/One-Shot_Free-View_Neural_Talking_Head_Synthesis),
which it loads with strict=True.

    config.py             FaceVid2VidConfig (vox-256 numbers; size 256 or 512)
    blocks.py             shared conv blocks, 3D hourglass, SPADE, coordinate helpers
    appearance.py         photo -> 3D appearance feature volume (inside the `generator` key prefix)
    keypoint_detector.py  `kp_detector`: canonical 3D keypoints
    head_pose.py          `he_estimator`: yaw / pitch / roll bins, translation, expression deltas
    dense_motion.py       keypoints -> 3D warp field + occlusion map
    generator.py          `generator`: appearance encoder + dense motion + SPADE decoder
    model.py              FaceVid2Vid: encode / estimate / keypoints / render, checkpoint I/O, PARAM_LAYOUT
    sadtalker.py          SadTalker's releases (SadTalker_V0.0.2_{256,512}.safetensors), read strictly

Imports torch only (fsspec when a checkpoint is read or written, safetensors for SadTalker's files).
"""

from .config import FaceVid2VidConfig
from .model import (
    EXPRESSION,
    PARAM_DIM,
    PARAM_LAYOUT,
    PITCH,
    ROLL,
    ROTATION,
    TRANSLATION,
    YAW,
    FaceVid2Vid,
    ParamLayout,
    SourceState,
    load_facevid2vid,
    rotation_matrix,
)

__all__ = [
    "EXPRESSION",
    "PARAM_DIM",
    "PARAM_LAYOUT",
    "PITCH",
    "ROLL",
    "ROTATION",
    "TRANSLATION",
    "YAW",
    "FaceVid2Vid",
    "FaceVid2VidConfig",
    "ParamLayout",
    "SourceState",
    "load_facevid2vid",
    "rotation_matrix",
]
