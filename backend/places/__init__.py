"""Places citizens look for on a map — public toilets and parking — and what they share: opening
hours and walking estimates (``rules``), and the Redis GEO index kept in step with PostgreSQL, with
a PostgreSQL fallback for when Redis is down (``index``)."""
