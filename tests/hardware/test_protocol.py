"""The JSON stream framing and unit conversion of the JAKA protocol."""

from __future__ import annotations

import json
import math

from roboact.hardware.jaka.protocol import JsonStreamDecoder, RobotState, pose_from_wire, pose_to_wire

RECORDS = [
    {"len": i, "errcode": "0x0", "joint_actual_position": [i, 2.5, -3], "s": 'a{b}"c'} for i in range(3)
]


def test_decoder_reassembles_objects_split_at_every_byte():
    data = b"".join(json.dumps(r).encode() for r in RECORDS)
    for cut in range(1, len(data)):
        dec = JsonStreamDecoder()
        assert dec.feed(data[:cut]) + dec.feed(data[cut:]) == RECORDS
        assert dec.malformed == 0


def test_decoder_returns_several_objects_from_one_read():
    data = "".join(json.dumps(r) for r in RECORDS).encode()
    assert JsonStreamDecoder().feed(data) == RECORDS


def test_decoder_skips_malformed_object_and_keeps_the_stream():
    bad = b'{"len": 1, "joint_actual_position": [1.0,, BROKEN}'
    dec = JsonStreamDecoder()
    out = dec.feed(json.dumps(RECORDS[0]).encode() + bad + json.dumps(RECORDS[1]).encode())
    assert out == RECORDS[:2]
    assert dec.malformed == 1


def test_decoder_handles_multibyte_character_split_across_reads():
    data = json.dumps({"errmsg": "Schutzstopp \u00fc"}, ensure_ascii=False).encode()
    cut = data.index("\u00fc".encode()) + 1
    dec = JsonStreamDecoder()
    assert dec.feed(data[:cut]) == []
    assert dec.feed(data[cut:]) == [{"errmsg": "Schutzstopp \u00fc"}]


def test_pose_units_round_trip_mm_and_degrees():
    pose = [0.1, -0.2, 0.3, 0.5, -1.0, math.pi / 2]
    wire = pose_to_wire(pose)
    assert wire[:3] == [100.0, -200.0, 300.0]
    assert math.isclose(wire[5], 90.0)
    assert all(math.isclose(a, b) for a, b in zip(pose_from_wire(wire), pose, strict=True))


def test_state_record_converts_degrees_and_flags_errors():
    msg = {
        "joint_actual_position": [90.0] * 7,
        "errcode": "0x0",
        "protective_stop": 1,
        "actual_position": [0] * 6,
    }
    state = RobotState.from_wire(msg, 0.0)
    assert math.isclose(state.joints[0], math.pi / 2)
    assert not state.healthy
    assert state.errors == ["protective stop"]
