-- Demo CRM: English names, typed timestamps.
-- Tokens replaced per engine: $TS (timestamp type), $BOOL (boolean type).

CREATE TABLE customers (
  customer_id VARCHAR(20) PRIMARY KEY,
  full_name VARCHAR(64) NOT NULL,
  id_type VARCHAR(16) NOT NULL,      -- ID_CARD, PASSPORT, HKMO_PERMIT, BIZ_LICENSE
  id_number VARCHAR(32) NOT NULL,
  address VARCHAR(255) NOT NULL,
  city_code VARCHAR(8) NOT NULL,
  city_name VARCHAR(32) NOT NULL,
  segment VARCHAR(16) NOT NULL,      -- mass, youth, senior, business
  vip_level INTEGER NOT NULL,
  created_at $TS NOT NULL,
  contact_phone VARCHAR(20),
  email VARCHAR(128)
);

CREATE TABLE subscriptions (
  msisdn VARCHAR(11) PRIMARY KEY,
  customer_id VARCHAR(20) NOT NULL,
  activated_at $TS NOT NULL,
  line_status VARCHAR(16) NOT NULL
);
CREATE INDEX subscriptions_customer ON subscriptions (customer_id);

CREATE TABLE service_orders (
  order_id VARCHAR(24) PRIMARY KEY,
  msisdn VARCHAR(11) NOT NULL,
  order_type VARCHAR(16) NOT NULL,   -- PLAN_CHANGE, PORT_OUT, BB_INSTALL, BB_MOVE, VAS_CANCEL, RESTORE
  status VARCHAR(16) NOT NULL,       -- PENDING, DONE, REJECTED, CANCELLED
  created_at $TS NOT NULL,
  effective_at $TS,
  detail VARCHAR(255),
  reject_reason VARCHAR(255),
  channel VARCHAR(32) NOT NULL
);
CREATE INDEX service_orders_msisdn ON service_orders (msisdn, created_at);

CREATE TABLE marketing_prefs (
  msisdn VARCHAR(11) PRIMARY KEY,
  opted_out $BOOL NOT NULL,
  opted_out_at $TS,
  contacts_30d INTEGER NOT NULL,
  last_contact_at $TS
);
