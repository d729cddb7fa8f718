"""Photos and other media uploaded by clients straight to object storage (照片上传、脱敏、内容安全)."""
