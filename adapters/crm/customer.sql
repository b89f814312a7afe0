SELECT c.customer_id, c.full_name, c.id_type, c.id_number, c.address, c.city_code, c.city_name,
       c.segment, c.vip_level, c.created_at, c.contact_phone, c.email
FROM subscriptions s
JOIN customers c ON c.customer_id = s.customer_id
WHERE s.msisdn = :msisdn
