"""审计日志 — the admin console's audit trail."""
