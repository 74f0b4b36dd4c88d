"""Page and panel builders (apps/reviews/panels.py)."""

from apps.reviews import panels


def test_expected_output_diff_is_unified_and_compares_message_text():
    diff = panels.expected_output_diff({"role": "assistant", "content": "30 days."}, "Within 30 days.")
    lines = [(d["kind"], d["line"]) for d in diff]
    assert ("del", "-30 days.") in lines and ("add", "+Within 30 days.") in lines
    assert panels.expected_output_diff("same", None) == []
