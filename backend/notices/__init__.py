"""Public notices (公告) of the city-management office."""
