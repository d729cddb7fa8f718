"""智能分派 — smart dispatch: which department a case goes to, automatically or via the manual queue."""
