"""Wire types of the mini-program API (msgspec structs; OpenAPI is generated from them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec


class RegionOut(msgspec.Struct):
    code: str
    name: str


class RegionList(msgspec.Struct):
    items: list[RegionOut]


# --- citizens: login and profile -------------------------------------------------------------------

Coord = Literal["gcj02", "wgs84"]
ImageType = Literal["image/jpeg", "image/png", "image/webp"]
Text500 = Annotated[str, msgspec.Meta(max_length=500)]


class LoginIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=128, description="the code of wx.login()")]


class CitizenOut(msgspec.Struct):
    """市民 — the signed-in citizen as they see themselves."""

    id: str
    nickname: str
    avatar_url: str
    phone: str | None
    created_at: datetime


class LoginOut(msgspec.Struct):
    token: str
    token_type: str
    expires_in: int
    first_login: bool
    citizen: CitizenOut


class ProfileIn(msgspec.Struct, forbid_unknown_fields=True):
    nickname: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    avatar_url: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class PhoneIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=128, description="the code of a getPhoneNumber button")]


# --- categories ------------------------------------------------------------------------------------


class DivertOut(msgspec.Struct):
    """分流 — tell the citizen to call an emergency line (the report is still taken)."""

    to: str
    message: str


class QuestionOut(msgspec.Struct):
    key: str
    label: str
    type: str  # choice | text | bool | number
    options: list[str]
    required: bool
    minimum: float | None
    maximum: float | None
    divert_when: bool | str | None
    divert: DivertOut | None


class CategoryOut(msgspec.Struct):
    code: str
    name: str
    kind: str  # component (部件) | event (事件)
    major_code: str
    major_name: str
    divert: DivertOut | None
    questions: list[QuestionOut]


class CategoryList(msgspec.Struct):
    items: list[CategoryOut]


# --- photos ----------------------------------------------------------------------------------------


class UploadIn(msgspec.Struct, forbid_unknown_fields=True):
    content_type: ImageType
    method: Literal["put", "post"] = "put"


class UploadOut(msgspec.Struct):
    """Upload the photo straight to ``url``: a PUT with ``headers``, or (``method`` post, for
    wx.uploadFile) a multipart form with ``fields`` and the file as ``file``. Then name ``key`` in the report."""

    key: str
    method: str
    url: str
    headers: dict[str, str]
    fields: dict[str, str]
    content_type: str
    max_bytes: int
    expires_at: datetime


class ConfirmIn(msgspec.Struct, forbid_unknown_fields=True):
    key: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]


class PointOut(msgspec.Struct):
    lat: float
    lng: float
    coord: str


class ConfirmOut(msgspec.Struct):
    key: str
    size_bytes: int
    content_type: str
    location: PointOut | None  # where the photo's EXIF says it was taken: a suggestion for the report


class PhotoOut(msgspec.Struct):
    key: str
    url: str | None  # None until the photo passed the content check (your own photos are always shown)
    status: str  # pending | checking | passed | review | rejected


# --- reports (随手拍) --------------------------------------------------------------------------------


class ReportIn(msgspec.Struct, forbid_unknown_fields=True):
    category_code: Annotated[str, msgspec.Meta(pattern=r"^[CE][0-9]{4}$")]
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lng: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    coord: Coord = "gcj02"
    address: Annotated[str, msgspec.Meta(max_length=200)] = ""
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    answers: dict[str, bool | int | float | str | None] = {}
    photos: Annotated[list[Annotated[str, msgspec.Meta(max_length=300)]], msgspec.Meta(max_length=9)] = []


class ReportCreated(msgspec.Struct):
    id: str
    number: str
    state: str
    status_text: str
    created_at: datetime
    divert: DivertOut | None


class SimilarOut(msgspec.Struct):
    """An open case near the point, for "me too" (我也遇到)."""

    id: str
    number: str
    category_code: str
    category_name: str
    status_text: str
    distance_m: float
    lat: float
    lng: float
    coord: str
    description: str
    reported_at: datetime
    photos: list[str]


class SimilarList(msgspec.Struct):
    items: list[SimilarOut]


class FollowOut(msgspec.Struct):
    id: str
    number: str
    added: bool  # false when you already reported or followed it


class ReportSummary(msgspec.Struct):
    id: str
    number: str
    category_code: str
    category_name: str
    state: str
    status_text: str
    following: bool  # you joined it with "me too" (or your report was merged into it)
    address: str
    created_at: datetime
    updated_at: datetime


class ReportPage(msgspec.Struct):
    items: list[ReportSummary]
    next_cursor: str | None


class TimelineOut(msgspec.Struct):
    at: datetime
    title: str
    text: str


class RatingOut(msgspec.Struct):
    score: int
    comment: str


class ReportDetail(msgspec.Struct):
    id: str
    number: str
    category_code: str
    category_name: str
    state: str
    status_text: str
    description: str
    address: str
    lat: float
    lng: float
    coord: str
    created_at: datetime
    department: str | None  # the handling department (处置部门)
    deadline: datetime | None  # the running stage's deadline
    deadline_text: str | None
    photos: list[PhotoOut]
    timeline: list[TimelineOut]
    rating: RatingOut | None
    following: bool
    can_rate: bool
    can_reopen: bool
    reopen_until: datetime | None


class RatingIn(msgspec.Struct, forbid_unknown_fields=True):
    score: Annotated[int, msgspec.Meta(ge=1, le=5)]
    comment: Text500 = ""


class NotFixedIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Text500 = ""


# --- the public map and notices --------------------------------------------------------------------


class MapCaseOut(msgspec.Struct):
    """A case on the public map: what, where, how far along — never who reported it."""

    id: str
    number: str
    category_code: str
    category_name: str
    status: str  # open | closed
    status_text: str
    lat: float
    lng: float
    coord: str
    distance_m: float
    description: str
    reported_at: datetime
    photos: list[str]


class MapCaseList(msgspec.Struct):
    items: list[MapCaseOut]


class NoticeSummary(msgspec.Struct):
    id: str
    title: str
    summary: str
    category: str
    pinned: bool
    published_at: datetime


class NoticePage(msgspec.Struct):
    items: list[NoticeSummary]
    next_cursor: str | None


class NoticeDetail(msgspec.Struct):
    id: str
    title: str
    summary: str
    body: str
    category: str
    pinned: bool
    published_at: datetime


class SubscribeTemplateOut(msgspec.Struct):
    """A subscribe-message template to pass to ``wx.requestSubscribeMessage`` (订阅消息)."""

    event: str
    label: str
    template_id: str


class SubscriptionsIn(msgspec.Struct, forbid_unknown_fields=True):
    """What ``wx.requestSubscribeMessage`` answered: template id → accept | reject | ban | filter."""

    results: Annotated[
        dict[
            Annotated[str, msgspec.Meta(min_length=1, max_length=64)],
            Literal["accept", "reject", "ban", "filter"],
        ],
        msgspec.Meta(min_length=1, max_length=20),
    ]


class SubscriptionsOut(msgspec.Struct):
    remaining: dict[str, int]  # template id → messages now allowed (only the templates that changed)
