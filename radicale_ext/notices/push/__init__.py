"""WebDAV-Push: Web Push message encryption and VAPID, the draft's XML, device subscriptions."""
