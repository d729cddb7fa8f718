"""The admin console's home page (值班总览): cases and device alarms at a glance."""
