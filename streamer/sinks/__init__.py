"""Alert sinks: every line of the alert log also goes, in order and at least once, to MQTT and
webhooks, each through its own queue on disk and its own thread."""
