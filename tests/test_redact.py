"""Credential redaction of camera URLs."""

import pytest

from streamer.redact import redact_url


@pytest.mark.parametrize("url,expected", [
    ("rtsp://admin:s3cret@10.0.0.2:554/live", "rtsp://***@10.0.0.2:554/live"),
    ("rtsp://admin@cam/live", "rtsp://***@cam/live"),
    ("http://u:p@cam/mjpeg?x=1", "http://***@cam/mjpeg?x=1"),
    ("http://cam/video.cgi?user=admin&password=pw&res=hd", "http://cam/video.cgi?user=***&password=***&res=hd"),
    ("opening rtsp://a:b@h/1 failed; rtsp://c:d@h/2 too", "opening rtsp://***@h/1 failed; rtsp://***@h/2 too"),
    ("rtsp://cam/live", "rtsp://cam/live"),
    ("footage/vtest.avi", "footage/vtest.avi"),
    ("0", "0"),
])
def test_redact_url(url, expected):
    assert redact_url(url) == expected
