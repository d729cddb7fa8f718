"""Devices (物联感知设备): registry, signed telemetry ingest, readings storage, alarm rules and alarms.

Public API:

- registry (``service``): ``add_device``, ``rotate_secret``, ``revoke_device``, ``get_device``,
  ``list_devices``, ``list_device_types``, ``add_rule``, ``rules_for``;
- ingest (``ingest``): ``Ingestor`` (one per process) with ``ingest(session, …)`` → ``IngestOutcome``;
- alarms (``alarms``): ``acknowledge``, ``clear``, ``list_alarms``, ``sweep_silence`` and the outbox
  topics ``alarm.raised`` / ``alarm.cleared`` (payloads in ``backend/devices/alarms.py``);
- pure rules (``rules``): ``parse_rule``, ``evaluate``, ``evaluate_silence``, ``next_alarm_state``;
- signing (``signing``): ``signed_headers`` / ``verify`` — what device firmware implements;
- storage (``partitions``, ``startup``): day partitions and ``prepare``.

The live state of watched objects is in ``backend.live``.
"""
