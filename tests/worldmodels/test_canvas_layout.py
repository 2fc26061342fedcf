import numpy as np
import pytest

from sensorimotor.nn.vit import patchify, unpatchify
from sensorimotor.worldmodels.canvas import (
    CanvasLayout,
    action_palette,
    prepare_frame,
    resize_frame,
)


def test_geometry_of_the_default_layout():
    layout = CanvasLayout(56, 56, slots=3, separator_width=7, patch_size=14)
    assert layout.shape == (56, 3 * 56 + 2 * 7, 3)
    assert [layout.slot_start(i) for i in range(3)] == [0, 63, 126]
    assert [layout.separator_start(i) for i in range(2)] == [56, 119]
    assert layout.grid == (4, 13)
    assert layout.num_patches == 52 and layout.visible_patches == 52 - 16


def test_the_original_224x688_canvas_lines_up():
    layout = CanvasLayout(224, 224, slots=3, separator_width=8, patch_size=16)
    assert layout.shape[:2] == (224, 688)
    assert layout.grid == (14, 43)
    assert layout.target_start == 464 and 464 % 16 == 0


def test_target_mask_covers_exactly_the_target_slot():
    layout = CanvasLayout(16, 16, slots=3, separator_width=4, patch_size=4)
    marker = np.zeros((1, *layout.shape), np.float32)
    x = layout.target_start
    marker[:, :, x : x + layout.frame_width] = 1.0
    per_patch = np.asarray(patchify(marker, 4)).mean(-1)[0]
    np.testing.assert_array_equal(per_patch == 1.0, layout.target_mask)
    assert set(np.unique(per_patch)) == {0.0, 1.0}  # no patch straddles the slot boundary
    back = np.asarray(
        unpatchify(
            np.repeat(layout.target_mask[None, :, None], 48, -1).astype(np.float32),
            4,
            *layout.shape[:2],
        )
    )
    np.testing.assert_array_equal(back[0], marker[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"frame_height": 56, "frame_width": 56, "separator_width": 4, "patch_size": 14},
            "model.separator_width=4",
        ),
        (
            {"frame_height": 50, "frame_width": 56, "separator_width": 7, "patch_size": 14},
            "model.frame_size",
        ),
        (
            {"frame_height": 56, "frame_width": 56, "separator_width": 0, "patch_size": 14},
            "separator_width must be >= 1",
        ),
        (
            {"frame_height": 56, "frame_width": 56, "slots": 1, "patch_size": 14},
            "slots must be >= 2",
        ),
    ],
)
def test_misaligned_layouts_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        CanvasLayout(**kwargs)


def test_misalignment_error_suggests_separator_widths():
    with pytest.raises(ValueError, match=r"Separator widths that fit: \[7, 14"):
        CanvasLayout(56, 56, 3, 5, 14)


def test_separator_colours_encode_the_actions():
    layout = CanvasLayout(8, 8, slots=3, separator_width=4, patch_size=4)
    palette = action_palette(2)
    np.testing.assert_array_equal(
        palette, [[255, 0, 0], [0, 255, 0]]
    )  # red = 0 (stay), green = 1 (move)
    frames = np.random.default_rng(0).integers(0, 255, (2, 3, 8, 8, 3), dtype=np.uint8)
    actions = np.array([[0, 1], [1, 1]])
    canvases = layout.build(frames, actions, palette)
    assert canvases.shape == (2, 8, 32, 3)
    for b in range(2):
        for i in range(2):
            x = layout.separator_start(i)
            sep = canvases[b, :, x : x + 4].reshape(-1, 3)
            assert (sep == palette[actions[b, i]]).all()
        for s in range(3):
            np.testing.assert_array_equal(layout.slot(canvases[b], s), frames[b, s])
    blank = layout.build(frames[:, :2], actions, palette, blank_target=True)
    assert (layout.target(blank) == 0).all()
    np.testing.assert_array_equal(
        blank[:, :, : layout.target_start], canvases[:, :, : layout.target_start]
    )


def test_palettes_are_distinct_for_any_action_count():
    for n in (1, 2, 3, 8, 9, 25):
        palette = action_palette(n)
        assert palette.shape == (n, 3)
        assert len({tuple(c) for c in palette}) == n


def test_build_checks_shapes_and_action_range():
    layout = CanvasLayout(8, 8, slots=3, separator_width=4, patch_size=4)
    palette = action_palette(2)
    with pytest.raises(ValueError, match="expected frames"):
        layout.build(np.zeros((2, 8, 8, 3), np.uint8), np.zeros(2, int), palette)
    with pytest.raises(ValueError, match="action indices must be in"):
        layout.build(np.zeros((3, 8, 8, 3), np.uint8), np.array([0, 2]), palette)


def test_prepare_frame_resizes_and_converts():
    image = np.zeros((224, 224, 3), np.uint8)
    image[100:104, 40:44] = 255  # one 4x4 block → one pixel at 56x56
    frame = prepare_frame(image, (56, 56))
    assert frame.shape == (56, 56, 3) and frame.dtype == np.uint8
    assert frame[25, 10, 0] == 255 and frame.sum() == 255 * 3
    gray = prepare_frame(np.full((10, 10), 7, np.uint8), None)
    assert gray.shape == (10, 10, 3) and (gray == 7).all()
    as_float = prepare_frame(np.full((4, 4, 3), 1.0, np.float32), None)
    assert (as_float == 255).all()
    odd = resize_frame(np.full((30, 30, 3), 200, np.uint8), (7, 7))
    assert odd.shape == (7, 7, 3) and (odd == 200).all()
    with pytest.raises(ValueError, match=r"expected an image of shape \(H, W, 3\)"):
        prepare_frame(np.zeros((4, 4, 5), np.uint8), None)
