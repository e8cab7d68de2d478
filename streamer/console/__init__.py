"""The web console: live view, the review queue with each alert's explanation, the audit log."""
