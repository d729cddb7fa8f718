"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2): services from the category catalog,
service requests as cases with source ``open311``."""
