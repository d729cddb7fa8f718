"""Public toilets and parking lots, edited through their services (which check opening hours, fee rules
and coordinates, locate the grid and keep the finders' indexes in step)."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from wtforms import SelectField

from admin.views.base import ConsoleModelView
from backend.models import ParkingLot, Toilet
from backend.parking import service as parking
from backend.toilets import service as toilets


def _inputs(data: dict[str, Any], editable: frozenset[str]) -> dict[str, Any]:
    values = {k: v for k, v in data.items() if k in editable}
    for key in ("opening_hours", "fee_rule", "capacity"):
        if key in values and not values[key]:
            values[key] = None
    return values


class PlaceAdmin(ConsoleModelView):
    place_editable: ClassVar[frozenset[str]] = frozenset()


class ToiletAdmin(PlaceAdmin, model=Toilet):
    name = "公共厕所"
    name_plural = "公共厕所"
    icon = "fa-solid fa-restroom"
    category = "设施与设备"
    column_list = [Toilet.code, Toilet.name, Toilet.level, Toilet.address, Toilet.free, Toilet.male_stalls,
                   Toilet.female_stalls, Toilet.third_toilet, Toilet.department_id]  # fmt: skip
    column_labels = {
        Toilet.code: "编码", Toilet.name: "名称", Toilet.address: "地址", Toilet.lat: "纬度(WGS-84)",
        Toilet.lng: "经度(WGS-84)", Toilet.level: "类别", Toilet.opening_hours: "开放时间", Toilet.free: "免费",
        Toilet.fee_fen: "收费(分)", Toilet.male_stalls: "男厕位", Toilet.female_stalls: "女厕位",
        Toilet.accessible_stalls: "无障碍厕位", Toilet.third_toilet: "第三卫生间", Toilet.baby_care: "母婴室",
        Toilet.department_id: "管理部门", Toilet.grid_code: "单元网格", Toilet.street_code: "街道", Toilet.note: "备注",
        Toilet.id: "编号", Toilet.created_at: "创建时间", Toilet.updated_at: "更新时间",
    }  # fmt: skip
    column_formatters = {Toilet.level: lambda m, a: {1: "一类", 2: "二类", 3: "三类"}.get(m.level, m.level)}
    column_searchable_list = [Toilet.code, Toilet.name, Toilet.address]
    form_columns = [Toilet.code, Toilet.name, Toilet.address, Toilet.lat, Toilet.lng, Toilet.level,
                    Toilet.opening_hours, Toilet.free, Toilet.fee_fen, Toilet.male_stalls, Toilet.female_stalls,
                    Toilet.accessible_stalls, Toilet.third_toilet, Toilet.baby_care, Toilet.department_id,
                    Toilet.note]  # fmt: skip
    form_overrides = {"level": SelectField}
    form_args = {
        "level": {"choices": [(1, "一类"), (2, "二类"), (3, "三类")], "coerce": int},
        "opening_hours": {"description": '空表示全天开放；例：{"mon": [["06:00", "22:00"]], …}'},
    }
    department_columns = ("department_id",)
    place_editable = toilets.EDITABLE

    async def create_object(self, session: AsyncSession, data: dict[str, Any], request: Request) -> Toilet:
        return await toilets.create_toilet(session, toilets.ToiletInput(**_inputs(data, self.place_editable)))

    async def update_object(self, session: AsyncSession, obj: Any, data: dict[str, Any], request: Request) -> Toilet:
        return await toilets.update_toilet(session, obj.id, **_inputs(data, self.place_editable))

    async def delete_object(self, session: AsyncSession, obj: Any, request: Request) -> None:
        await toilets.delete_toilet(session, obj.id)


class ParkingLotAdmin(PlaceAdmin, model=ParkingLot):
    name = "停车场"
    name_plural = "停车场与路内泊位"
    icon = "fa-solid fa-square-parking"
    category = "设施与设备"
    column_list = [ParkingLot.code, ParkingLot.name, ParkingLot.kind, ParkingLot.address, ParkingLot.total_spaces,
                   ParkingLot.availability_source, ParkingLot.department_id]  # fmt: skip
    column_labels = {
        ParkingLot.code: "编码", ParkingLot.name: "名称", ParkingLot.kind: "类型", ParkingLot.address: "地址",
        ParkingLot.lat: "纬度(WGS-84)", ParkingLot.lng: "经度(WGS-84)", ParkingLot.capacity: "泊位数(按类型)",
        ParkingLot.total_spaces: "总泊位", ParkingLot.opening_hours: "开放时间", ParkingLot.fee_rule: "收费规则",
        ParkingLot.availability_source: "余位来源", ParkingLot.department_id: "管理部门",
        ParkingLot.grid_code: "单元网格", ParkingLot.street_code: "街道", ParkingLot.note: "备注",
        ParkingLot.id: "编号",
        ParkingLot.created_at: "创建时间", ParkingLot.updated_at: "更新时间",
    }  # fmt: skip
    kinds = {"lot": "停车场", "street": "路内泊位段"}
    sources = {"gate": "道闸计数", "detectors": "地磁检测", "none": "无"}
    column_formatters = {
        ParkingLot.kind: lambda m, a: ParkingLotAdmin.kinds.get(m.kind, m.kind),
        ParkingLot.availability_source: lambda m, a: ParkingLotAdmin.sources.get(m.availability_source, "—"),
    }
    column_searchable_list = [ParkingLot.code, ParkingLot.name, ParkingLot.address]
    form_columns = [ParkingLot.code, ParkingLot.name, ParkingLot.kind, ParkingLot.address, ParkingLot.lat,
                    ParkingLot.lng, ParkingLot.capacity, ParkingLot.opening_hours, ParkingLot.fee_rule,
                    ParkingLot.availability_source, ParkingLot.department_id, ParkingLot.note]  # fmt: skip
    form_overrides = {"kind": SelectField, "availability_source": SelectField}
    form_args = {
        "kind": {"choices": list(kinds.items())},
        "availability_source": {"choices": list(sources.items())},
        "capacity": {"description": '按泊位类型，例：{"normal": 120, "disabled": 4, "charging": 10}'},
    }
    department_columns = ("department_id",)
    place_editable = parking.EDITABLE

    async def create_object(self, session: AsyncSession, data: dict[str, Any], request: Request) -> ParkingLot:
        return await parking.create_lot(session, parking.LotInput(**_inputs(data, self.place_editable)))

    async def update_object(
        self, session: AsyncSession, obj: Any, data: dict[str, Any], request: Request
    ) -> ParkingLot:
        return await parking.update_lot(session, obj.id, **_inputs(data, self.place_editable))

    async def delete_object(self, session: AsyncSession, obj: Any, request: Request) -> None:
        await parking.delete_lot(session, obj.id)
