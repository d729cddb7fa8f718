"""Object storage (photos, evidence, exports) behind one service over the ``minio`` client."""

from backend.storage.service import PresignedUpload, StorageService, UploadRejected

__all__ = ["PresignedUpload", "StorageService", "UploadRejected"]
