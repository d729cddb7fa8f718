"""案卷 — the case core: one reported problem from intake (上报) to closure (结案)."""
