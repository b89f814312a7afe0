//! The demo's reference data (cities, plans, names, services) and the column lists of each backend table.

/// Cities of the demo: (code, name, ID-card area prefix).
pub const CITIES: [(&str, &str, &str); 4] = [
    ("0571", "杭州", "330106"),
    ("0574", "宁波", "330203"),
    ("0577", "温州", "330302"),
    ("0579", "金华", "330702"),
];

/// Grids (address areas) per city.
pub const GRIDS_PER_CITY: u32 = 100;
/// Every grid with `g % OUTAGE_EVERY == 7` has a cell down.
pub const OUTAGE_EVERY: u32 = 25;

/// A plan of the catalogue: (id, name, monthly fee fen, data MB, voice min, sms, 5G).
pub type Plan = (&'static str, &'static str, i64, i64, i64, i64, bool);

/// The plan catalogue.
pub const PLANS: [Plan; 6] = [
    ("P4G38", "4G基础38元套餐", 3800, 3072, 100, 50, false),
    ("P4G58", "4G畅享58元套餐", 5800, 10240, 300, 100, false),
    ("P4G88", "4G畅享88元套餐", 8800, 20480, 500, 200, false),
    ("P5G128", "5G智享128元套餐", 12800, 40960, 800, 300, true),
    ("P5G199", "5G智享199元套餐", 19900, 81920, 1500, 500, true),
    ("PSR19", "老年关怀19元套餐", 1900, 1024, 200, 50, false),
];

pub(super) const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "高",
    "罗",
];
pub(super) const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "霞",
    "平", "刚", "桂英", "建华", "志强", "晓东",
];
pub(super) const STREETS: &[&str] = &[
    "文三路",
    "解放路",
    "中山路",
    "人民路",
    "江南大道",
    "学院路",
    "建设路",
    "环城北路",
    "天目山路",
    "钱江路",
];
pub(super) const TERMINALS_5G: &[&str] = &[
    "华为 Mate 60",
    "小米 14",
    "iPhone 15",
    "OPPO Find X7",
    "vivo X100",
    "荣耀 Magic6",
];
pub(super) const TERMINALS_4G: &[&str] = &["iPhone 11", "华为 畅享 20", "红米 Note 9", "OPPO A5", "vivo Y3"];
pub(super) const VAS: &[(&str, &str, &str, i64)] = &[
    ("VR1001", "视频彩铃会员", "SP1024", 1000),
    ("GM2002", "游戏加速包", "SP2231", 1500),
    ("NW3003", "新闻早晚报", "SP0877", 500),
    ("MU4004", "音乐随心听", "SP3090", 800),
];

pub(super) const YH_ZL: &[&str] = &[
    "yhbh", "sjhm", "zhbh", "tcbh", "tcsxsj", "yytcbh", "yysxsj", "hyjssj", "fflx",
];
pub(super) const ZH_XX: &[&str] = &["zhbh", "zhye", "xyed", "zhzt", "tjyy", "tjsj", "yhzh"];
pub(super) const ZD_ZB: &[&str] = &["zdbh", "yhbh", "zdq", "zdze", "zdzt", "cdsj"];
pub(super) const ZD_MX: &[&str] = &["mxbh", "zdbh", "fylx", "fymc", "fyje", "ywdm"];
pub(super) const SY_HZ: &[&str] = &["yhbh", "zq", "tnll", "tcll", "tcllf", "yysc", "cyy", "dxts"];
pub(super) const MY_SY: &[&str] = &["yhbh", "zq", "gjdm", "myll", "myyy", "myfy", "ybsx"];
pub(super) const ZZYW_DG: &[&str] = &[
    "dgbh", "yhbh", "ywdm", "ywmc", "spdm", "yf", "dgsj", "dgqd", "tyjl", "zt", "tdsj",
];
pub(super) const JF_JL: &[&str] = &["jflsh", "yhbh", "jfje", "jfqd", "jfsj", "jfzt", "qdlsh"];
pub(super) const XD_JL: &[&str] = &["xdbh", "yhbh", "lx", "kssj", "sl", "fy", "dfhm", "gjdm", "xqbh"];
pub(super) const TC_DY: &[&str] = &["tcbh", "tcmc", "yzf", "bhll", "bhyy", "bhdx", "sfwg"];
pub(super) const CUSTOMERS: &[&str] = &[
    "customer_id",
    "full_name",
    "id_type",
    "id_number",
    "address",
    "city_code",
    "city_name",
    "segment",
    "vip_level",
    "created_at",
    "contact_phone",
    "email",
];
pub(super) const SUBSCRIPTIONS: &[&str] = &["msisdn", "customer_id", "activated_at", "line_status"];
pub(super) const ORDERS: &[&str] = &[
    "order_id",
    "msisdn",
    "order_type",
    "status",
    "created_at",
    "effective_at",
    "detail",
    "reject_reason",
    "channel",
];
pub(super) const MARKETING: &[&str] = &["msisdn", "opted_out", "opted_out_at", "contacts_30d", "last_contact_at"];
pub(super) const R_SIM: &[&str] = &[
    "svc_num",
    "iccid_no",
    "sim_stat_cd",
    "term_model_nm",
    "term_5g_flg",
    "plan_5g_flg",
    "imei_no",
    "grid_cd",
];
pub(super) const R_CELL: &[&str] = &["cell_no", "cell_nm", "rat_typ", "oper_stat_cd", "grid_cd"];
pub(super) const R_GRID_CELL: &[&str] = &["grid_cd", "cell_no", "dist_m"];
pub(super) const R_FAULT: &[&str] = &[
    "fault_no",
    "ne_no",
    "fault_desc",
    "occur_tm",
    "clear_tm",
    "plan_clear_tm",
];
pub(super) const R_BB_PORT: &[&str] = &[
    "svc_num",
    "bb_acct",
    "port_no",
    "olt_nm",
    "bw_mbps",
    "port_stat_cd",
    "last_alm_desc",
    "last_alm_tm",
    "inst_addr",
];
