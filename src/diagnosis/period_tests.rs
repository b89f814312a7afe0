use super::*;
use chrono::TimeZone;

/// 2026-11-28 10:00 Beijing time, a Saturday (the demo's `now`).
fn demo_now() -> DateTime<FixedOffset> {
    crate::diagnosis::value::beijing()
        .with_ymd_and_hms(2026, 11, 28, 10, 0, 0)
        .unwrap()
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// (kind, from, to, words) of what `text` names at `now`.
fn at(text: &str, now: DateTime<FixedOffset>) -> Option<(Kind, NaiveDate, NaiveDate, String)> {
    parse(text, now).map(|p| (p.kind, p.from, p.to, p.words))
}

fn month(text: &str) -> Option<String> {
    parse(text, demo_now())
        .filter(|p| p.kind == Kind::Month)
        .map(|p| p.cycle())
}

fn day(text: &str) -> Option<NaiveDate> {
    parse(text, demo_now()).filter(|p| p.kind == Kind::Day).map(|p| p.from)
}

#[test]
fn relative_months() {
    assert_eq!(
        at("上个月流量多扣了", demo_now()),
        Some((Kind::Month, ymd(2026, 10, 1), ymd(2026, 11, 1), "上个月".into()))
    );
    assert_eq!(month("上月话费比平时高").as_deref(), Some("202610"));
    assert_eq!(month("上上个月的账单").as_deref(), Some("202609"));
    assert_eq!(month("上上月扣的钱").as_deref(), Some("202609"));
    for t in ["本月话费", "这个月月租扣了两次", "当月流量", "这月的钱"] {
        assert_eq!(month(t).as_deref(), Some("202611"), "{t}");
    }
}

#[test]
fn named_months_are_never_in_the_future() {
    assert_eq!(month("11月的话费").as_deref(), Some("202611"));
    assert_eq!(month("10月份流量超了").as_deref(), Some("202610"));
    assert_eq!(month("十一月的账单").as_deref(), Some("202611"));
    assert_eq!(month("十月份扣了好多").as_deref(), Some("202610"));
    assert_eq!(month("2026年10月的账单").as_deref(), Some("202610"));
    assert_eq!(month("去年12月").as_deref(), Some("202512"));
    assert_eq!(month("今年3月份办的套餐").as_deref(), Some("202603"));
    // December said in November is last December.
    assert_eq!(month("12月的月租扣了两次").as_deref(), Some("202512"));
    assert_eq!(month("十二月份").as_deref(), Some("202512"));
    // An explicit future month is not a period.
    assert_eq!(parse("2027年1月的账单", demo_now()), None);
    let p = parse("9月份", demo_now()).unwrap();
    assert_eq!(
        (p.label(), p.cycles()),
        ("2026年9月".to_string(), vec!["202609".to_string()])
    );
}

#[test]
fn days() {
    assert_eq!(
        at("前天交的话费", demo_now()),
        Some((Kind::Day, ymd(2026, 11, 26), ymd(2026, 11, 27), "前天".into()))
    );
    assert_eq!(day("昨天支付宝充的一百块"), Some(ymd(2026, 11, 27)));
    assert_eq!(day("今天一整天没信号"), Some(ymd(2026, 11, 28)));
    assert_eq!(day("大前天充的"), Some(ymd(2026, 11, 25)));
    assert_eq!(day("3号交的钱"), Some(ymd(2026, 11, 3)));
    // A day of the month that has not come yet is last month's.
    assert_eq!(day("30号扣的费"), Some(ymd(2026, 10, 30)));
    assert_eq!(day("11月3号充的"), Some(ymd(2026, 11, 3)));
    assert_eq!(day("11月3日充的"), Some(ymd(2026, 11, 3)));
    assert_eq!(day("十一月三号"), Some(ymd(2026, 11, 3)));
    assert_eq!(day("11月30号那天"), Some(ymd(2025, 11, 30)));
    assert_eq!(day("上个月5号"), Some(ymd(2026, 10, 5)));
    assert_eq!(day("上周五我手机被停了"), Some(ymd(2026, 11, 20)));
    assert_eq!(day("这周一开始没信号"), Some(ymd(2026, 11, 23)));
    let p = parse("昨天", demo_now()).unwrap();
    assert_eq!(
        (p.cycle(), p.label()),
        ("202611".to_string(), "2026年11月27日".to_string())
    );
}

#[test]
fn ranges() {
    let r = |t: &str| at(t, demo_now());
    assert_eq!(
        r("上周交的话费找不着了"),
        Some((Kind::Range, ymd(2026, 11, 16), ymd(2026, 11, 23), "上周".into()))
    );
    assert_eq!(r("上礼拜改的套餐").map(|x| x.1), Some(ymd(2026, 11, 16)));
    assert_eq!(
        r("这周信号一直不好"),
        Some((Kind::Range, ymd(2026, 11, 23), ymd(2026, 11, 29), "这周".into()))
    );
    assert_eq!(
        r("最近三天都没信号"),
        Some((Kind::Range, ymd(2026, 11, 26), ymd(2026, 11, 29), "最近三天".into()))
    );
    assert_eq!(
        r("近3天").map(|x| (x.1, x.2)),
        Some((ymd(2026, 11, 26), ymd(2026, 11, 29)))
    );
    assert_eq!(r("这两天老断网").map(|x| x.1), Some(ymd(2026, 11, 27)));
    assert_eq!(r("最近一周").map(|x| x.1), Some(ymd(2026, 11, 22)));
    assert_eq!(
        r("上周末"),
        Some((Kind::Range, ymd(2026, 11, 21), ymd(2026, 11, 23), "上周末".into()))
    );
    let p = parse("上周", demo_now()).unwrap();
    assert_eq!(p.label(), "2026年11月16日至2026年11月22日");
}

#[test]
fn the_year_rolls_over() {
    // 2027-01-05, a Tuesday.
    let jan = crate::diagnosis::value::beijing()
        .with_ymd_and_hms(2027, 1, 5, 9, 0, 0)
        .unwrap();
    let m = |t: &str| parse(t, jan).map(|p| p.cycle());
    assert_eq!(m("上个月").as_deref(), Some("202612"));
    assert_eq!(m("上上个月").as_deref(), Some("202611"));
    assert_eq!(m("12月").as_deref(), Some("202612"));
    assert_eq!(m("1月").as_deref(), Some("202701"));
    assert_eq!(m("2月份").as_deref(), Some("202602"));
    assert_eq!(m("last month").as_deref(), Some("202612"));
    assert_eq!(parse("30号", jan).map(|p| p.from), Some(ymd(2026, 12, 30)));
    assert_eq!(parse("前天", jan).map(|p| p.from), Some(ymd(2027, 1, 3)));
    // Last week spans two cycles.
    let w = parse("上周", jan).unwrap();
    assert_eq!((w.from, w.to), (ymd(2026, 12, 28), ymd(2027, 1, 4)));
    assert_eq!(w.cycles(), ["202612", "202701"]);
}

#[test]
fn english() {
    assert_eq!(
        month("my bill last month was higher than usual").as_deref(),
        Some("202610")
    );
    assert_eq!(month("this month I was charged twice").as_deref(), Some("202611"));
    assert_eq!(month("data charges in November").as_deref(), Some("202611"));
    assert_eq!(month("the December bill").as_deref(), Some("202512"));
    assert_eq!(
        day("my top-up from yesterday still hasn't arrived"),
        Some(ymd(2026, 11, 27))
    );
    assert_eq!(day("paid the day before yesterday"), Some(ymd(2026, 11, 26)));
    assert_eq!(
        parse("no signal last week", demo_now()).map(|p| (p.kind, p.from)),
        Some((Kind::Range, ymd(2026, 11, 16)))
    );
    // "may" is a month only after "in".
    assert_eq!(parse("I may have been overcharged", demo_now()), None);
    assert_eq!(month("charged twice in may").as_deref(), Some("202605"));
}

#[test]
fn nothing_named_is_no_period() {
    for t in [
        "流量莫名多扣了好几十",
        "账单里套餐费重复收了，一个月收我两回",
        "5个G的流量",
        "合约还有3个月",
        "两百多块钱",
        "我的13800138000号码被停了",
        "每月都交一百块",
        "一日三餐都打不了电话",
        "去日本漫游",
        "三号线地铁里没信号",
        "前两天补交了话费",
        "最近几天信号很差",
        "zuotian chong de huafei hai mei dao",
        "",
    ] {
        assert_eq!(parse(t, demo_now()), None, "{t}");
    }
}

#[test]
fn two_periods_are_ambiguous_but_today_is_when_the_customer_complains() {
    assert_eq!(parse("上个月和这个月都多扣了", demo_now()), None);
    assert_eq!(parse("9月份和10月份的月租", demo_now()), None);
    assert_eq!(day("昨天冲了一百元话费到今天还没到"), Some(ymd(2026, 11, 27)));
    assert_eq!(day("昨天充的，今天还没到账"), Some(ymd(2026, 11, 27)));
    // The same period twice is one.
    assert_eq!(month("上个月，就是10月份，流量超了").as_deref(), Some("202610"));
}

#[test]
fn the_cel_value() {
    use cel::objects::KeyRef;
    let get = |v: &cel::Value, k: &str| match v {
        cel::Value::Map(m) => m.get(&KeyRef::String(k)).cloned().unwrap(),
        _ => panic!("not a map"),
    };
    let p = parse("上个月", demo_now()).unwrap();
    let v = to_cel(Some(&p), demo_now());
    assert_eq!(get(&v, "named"), cel::Value::Bool(true));
    assert_eq!(get(&v, "cycle"), cel::Value::String("202610".to_string().into()));
    assert_eq!(get(&v, "kind"), cel::Value::String("month".to_string().into()));
    assert_eq!(get(&v, "label"), cel::Value::String("2026年10月".to_string().into()));
    let from = crate::diagnosis::value::beijing()
        .with_ymd_and_hms(2026, 10, 1, 0, 0, 0)
        .unwrap();
    assert_eq!(get(&v, "from"), cel::Value::Timestamp(from));
    let none = to_cel(None, demo_now());
    assert_eq!(get(&none, "named"), cel::Value::Bool(false));
    assert_eq!(get(&none, "cycles"), cel::Value::List(Vec::new().into()));
    assert_eq!(get(&none, "from"), cel::Value::Timestamp(demo_now()));
}
