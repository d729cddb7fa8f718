"""随手拍 end to end: photos uploaded straight to the S3 server, confirmed with their EXIF location, the
report with an Idempotency-Key, the public copies stripped and checked; refusals that write nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from backend.geo import haversine_m, wgs84_to_gcj02
from backend.media.rules import read_exif, sniff
from backend.models import Case, CaseEvent, CaseReporter, MediaUpload, OutboxMessage
from tests.integration.miniprogram.mp_support import (
    MP,
    count,
    grid_point,
    process_photos,
    report_body,
    sign_in,
    upload_photo,
)
from tests.photos import SERIAL, jpeg, png, webp


async def test_report_with_photos_end_to_end(client: httpx.AsyncClient, db: Any, runtime: Any) -> None:
    alice = await sign_in(client)
    lat, lng = await grid_point(db)
    photo_lat, photo_lng = lat + 0.0003, lng + 0.0002  # where the phone's GPS put the first photo
    first = await upload_photo(client, alice, jpeg(photo_lat, photo_lng, orientation=6))
    second = await upload_photo(client, alice, png(), "image/png", method="post")  # wx.uploadFile's form
    assert first.startswith("private/citizen/")

    confirmed = await client.post(f"{MP}/uploads/confirm", json={"key": first}, headers=alice)
    assert confirmed.status_code == 200, confirmed.text
    suggestion = confirmed.json()["location"]
    expected = wgs84_to_gcj02(photo_lat, photo_lng)
    assert suggestion["coord"] == "gcj02"
    assert abs(suggestion["lat"] - expected.lat) < 1e-5 and abs(suggestion["lng"] - expected.lng) < 1e-5
    no_exif = await client.post(f"{MP}/uploads/confirm", json={"key": second}, headers=alice)
    assert no_exif.json()["location"] is None and no_exif.json()["content_type"] == "image/png"

    body = await report_body(db, photos=[first, second], answers={})
    created = await client.post(f"{MP}/reports", json=body, headers={**alice, "Idempotency-Key": str(uuid.uuid4())})
    assert created.status_code == 201, created.text
    report = created.json()
    assert report["state"] == "reported" and report["status_text"] == "待受理" and len(report["number"]) == 12
    assert report["created_at"].endswith("+08:00")

    case = await db.get(Case, uuid.UUID(report["id"]))
    assert case.source == "citizen" and case.photos == [first, second] and case.grid_code == "420117001001001"
    assert haversine_m(case.lat, case.lng, lat, lng) < 0.5, "GCJ-02 in, WGS-84 stored"
    assert case.reporter_phone == "13800000001", "alice's bound phone goes with her report"
    uploads = (await db.scalars(select(MediaUpload).where(MediaUpload.case_id == case.id))).all()
    assert {u.state for u in uploads} == {"attached"} and {u.check_status for u in uploads} == {"pending"}
    jobs = (await db.scalars(select(OutboxMessage).where(OutboxMessage.topic == "media.process"))).all()
    assert {j.payload["upload_id"] for j in jobs} >= {str(u.id) for u in uploads}

    # Until the job ran, the public sees no photo; alice sees her own.
    detail = (await client.get(f"{MP}/reports/{report['id']}", headers=alice)).json()
    assert [p["status"] for p in detail["photos"]] == ["pending", "pending"]
    assert all(p["url"] for p in detail["photos"])

    processed = await process_photos(db, runtime, report["id"])
    assert {u.check_status for u in processed} == {"passed"}, "the dev provider passes images at once"
    by_key = {u.key: u for u in processed}
    public = await runtime.storage.get_bytes(by_key[first].public_key)
    assert sniff(public) == "image/jpeg" and SERIAL not in public and b"Alice" not in public
    assert read_exif(public).lat is None and read_exif(public).orientation == 6, "GPS gone, orientation kept"
    original = await runtime.storage.get_bytes(first)
    assert read_exif(original).has_location, "the original stays as uploaded, in private"
    assert str(by_key[first].public_key).startswith("public/") and not first.startswith("public/")

    bob = await sign_in(client, "dev-bob")
    lat_g, lng_g = wgs84_to_gcj02(lat, lng)
    seen = (await client.get(f"{MP}/map/cases", params={"lat": lat_g, "lng": lng_g, "radius_m": 200})).json()
    mine = next(item for item in seen["items"] if item["id"] == report["id"])
    assert len(mine["photos"]) == 2
    async with httpx.AsyncClient() as http:
        shown = await http.get(mine["photos"][0])
    assert shown.status_code == 200 and SERIAL not in shown.content
    assert (await client.get(f"{MP}/reports/{report['id']}", headers=bob)).status_code == 404


async def test_photos_checked_asynchronously_by_wechat(
    client: httpx.AsyncClient, db: Any, runtime: Any, mp_peer: Any, peer_provider: Any, callback_token: str
) -> None:
    citizen = await sign_in(client, mp_peer.issue_login_code("o-photo-user"))
    good = await upload_photo(client, citizen, webp(30.85, 114.8), "image/webp")
    bad = await upload_photo(client, citizen, jpeg(pixels=b"RISKY-IMAGE"))
    created = await client.post(f"{MP}/reports", json=await report_body(db, photos=[good, bad]), headers=citizen)
    assert created.status_code == 201, created.text
    report_id = created.json()["id"]

    uploads = await process_photos(db, runtime, report_id, peer_provider)
    assert {u.check_status for u in uploads} == {"checking"}
    webp_upload = next(u for u in uploads if u.key == good)
    assert webp_upload.exif_lat == pytest.approx(30.85), "WebP keeps EXIF at its end: read by the job"
    submitted = [body for name, body in mp_peer.calls if name == "media_check_async"]
    assert {b["openid"] for b in submitted} == {"o-photo-user"} and {b["scene"] for b in submitted} == {3}
    assert all("public/" in b["media_url"] for b in submitted), "WeChat checks the public copy"

    lat, lng = await grid_point(db)
    gcj = wgs84_to_gcj02(lat, lng)
    params = {"lat": gcj.lat, "lng": gcj.lng, "radius_m": 100}

    async def public_photos() -> list[str]:
        items = (await client.get(f"{MP}/map/cases", params=params)).json()["items"]
        return next(i for i in items if i["id"] == report_id)["photos"]

    assert await public_photos() == [], "hidden until the check passed"

    import asyncio

    pushes = await asyncio.to_thread(mp_peer.run_media_checks, callback_token)
    assert len(pushes) == 2
    forged = await client.post(
        f"{MP}/wechat/callback", params={**pushes[0][0], "signature": "0" * 40}, content=pushes[0][1]
    )
    assert forged.status_code == 403
    for query, body in pushes:
        answered = await client.post(f"{MP}/wechat/callback", params=query, content=body)
        assert answered.status_code == 200 and answered.text == "success"

    statuses = {
        u.key: u.check_status
        for u in (
            await db.scalars(
                select(MediaUpload)
                .where(MediaUpload.case_id == uuid.UUID(report_id))
                .execution_options(populate_existing=True)
            )
        ).all()
    }
    assert statuses == {good: "passed", bad: "rejected"}
    assert len(await public_photos()) == 1
    mine = (await client.get(f"{MP}/reports/{report_id}", headers=citizen)).json()
    assert {p["key"]: p["status"] for p in mine["photos"]} == {good: "passed", bad: "rejected"}


async def test_callback_url_verification(client: httpx.AsyncClient, callback_token: str) -> None:
    import hashlib

    timestamp, nonce = "1700000000", "abc"
    signature = hashlib.sha1("".join(sorted([callback_token, timestamp, nonce])).encode()).hexdigest()
    params = {"signature": signature, "timestamp": timestamp, "nonce": nonce, "echostr": "echo-me"}
    ok = await client.get(f"{MP}/wechat/callback", params=params)
    assert ok.status_code == 200 and ok.text == "echo-me"
    assert (await client.get(f"{MP}/wechat/callback", params={**params, "nonce": "x"})).status_code == 403


@pytest.mark.parametrize(
    ("problem", "status", "code"),
    [
        ("missing", 404, "upload_missing"),
        ("oversized", 400, "upload_rejected"),
        ("wrong_type", 400, "upload_rejected"),
        ("not_the_type_declared", 400, "upload_rejected"),
        ("someone_elses", 404, "upload_not_found"),
        ("unknown_key", 404, "upload_not_found"),
    ],
)
async def test_a_bad_photo_refuses_the_report_and_writes_nothing(
    client: httpx.AsyncClient, db: Any, runtime: Any, problem: str, status: int, code: str
) -> None:
    alice = await sign_in(client)
    good = await upload_photo(client, alice, jpeg())
    if problem == "missing":
        issued = await client.post(f"{MP}/uploads", json={"content_type": "image/jpeg"}, headers=alice)
        bad = issued.json()["key"]  # never uploaded
    elif problem == "oversized":
        bad = await upload_photo(client, alice, jpeg(padding=runtime.settings.citizens.photo_max_bytes))
    elif problem == "wrong_type":
        bad = await upload_photo(client, alice, jpeg(), sent_type="text/html")
    elif problem == "not_the_type_declared":
        bad = await upload_photo(client, alice, png())  # PNG bytes under a JPEG key and type
    elif problem == "someone_elses":
        bad = await upload_photo(client, await sign_in(client, "dev-bob"), jpeg())
    else:
        bad = "private/citizen/nobody/made-up.jpg"
    cases_before, events_before = await count(db, Case), await count(db, CaseEvent)

    refused = await client.post(f"{MP}/reports", json=await report_body(db, photos=[good, bad]), headers=alice)
    assert refused.status_code == status, refused.text
    assert refused.json()["error"]["code"] == code
    assert (await count(db, Case), await count(db, CaseEvent)) == (cases_before, events_before)
    uploads = (await db.scalars(select(MediaUpload).where(MediaUpload.key == good))).all()
    assert all(u.case_id is None and u.state != "attached" for u in uploads)
    if problem in {"oversized", "wrong_type", "not_the_type_declared"}:
        with pytest.raises(Exception, match=r"NoSuchKey|upload_missing|no uploaded object"):
            await runtime.storage.get_bytes(bad)  # deleted, not half-kept


async def test_upload_requests_are_limited_to_images(client: httpx.AsyncClient) -> None:
    alice = await sign_in(client)
    refused = await client.post(f"{MP}/uploads", json={"content_type": "application/pdf"}, headers=alice)
    assert refused.status_code == 400
    assert (await client.post(f"{MP}/uploads", json={"content_type": "image/jpeg"})).status_code == 401
    ten = {"category_code": "E0101", "lat": 30.8, "lng": 114.8, "photos": [f"k{i}" for i in range(10)]}
    too_many = await client.post(f"{MP}/reports", json=ten, headers=alice)
    assert too_many.status_code == 400


async def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(
    client: httpx.AsyncClient, db: Any
) -> None:
    alice = await sign_in(client)
    key = {"Idempotency-Key": f"report-{uuid.uuid4()}"}
    body = await report_body(db)
    first = await client.post(f"{MP}/reports", json=body, headers={**alice, **key})
    assert first.status_code == 201, first.text
    counts = (await count(db, Case), await count(db, CaseEvent), await count(db, OutboxMessage))

    again = await client.post(f"{MP}/reports", json=body, headers={**alice, **key})
    assert again.status_code == 201 and again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert (await count(db, Case), await count(db, CaseEvent), await count(db, OutboxMessage)) == counts

    other = await client.post(f"{MP}/reports", json={**body, "description": "另一件事"}, headers={**alice, **key})
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    elsewhere = await client.post(f"{MP}/uploads", json={"content_type": "image/jpeg"}, headers={**alice, **key})
    assert elsewhere.status_code == 422, "a key belongs to one request, not one path"
    assert (await count(db, Case)) == counts[0]

    # The key is the caller's: bob's request with alice's key is his own first request.
    bob = await sign_in(client, "dev-bob")
    assert (await client.post(f"{MP}/reports", json=body, headers={**bob, **key})).status_code == 201

    # A refused first attempt stores nothing: the same key may carry the corrected request.
    retry_key = {"Idempotency-Key": "retry-after-fixing"}
    wrong = await client.post(f"{MP}/reports", json={**body, "category_code": "E9999"}, headers={**alice, **retry_key})
    assert wrong.status_code == 400
    fixed = await client.post(f"{MP}/reports", json=body, headers={**alice, **retry_key})
    assert fixed.status_code == 201
    bad_key = await client.post(f"{MP}/reports", json=body, headers={**alice, "Idempotency-Key": "has space"})
    assert bad_key.status_code == 400


async def test_risky_text_is_refused_and_nothing_written(client: httpx.AsyncClient, db: Any) -> None:
    alice = await sign_in(client)
    before = await count(db, Case)
    refused = await client.post(
        f"{MP}/reports", json=await report_body(db, description="这里有人在搞赌博"), headers=alice
    )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "risky_content" and "revise" in error["message"]
    assert await count(db, Case) == before


async def test_risky_text_refused_by_wechat_msg_sec_check(
    client: httpx.AsyncClient, db: Any, mp_peer: Any, peer_provider: Any
) -> None:
    citizen = await sign_in(client, mp_peer.issue_login_code("o-text-user"))
    before = await count(db, Case)
    body = await report_body(db, address="代开发票 联系我")
    refused = await client.post(f"{MP}/reports", json=body, headers=citizen)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "risky_content"
    check = next(b for name, b in reversed(mp_peer.calls) if name == "msg_sec_check")
    assert check["scene"] == 3 and check["openid"] == "o-text-user" and "代开发票" in check["content"]
    assert await count(db, Case) == before
    ok = await client.post(f"{MP}/reports", json=await report_body(db), headers=citizen)
    assert ok.status_code == 201


async def test_similar_nearby_and_me_too(client: httpx.AsyncClient, db: Any) -> None:
    alice = await sign_in(client)
    body = await report_body(db)
    created = (await client.post(f"{MP}/reports", json=body, headers=alice)).json()

    bob = await sign_in(client, "dev-bob")
    params = {"category_code": "E0101", "lat": body["lat"], "lng": body["lng"]}
    similar = await client.get(f"{MP}/reports/similar", params=params, headers=bob)
    assert similar.status_code == 200, similar.text
    found = next(item for item in similar.json()["items"] if item["id"] == created["id"])
    assert found["distance_m"] < 1 and found["coord"] == "gcj02"
    assert abs(found["lat"] - body["lat"]) < 1e-6, "GCJ-02 in, GCJ-02 out"
    assert "reporter" not in similar.text and "13800000001" not in similar.text

    joined = await client.post(f"{MP}/reports/{created['id']}/follow", headers=bob)
    assert joined.status_code == 200 and joined.json() == {
        "id": created["id"],
        "number": created["number"],
        "added": True,
    }
    repeat = await client.post(f"{MP}/reports/{created['id']}/follow", headers=bob)
    assert repeat.json()["added"] is False
    reporters = (await db.scalars(select(CaseReporter).where(CaseReporter.case_id == uuid.UUID(created["id"])))).all()
    assert len(reporters) == 2

    mine = (await client.get(f"{MP}/reports", headers=bob)).json()["items"]
    assert [(i["id"], i["following"]) for i in mine] == [(created["id"], True)]
    assert (await client.get(f"{MP}/reports/{created['id']}", headers=bob)).json()["following"] is True
    assert (await client.get(f"{MP}/reports/{created['id']}", headers=alice)).json()["following"] is False
