-- Demo network-resource inventory: its own abbreviated style (_no, _nm, _cd, _tm, _flg).
-- Tokens replaced per engine: $TS (timestamp type), $BOOL (boolean type).

CREATE TABLE r_sim (
  svc_num VARCHAR(11) PRIMARY KEY,   -- service number (msisdn)
  iccid_no VARCHAR(20) NOT NULL,
  sim_stat_cd VARCHAR(2) NOT NULL,   -- A active, S suspended, I inactive, R replaced
  term_model_nm VARCHAR(64),
  term_5g_flg CHAR(1) NOT NULL,      -- Y/N
  plan_5g_flg CHAR(1) NOT NULL,      -- Y/N
  imei_no VARCHAR(16),
  grid_cd VARCHAR(12) NOT NULL       -- address grid of the customer's registered address
);

CREATE TABLE r_cell (
  cell_no VARCHAR(16) PRIMARY KEY,
  cell_nm VARCHAR(64) NOT NULL,
  rat_typ VARCHAR(4) NOT NULL,       -- 4G / 5G
  oper_stat_cd VARCHAR(2) NOT NULL,  -- 01 in service, 02 degraded, 03 down, 04 maintenance
  grid_cd VARCHAR(12) NOT NULL
);
CREATE INDEX r_cell_grid ON r_cell (grid_cd);

CREATE TABLE r_grid_cell (
  grid_cd VARCHAR(12) NOT NULL,
  cell_no VARCHAR(16) NOT NULL,
  dist_m INTEGER NOT NULL,
  PRIMARY KEY (grid_cd, cell_no)
);

CREATE TABLE r_fault (
  fault_no VARCHAR(20) PRIMARY KEY,
  ne_no VARCHAR(20) NOT NULL,        -- network element: a cell_no or port_no
  fault_desc VARCHAR(255) NOT NULL,
  occur_tm $TS NOT NULL,
  clear_tm $TS,
  plan_clear_tm $TS
);
CREATE INDEX r_fault_ne ON r_fault (ne_no);

CREATE TABLE r_bb_port (
  svc_num VARCHAR(11) PRIMARY KEY,
  bb_acct VARCHAR(20) NOT NULL,
  port_no VARCHAR(20) NOT NULL,
  olt_nm VARCHAR(64) NOT NULL,
  bw_mbps INTEGER NOT NULL,
  port_stat_cd VARCHAR(2) NOT NULL,  -- U up, D down, G degraded
  last_alm_desc VARCHAR(128),
  last_alm_tm $TS,
  inst_addr VARCHAR(255) NOT NULL
);
