"""Organization: departments, staff, roles, passwords and tokens."""
