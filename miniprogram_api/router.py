"""The citizen mini-program surface, served under /api/mp/v1."""

from litestar import Router
from litestar.di import Provide

from app.idempotency import IdempotencyMiddleware
from miniprogram_api.controllers.auth import CitizenAuthController, MeController
from miniprogram_api.controllers.categories import CategoryController
from miniprogram_api.controllers.evaluation import PublicEvaluationController
from miniprogram_api.controllers.parking import (
    ParkingLotController,
    ParkingSessionController,
    PlateController,
    ReceiptController,
)
from miniprogram_api.controllers.public import MapController, NoticeController
from miniprogram_api.controllers.regions import RegionController
from miniprogram_api.controllers.reports import ReportController
from miniprogram_api.controllers.subscriptions import SubscriptionController
from miniprogram_api.controllers.toilets import ToiletController
from miniprogram_api.controllers.uploads import UploadController
from miniprogram_api.controllers.wechat import WeChatCallbackController
from miniprogram_api.guards import provide_citizen, provide_geocoder, provide_wechat

router = Router(
    path="/api/mp/v1",
    route_handlers=[
        RegionController,
        CitizenAuthController,
        MeController,
        CategoryController,
        UploadController,
        ReportController,
        MapController,
        NoticeController,
        PublicEvaluationController,
        WeChatCallbackController,
        SubscriptionController,
        ToiletController,
        ParkingLotController,
        PlateController,
        ParkingSessionController,
        ReceiptController,
    ],
    dependencies={
        "citizen": Provide(provide_citizen),
        "wechat": Provide(provide_wechat, sync_to_thread=False),
        "geocoder": Provide(provide_geocoder),
    },
    middleware=[IdempotencyMiddleware()],
    tags=["mini-program"],
)
