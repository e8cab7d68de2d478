"""Real servers on 127.0.0.1 that tests and benchmarks both use (GStreamer's RTSP server)."""
