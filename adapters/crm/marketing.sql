SELECT m.opted_out, m.opted_out_at, m.contacts_30d, m.last_contact_at
FROM marketing_prefs m
WHERE m.msisdn = :msisdn
