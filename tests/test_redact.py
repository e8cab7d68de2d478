"""Credential redaction of camera URLs."""

import pytest

from streamer.redact import redact_url


@pytest.mark.parametrize(
    "url,expected",
    [
        ("rtsp://admin:s3cret@10.0.0.2:554/live", "rtsp://***@10.0.0.2:554/live"),
        ("rtsp://admin@cam/live", "rtsp://***@cam/live"),
        ("http://u:p@cam/mjpeg?x=1", "http://***@cam/mjpeg?x=1"),
        (
            "http://cam/video.cgi?user=admin&password=pw&res=hd",
            "http://cam/video.cgi?user=***&password=***&res=hd",
        ),
        (
            "opening rtsp://a:b@h/1 failed; rtsp://c:d@h/2 too",
            "opening rtsp://***@h/1 failed; rtsp://***@h/2 too",
        ),
        ("rtsp://cam/live", "rtsp://cam/live"),
        # A password with an unencoded '@' or '#': nothing of it survives (it once left '@ss#1@host').
        (
            "camera down (rtsp://admin:p@ss#1@127.0.0.1:8554/cam: cannot open)",
            "camera down (rtsp://***@127.0.0.1:8554/cam: cannot open)",
        ),
        ("rtsp://u:a/b@c@host/p", "rtsp://***@host/p"),
        ("http://cam/v.cgi?user=a&passwd=zz&x=1", "http://cam/v.cgi?user=***&passwd=***&x=1"),
        ("http://cam/v.cgi?token=abc;api_key=k", "http://cam/v.cgi?token=***;api_key=***"),
        ("'rtsp://a:b@h/1', 'rtsp://c:d@h/2'", "'rtsp://***@h/1', 'rtsp://***@h/2'"),
        ("footage/vtest.avi", "footage/vtest.avi"),
        ("0", "0"),
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected
