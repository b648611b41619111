"""Video: One Euro smoothing, tracking, and a few synthetic frames round-tripping through `apdraw video`."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from apdraw.cli import main
from apdraw.io import load_image
from apdraw.video import OneEuroFilter, VideoWriter, flicker, read_frames

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_one_euro_filter_smooths_noise_and_follows_motion():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.05)
    still = [f(np.array([100.0]) + rng.normal(0, 1.0, 1), t / 25) for t in range(100)]
    assert np.std(np.diff(np.concatenate(still[20:]))) < 0.5 * np.std(np.diff(rng.normal(0, 1.0, 80)))
    f = OneEuroFilter(min_cutoff=1.0, beta=0.05)
    moving = [f(np.array([4.0 * t]), t / 25)[0] for t in range(100)]
    assert abs(moving[-1] - 4.0 * 99) < 8.0  # a steady 100 px/s motion lags by under 2 frames
    f.reset()
    assert f(np.array([7.0]), 0.0)[0] == 7.0
    with pytest.raises(ValueError):
        OneEuroFilter(min_cutoff=0)


def jittered_clip(n: int = 6, size: int = 320) -> list[np.ndarray]:
    """A still head filmed with a shaky camera: the example photo shifted by up to ±1.5 px, with sensor noise."""
    photo = cv2.resize(load_image(EXAMPLES / "grace_hopper.jpg"), (size, int(size * 1.19)))
    rng = np.random.default_rng(1)
    frames = []
    for _ in range(n):
        m = np.float32([[1, 0, rng.uniform(-1.5, 1.5)], [0, 1, rng.uniform(-1.5, 1.5)]])
        shifted = cv2.warpAffine(photo, m, (photo.shape[1], photo.shape[0]), borderMode=cv2.BORDER_REFLECT)
        frames.append(np.clip(shifted + rng.normal(0, 2, shifted.shape), 0, 255).astype(np.uint8))
    return frames


@pytest.mark.parametrize("suffix", [".avi", ".gif"])
def test_a_video_round_trips_through_apdraw_video(suffix, tmp_path, capsys):
    clip = jittered_clip()
    src = tmp_path / f"in{suffix}"
    writer = VideoWriter(src, fps=10)
    for f in clip:
        writer.write(f)
    writer.close()
    frames, fps, _ = read_frames(src)
    assert len(list(frames)) == len(clip) and fps == pytest.approx(10, rel=0.05)
    out = tmp_path / "out.webm"
    assert main(["video", str(src), "-o", str(out), "--style", "npr"]) == 0
    assert f"drew {len(clip)} of {len(clip)} frames" in capsys.readouterr().err
    drawn, _, _ = read_frames(out)
    drawn = list(drawn)
    assert len(drawn) == len(clip) and drawn[0].shape[:2] == (512, 512)
    assert (drawn[0] < 128).mean() > 0.01  # ink
    assert not list(tmp_path.glob(".apdraw-*"))


def test_smoothing_reduces_flicker(tmp_path):
    from apdraw.face import FacePipeline
    from apdraw.styles import build_drawer
    from apdraw.video import draw_video

    clip = jittered_clip(n=8)
    src = tmp_path / "in.avi"
    writer = VideoWriter(src, fps=25)
    for f in clip:
        writer.write(f)
    writer.close()
    drawer, pipe = build_drawer("npr"), FacePipeline()
    raw, smooth = [], []
    draw_video(src, tmp_path / "a.gif", drawer=drawer, face_pipeline=pipe, smooth=False, keep=raw, progress=False)
    draw_video(src, tmp_path / "b.gif", drawer=drawer, face_pipeline=pipe, smooth=True, keep=smooth, progress=False)
    assert flicker(smooth) < flicker(raw)


def test_video_usage_errors(tmp_path, capsys):
    (tmp_path / "notvideo.mp4").write_bytes(b"nope")
    assert main(["video", str(tmp_path / "notvideo.mp4"), "-o", str(tmp_path / "o.webm"), "--style", "npr"]) == 2
    assert "not a video" in capsys.readouterr().err
    assert main(["video", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o.webm")]) == 2
    assert main(["video", str(tmp_path / "notvideo.mp4"), "-o", str(tmp_path / "o.txt")]) == 2
    assert "must end in" in capsys.readouterr().err
