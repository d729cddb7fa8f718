"""Property-based fuzzing of every API surface from the OpenAPI schema (issue 11)."""
