"""Field work (外勤): the task inbox of collectors, officers and handlers, shifts and attendance (排班与考勤),
patrol tracks (巡查轨迹) with live positions, offline sync and enforcement inspections (执法检查).

Every write from the field app carries a client-generated id and timestamp and goes through
``backend.field.ops`` (applied once, whatever the network does); case steps go through the one case
service, ``backend.cases.service``.
"""
