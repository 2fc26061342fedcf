"""MP4 frames in and out with PyAV: decode a time range of a file, encode frames into a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sensorimotor.core.errors import DataError


def decode_range(
    path: Path, start: float, count: int, fps: float, keep: np.ndarray | None = None
) -> np.ndarray:
    """``count`` RGB frames ``uint8 (count, H, W, 3)`` of ``path`` starting at ``start`` seconds
    (only frames ``keep`` of them, in that order, when given: the others are decoded but not
    converted to RGB, which is most of the cost).

    Frames are picked by presentation time: frame ``k`` is the first frame with
    pts >= ``start + k / fps`` - half a frame, so rounding in the container does not shift them.
    """
    import av

    if not path.is_file():
        raise DataError(f"{path}: video file is missing")
    out: list[np.ndarray | None] = []
    wanted = None if keep is None else set(np.asarray(keep).tolist())
    half = 0.5 / fps
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if start > half:
                container.seek(int(max(0.0, start - half) / stream.time_base), stream=stream)
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                t = float(frame.pts * stream.time_base)
                if t < start + len(out) / fps - half:
                    continue
                use = wanted is None or len(out) in wanted
                out.append(frame.to_ndarray(format="rgb24") if use else None)
                if len(out) == count:
                    break
    except av.error.FFmpegError as e:
        raise DataError(f"{path}: cannot decode the video ({e})") from None
    if len(out) < count:
        raise DataError(
            f"{path}: expected {count} frames from {start:.3f} s at {fps} fps, the video has "
            f"only {len(out)} there"
        )
    if keep is None:
        return np.stack(out)
    return np.stack([out[k] for k in np.asarray(keep)])


def encode_video(
    path: Path, frames: np.ndarray, fps: int, codec: str = "libsvtav1", crf: int = 20
) -> None:
    """Write ``uint8 (T, H, W, 3)`` frames to ``path`` (yuv420p, a keyframe every 2 frames)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames.shape[1:3]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        options = {"crf": str(crf), "g": "2"}
        if codec == "libsvtav1":
            options["preset"] = "12"
        stream.options = options
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def video_info(path: Path) -> dict:
    """The ``info`` block LeRobot stores for a video feature (codec, size, fps, pixel format)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return {
            "video.height": stream.height,
            "video.width": stream.width,
            "video.codec": stream.codec_context.name,
            "video.pix_fmt": stream.pix_fmt,
            "video.is_depth_map": False,
            "video.fps": int(round(float(stream.average_rate or stream.base_rate))),
            "video.channels": 3,
            "has_audio": False,
        }
