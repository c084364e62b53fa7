"""GET /history rejects non-integer paging parameters the way ComfyUI does (its test_execution.py compares bodies)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"max_items": "not-an-integer"}, "max_items must be an integer"),
        ({"offset": "not-an-integer"}, "offset must be an integer"),
        ({"max_items": "2", "offset": "x"}, "offset must be an integer"),
        ({"max_items": "1.5", "offset": "1"}, "max_items must be an integer"),
    ],
)
def test_history_rejects_non_integer_params(server, params, message):
    response = server.get("/history", params=params)
    assert response.status_code == 400
    assert response.json() == {"error": message}


def test_history_accepts_integer_params_on_empty_history(server):
    response = server.get("/history", params={"max_items": "3", "offset": "0"})
    assert response.status_code == 200 and response.json() == {}
