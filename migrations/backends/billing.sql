-- Demo billing system (计费系统): a legacy BSS schema with pinyin-initial names.
-- Loaded by `complaint-gateway seed` / `demo` into SQLite, PostgreSQL or MariaDB.
-- Tokens replaced per engine: $TS (timestamp type), $BOOL (boolean type). Times here are VARCHAR(14)
-- 'YYYYMMDDHHMMSS' in Beijing time, as such systems keep them. Money is DECIMAL yuan.

-- 套餐定义 (plan catalogue)
CREATE TABLE tc_dy (
  tcbh VARCHAR(16) PRIMARY KEY,   -- 套餐编号 plan id
  tcmc VARCHAR(64) NOT NULL,      -- 套餐名称 plan name
  yzf DECIMAL(12,2) NOT NULL,     -- 月租费 monthly fee (yuan)
  bhll INTEGER NOT NULL,          -- 包含流量 included data (MB)
  bhyy INTEGER NOT NULL,          -- 包含语音 included voice (min)
  bhdx INTEGER NOT NULL,          -- 包含短信 included SMS
  sfwg CHAR(1) NOT NULL           -- 是否5G '1'/'0'
);

-- 账户信息 (accounts)
CREATE TABLE zh_xx (
  zhbh VARCHAR(20) PRIMARY KEY,   -- 账户编号 account id
  zhye DECIMAL(12,2) NOT NULL,    -- 账户余额 balance (yuan)
  xyed DECIMAL(12,2) NOT NULL,    -- 信用额度 credit limit (yuan)
  zhzt CHAR(1) NOT NULL,          -- 账户状态 '1' 正常 '2' 停机 '9' 销户
  tjyy VARCHAR(64),               -- 停机原因 suspension reason
  tjsj VARCHAR(14),               -- 停机时间 suspended at
  yhzh VARCHAR(32)                -- 银行账号 bank account for direct debit
);

-- 用户资料 (subscribers)
CREATE TABLE yh_zl (
  yhbh VARCHAR(20) PRIMARY KEY,   -- 用户编号 subscriber id
  sjhm VARCHAR(11) NOT NULL UNIQUE, -- 手机号码 msisdn
  zhbh VARCHAR(20) NOT NULL,      -- 账户编号
  tcbh VARCHAR(16) NOT NULL,      -- 当前套餐
  tcsxsj VARCHAR(14) NOT NULL,    -- 套餐生效时间
  yytcbh VARCHAR(16),             -- 预约套餐 pending plan
  yysxsj VARCHAR(14),             -- 预约生效时间
  hyjssj VARCHAR(14),             -- 合约结束时间 contract end
  fflx VARCHAR(2) NOT NULL        -- 付费类型 'YF' 预付费 / 'HF' 后付费
);

-- 账单总表 (bills)
CREATE TABLE zd_zb (
  zdbh VARCHAR(24) PRIMARY KEY,   -- 账单编号
  yhbh VARCHAR(20) NOT NULL,
  zdq VARCHAR(6) NOT NULL,        -- 账单期 YYYYMM
  zdze DECIMAL(12,2) NOT NULL,    -- 账单总额
  zdzt CHAR(1) NOT NULL,          -- 账单状态 '0' 未缴 '1' 已缴 '2' 欠费
  cdsj VARCHAR(14) NOT NULL       -- 出账时间
);
CREATE INDEX zd_zb_yhbh ON zd_zb (yhbh, zdq);

-- 账单明细 (bill items)
CREATE TABLE zd_mx (
  mxbh VARCHAR(28) PRIMARY KEY,
  zdbh VARCHAR(24) NOT NULL,
  fylx VARCHAR(2) NOT NULL,       -- 费用类型 01 月租 02 流量 03 语音 04 短信 05 增值 06 漫游 07 一次性 08 优惠
  fymc VARCHAR(64) NOT NULL,      -- 费用名称
  fyje DECIMAL(12,2) NOT NULL,    -- 费用金额
  ywdm VARCHAR(16)                -- 业务代码 service code
);
CREATE INDEX zd_mx_zdbh ON zd_mx (zdbh);

-- 使用汇总 (usage per cycle)
CREATE TABLE sy_hz (
  yhbh VARCHAR(20) NOT NULL,
  zq VARCHAR(6) NOT NULL,         -- 账期
  tnll INTEGER NOT NULL,          -- 套内流量 MB
  tcll INTEGER NOT NULL,          -- 套外流量 MB
  tcllf DECIMAL(12,2) NOT NULL,   -- 套外流量费
  yysc INTEGER NOT NULL,          -- 语音时长 min
  cyy INTEGER NOT NULL,           -- 超出语音 min
  dxts INTEGER NOT NULL,          -- 短信条数
  PRIMARY KEY (yhbh, zq)
);

-- 漫游使用 (roaming usage)
CREATE TABLE my_sy (
  yhbh VARCHAR(20) NOT NULL,
  zq VARCHAR(6) NOT NULL,
  gjdm VARCHAR(2) NOT NULL,       -- 国家代码
  myll INTEGER NOT NULL,          -- 漫游流量 MB
  myyy INTEGER NOT NULL,          -- 漫游语音 min
  myfy DECIMAL(12,2) NOT NULL,    -- 漫游费用
  ybsx CHAR(1) NOT NULL           -- 已用漫游包 '1'/'0'
);
CREATE INDEX my_sy_yhbh ON my_sy (yhbh, zq);

-- 增值业务订购 (value-added subscriptions)
CREATE TABLE zzyw_dg (
  dgbh VARCHAR(24) PRIMARY KEY,
  yhbh VARCHAR(20) NOT NULL,
  ywdm VARCHAR(16) NOT NULL,      -- 业务代码
  ywmc VARCHAR(64) NOT NULL,      -- 业务名称
  spdm VARCHAR(16) NOT NULL,      -- SP代码 provider
  yf DECIMAL(12,2) NOT NULL,      -- 月费
  dgsj VARCHAR(14) NOT NULL,      -- 订购时间
  dgqd VARCHAR(16) NOT NULL,      -- 订购渠道
  tyjl VARCHAR(32),               -- 同意记录 consent record (NULL: none)
  zt CHAR(1) NOT NULL,            -- 状态 '1' 有效 '0' 已退订
  tdsj VARCHAR(14)                -- 退订时间
);
CREATE INDEX zzyw_dg_yhbh ON zzyw_dg (yhbh);

-- 缴费记录 (payments and top-ups)
CREATE TABLE jf_jl (
  jflsh VARCHAR(24) PRIMARY KEY,  -- 缴费流水号
  yhbh VARCHAR(20) NOT NULL,
  jfje DECIMAL(12,2) NOT NULL,    -- 缴费金额
  jfqd VARCHAR(16) NOT NULL,      -- 缴费渠道
  jfsj VARCHAR(14) NOT NULL,      -- 缴费时间
  jfzt CHAR(1) NOT NULL,          -- 状态 '0' 已入账 '1' 处理中 '2' 失败 '3' 已退款
  qdlsh VARCHAR(32)               -- 渠道流水号
);
CREATE INDEX jf_jl_yhbh ON jf_jl (yhbh, jfsj);

-- 详单 (usage records / CDRs)
CREATE TABLE xd_jl (
  xdbh VARCHAR(28) PRIMARY KEY,
  yhbh VARCHAR(20) NOT NULL,
  lx CHAR(1) NOT NULL,            -- 类型 V 语音 D 数据 S 短信 Z 增值
  kssj VARCHAR(14) NOT NULL,      -- 开始时间
  sl INTEGER NOT NULL,            -- 数量 (秒 / KB / 条)
  fy DECIMAL(12,2) NOT NULL,      -- 费用
  dfhm VARCHAR(32),               -- 对方号码 / APN / 业务代码
  gjdm VARCHAR(2) NOT NULL,       -- 国家代码
  xqbh VARCHAR(16)                -- 小区编号
);
CREATE INDEX xd_jl_yhbh ON xd_jl (yhbh, kssj);
