"""A real RTSP server for tests: GStreamer's (Debian gir1.2-gst-rtsp-server-1.0, system python3),
re-serving an H.264 RTP stream that Debian's ffmpeg sends it from a video file, in real time.

usage: /usr/bin/python3 testbed/rtsp_server.py RTSP_PORT RTP_PORT [USER PASSWORD [basic|digest]]
Serves rtsp://127.0.0.1:RTSP_PORT/cam over TCP or UDP, to USER with PASSWORD only when given;
prints "ready" once listening.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

rtsp_port, rtp_port = sys.argv[1], int(sys.argv[2])
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(rtsp_port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f'( udpsrc address=127.0.0.1 port={rtp_port} caps="application/x-rtp,media=video,clock-rate=90000,'
    'encoding-name=H264,payload=96" ! rtph264depay ! h264parse config-interval=-1 '
    "! rtph264pay name=pay0 pt=96 config-interval=1 )"
)
factory.set_shared(True)
if len(sys.argv) > 4:
    user, password = sys.argv[3], sys.argv[4]
    method = sys.argv[5] if len(sys.argv) > 5 else "basic"
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
    if method == "digest":
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        auth.add_digest(user, password, token)
    else:
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_role_from_structure(
        Gst.Structure.from_string(
            "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        )[0]
    )
    factory.set_permissions(permissions)
server.get_mount_points().add_factory("/cam", factory)
server.attach(None)
print("ready", flush=True)
GLib.MainLoop().run()
