import numpy as np

from sensorimotor.worldmodels.history import FrameHistory


def frame(i):
    return np.full((2, 2, 3), i, np.uint8)


def test_ring_buffer_windows_and_valid_ends():
    h = FrameHistory(5, (2, 2, 3), slots=3)
    for i in range(8):
        h.append(frame(i))
        h.set_action(i % 2)
    assert len(h) == 5 and h.oldest == 3 and h.count == 8
    assert not h.has(2) and h.has(3) and h.has(7)
    frames, actions = h.window(7, 3)
    assert [f[0, 0, 0] for f in frames] == [5, 6, 7]
    assert list(actions) == [1, 0, 1]
    np.testing.assert_array_equal(h.valid_ends(), [5, 6, 7])


def test_canvases_never_span_episodes():
    h = FrameHistory(10, (2, 2, 3), slots=3)
    for i in range(4):
        h.append(frame(i))
        h.set_action(0)
    h.new_episode()
    for i in range(4, 7):
        h.append(frame(i))
        h.set_action(1)
    np.testing.assert_array_equal(h.valid_ends(), [2, 3, 6])


def test_a_frame_without_its_action_ends_no_canvas_yet():
    h = FrameHistory(10, (2, 2, 3), slots=3)
    h.append(frame(0))
    h.set_action(0)
    h.append(frame(1))  # no action yet
    assert not h.window_ok(1, 2, last_action=True)
    h.set_action(1)
    assert h.window_ok(1, 2, last_action=True)


def test_state_roundtrip():
    h = FrameHistory(4, (2, 2, 3))
    for i in range(6):
        h.append(frame(i))
        h.set_action(1)
    g = FrameHistory(4, (2, 2, 3))
    g.load_state_dict(h.state_dict())
    np.testing.assert_array_equal(g.frames, h.frames)
    np.testing.assert_array_equal(g.valid_ends(), h.valid_ends())
    assert g.count == 6
