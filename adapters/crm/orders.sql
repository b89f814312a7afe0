SELECT o.order_id, o.order_type, o.status, o.created_at, o.effective_at, o.detail, o.reject_reason, o.channel
FROM service_orders o
WHERE o.msisdn = :msisdn
ORDER BY o.created_at DESC
LIMIT 20
