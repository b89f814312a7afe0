//! The period a complaint's text names: "上个月流量多扣了", "10月份的账单", "前天充的话费", "最近三天没信号",
//! "my bill last month". Scenarios answer about the period complained about, and the period is the last
//! billed cycle unless the text names another; this module finds the one it names, relative to the
//! diagnosis' `now` (Beijing time).
//!
//! No crate fitted: the natural-language date parsers on crates.io are English (and German) only, and the
//! Rust port of Duckling resolves a bare month forwards ("12月" said in November is next month) where a
//! complaint is about the past ("12月" said in November is last December), and brings a large rule engine
//! for a dozen expressions. So this is a small scanner over the expressions complaints use:
//!
//! - months: 上上个月/上上月, 上个月/上月, 本月/这个月/这月/当月, N月/N月份 (1–12 in digits or 一…十二), 2026年10月,
//!   今年/去年/前年N月; a month after the current one is last year's;
//! - days: 今天, 昨天, 前天, 大前天, N号/N日 (this month's, or last month's if that day has not come yet),
//!   a month followed by a day (11月3号, 上个月5号), 上周五, 这周一;
//! - ranges: 上周/上礼拜/上星期, 这周/本周, 上周末, 最近三天/近3天/这两天, 最近一周;
//! - English: yesterday, the day before yesterday, today, last/this month, last/this week, in November
//!   (full month names; "may" only as "in may").
//!
//! "到今天"/"至今" (until now) is not a period, and "today" beside an earlier period is when the customer
//! complains, not what about. Two different periods are ambiguous, and nothing named is no period: both
//! give `None`, and scenarios fall back to their usual choice.
use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Weekday};

/// What a period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A calendar month (a billing cycle).
    Month,
    /// One day.
    Day,
    /// Several days (a week, the last three days).
    Range,
}

impl Kind {
    /// `month`, `day`, `range`: what `complaint.period.kind` holds.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Month => "month",
            Kind::Day => "day",
            Kind::Range => "range",
        }
    }
}

/// A period named in a complaint: days `from` (inclusive) to `to` (exclusive), Beijing dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub kind: Kind,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The words of the text that name it (`上个月`).
    pub words: String,
}

impl Period {
    fn month(year: i32, month: u32, words: &str) -> Option<Period> {
        let from = NaiveDate::from_ymd_opt(year, month, 1)?;
        Some(Period {
            kind: Kind::Month,
            from,
            to: next_month(from),
            words: words.to_string(),
        })
    }

    fn day(d: NaiveDate, words: &str) -> Period {
        Period {
            kind: Kind::Day,
            from: d,
            to: d + Duration::days(1),
            words: words.to_string(),
        }
    }

    fn range(from: NaiveDate, to: NaiveDate, words: &str) -> Period {
        Period {
            kind: Kind::Range,
            from,
            to,
            words: words.to_string(),
        }
    }

    /// The billing cycles (`YYYYMM`) the period touches, oldest first.
    pub fn cycles(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut m = first_of_month(self.from);
        while m < self.to {
            out.push(format!("{:04}{:02}", m.year(), m.month()));
            m = next_month(m);
        }
        out
    }

    /// The cycle of the period's last day (`YYYYMM`): the month itself for a month.
    pub fn cycle(&self) -> String {
        let last = self.to - Duration::days(1);
        format!("{:04}{:02}", last.year(), last.month())
    }

    /// How a reply names it: `2026年10月`, `2026年11月27日`, `2026年11月23日至2026年11月29日`.
    pub fn label(&self) -> String {
        let day = |d: NaiveDate| format!("{}年{}月{}日", d.year(), d.month(), d.day());
        match self.kind {
            Kind::Month => format!("{}年{}月", self.from.year(), self.from.month()),
            Kind::Day => day(self.from),
            Kind::Range => format!("{}至{}", day(self.from), day(self.to - Duration::days(1))),
        }
    }

    /// One line for the routing explanation: `“上个月” → 2026年10月 (cycle 202610)`.
    pub fn describe(&self) -> String {
        format!(
            "“{}” → {} ({} {})",
            self.words,
            self.label(),
            if self.kind == Kind::Month { "cycle" } else { "cycles" },
            self.cycles().join(", ")
        )
    }
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

fn next_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(d)
}

/// The first day of the month `back` months before `today`'s.
fn months_back(today: NaiveDate, back: u32) -> NaiveDate {
    let total = today.year() * 12 + today.month0() as i32 - back as i32;
    NaiveDate::from_ymd_opt(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1).unwrap_or(today)
}

/// The period `text` names, relative to `now`; `None` when it names none or several different ones.
pub fn parse(text: &str, now: DateTime<FixedOffset>) -> Option<Period> {
    let today = now.with_timezone(&crate::diagnosis::value::beijing()).date_naive();
    let mut found: Vec<Period> = Vec::new();
    for p in scan_chinese(text, today).into_iter().chain(scan_english(text, today)) {
        if !found.iter().any(|f| f.from == p.from && f.to == p.to) {
            found.push(p);
        }
    }
    // "Today" beside an earlier period is when the customer complains.
    if found.len() > 1 {
        found.retain(|p| !(p.kind == Kind::Day && p.from == today));
    }
    match found.len() {
        1 => found.pop(),
        _ => None,
    }
}

/// A number at the start of `s`: 1–2 digits, or a Chinese numeral up to 31 (十一, 二十三, 三十一); with the
/// characters it took. A digit run longer than two (a phone number, an amount) is not one.
fn number_at(s: &[char]) -> Option<(u32, usize)> {
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 {
        if digits > 2 {
            return None;
        }
        let n: String = s[..digits].iter().collect();
        return n.parse().ok().map(|n| (n, digits));
    }
    let unit = |c: char| "一二三四五六七八九".find(c).map(|i| i as u32 / 3 + 1);
    match s {
        ['十', b, ..] if unit(*b).is_some() => Some((10 + unit(*b)?, 2)),
        ['十', ..] => Some((10, 1)),
        [a, '十', b, ..] if unit(*a).is_some() && unit(*b).is_some() && unit(*a)? <= 3 => {
            Some((unit(*a)? * 10 + unit(*b)?, 3))
        }
        [a, '十', ..] if unit(*a).is_some() && unit(*a)? <= 3 => Some((unit(*a)? * 10, 2)),
        [a, ..] => unit(*a).map(|n| (n, 1)),
        [] => None,
    }
}

fn is_numeral(c: char) -> bool {
    c.is_ascii_digit() || "零〇一二两三四五六七八九十百千万几".contains(c)
}

fn starts(s: &[char], word: &str) -> bool {
    let w: Vec<char> = word.chars().collect();
    s.len() >= w.len() && s[..w.len()] == w[..]
}

/// The first of `words` `s` starts with, longest listed first.
fn word_at(s: &[char], words: &[&'static str]) -> Option<&'static str> {
    words.iter().copied().find(|w| starts(s, w))
}

/// A day number and 号/日 at the start of `s`: (day, chars taken). 号码, 号线, 号楼 and 日本/日元 are not days,
/// nor is a Chinese numeral before 日 without a month (一日三餐).
fn day_at(s: &[char], after_month: bool) -> Option<(u32, usize)> {
    let (d, n) = number_at(s)?;
    let mark = *s.get(n)?;
    let next = s.get(n + 1).copied();
    let ok = match mark {
        '号' => !matches!(next, Some('码' | '线' | '楼')),
        '日' => (after_month || s[0].is_ascii_digit()) && !matches!(next, Some('本' | '元' | '期' | '均')),
        _ => false,
    };
    (ok && (1..=31).contains(&d)).then_some((d, n + 1))
}

/// A month number and 月 (or 月份) at the start of `s`: (month, chars taken).
fn month_at(s: &[char]) -> Option<(u32, usize)> {
    let (m, n) = number_at(s)?;
    if s.get(n) != Some(&'月') || !(1..=12).contains(&m) {
        return None;
    }
    Some((m, if s.get(n + 1) == Some(&'份') { n + 2 } else { n + 1 }))
}

/// A month of a year resolved against `today`: a month after the current one is last year's.
fn past_month(today: NaiveDate, month: u32) -> i32 {
    if month > today.month() {
        today.year() - 1
    } else {
        today.year()
    }
}

fn weekday(c: char) -> Option<Weekday> {
    Some(match c {
        '一' | '1' => Weekday::Mon,
        '二' | '2' => Weekday::Tue,
        '三' | '3' => Weekday::Wed,
        '四' | '4' => Weekday::Thu,
        '五' | '5' => Weekday::Fri,
        '六' | '6' => Weekday::Sat,
        '日' | '天' | '7' => Weekday::Sun,
        _ => return None,
    })
}

fn scan_chinese(text: &str, today: NaiveDate) -> Vec<Period> {
    let s: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        match chinese_at(&s, i, today) {
            Some((p, n)) => {
                if let Some(p) = p {
                    out.push(p);
                }
                i += n.max(1);
            }
            None => i += 1,
        }
    }
    out
}

/// The expression starting at `s[i]`: the period (`None` for one that is not valid, such as a future date)
/// and the characters it took.
fn chinese_at(s: &[char], i: usize, today: NaiveDate) -> Option<(Option<Period>, usize)> {
    let rest = &s[i..];
    let prev = i.checked_sub(1).map(|j| s[j]);
    let words = |n: usize| rest[..n].iter().collect::<String>();
    // A month, then maybe a day of it.
    let month_then_day = |first: Option<NaiveDate>, n: usize| -> (Option<Period>, usize) {
        let Some(first) = first else { return (None, n) };
        match day_at(&rest[n..], true) {
            Some((d, m)) => {
                let day = first.with_day(d).filter(|d| *d <= today);
                (day.map(|d| Period::day(d, &words(n + m))), n + m)
            }
            None => (
                Period::month(first.year(), first.month(), &words(n)).filter(|p| p.from <= today),
                n,
            ),
        }
    };

    // 2026年10月, 今年3月, 去年12月, 前年5月 (a year alone is not a period).
    let year = if let Some(w) = word_at(rest, &["今年", "去年", "前年"]) {
        let back = ["今年", "去年", "前年"].iter().position(|x| *x == w).unwrap_or(0) as i32;
        Some((today.year() - back, 2))
    } else {
        let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        let y: Option<i32> = (digits == 4 && rest.get(4) == Some(&'年') && !prev.is_some_and(|c| c.is_ascii_digit()))
            .then(|| rest[..4].iter().collect::<String>().parse().ok())
            .flatten();
        y.map(|y| (y, 5))
    };
    if let Some((y, n)) = year {
        if let Some((m, k)) = month_at(&rest[n..]) {
            let first = NaiveDate::from_ymd_opt(y, m, 1);
            return Some(month_then_day(first, n + k));
        }
        return Some((None, n));
    }

    // Relative months.
    const MONTHS: [(&str, u32); 10] = [
        ("上上个月", 2),
        ("上上月", 2),
        ("上个月", 1),
        ("上月", 1),
        ("这个月", 0),
        ("本月份", 0),
        ("本月", 0),
        ("这月", 0),
        ("当月", 0),
        ("这一个月", 0),
    ];
    for (w, back) in MONTHS {
        if starts(rest, w) {
            let n = w.chars().count();
            return Some(month_then_day(Some(months_back(today, back)), n));
        }
    }

    // N月 / N月份 (then maybe a day): not part of a longer number, not "3个月".
    if !prev.is_some_and(is_numeral) {
        if let Some((m, n)) = month_at(rest) {
            let first = NaiveDate::from_ymd_opt(past_month(today, m), m, 1);
            // 11月3号 said before the 3rd of November this year is last year's.
            if let Some((d, k)) = day_at(&rest[n..], true) {
                let this = first.and_then(|f| f.with_day(d));
                let date = match this {
                    Some(x) if x > today => NaiveDate::from_ymd_opt(x.year() - 1, m, d),
                    other => other,
                };
                return Some((date.map(|d| Period::day(d, &words(n + k))), n + k));
            }
            return Some(month_then_day(first, n));
        }
        // N号 / N日 alone: this month's, or last month's if the day has not come.
        if let Some((d, n)) = day_at(rest, false) {
            let this = today.with_day(d).filter(|x| *x <= today);
            let date = this.or_else(|| months_back(today, 1).with_day(d));
            return Some((date.map(|x| Period::day(x, &words(n))), n));
        }
    }

    // Days.
    const DAYS: [(&str, i64); 12] = [
        ("大前天", 3),
        ("前天", 2),
        ("前日", 2),
        ("昨天", 1),
        ("昨日", 1),
        ("昨儿", 1),
        ("昨晚", 1),
        ("今天", 0),
        ("今日", 0),
        ("今儿", 0),
        ("今早", 0),
        ("今晚", 0),
    ];
    for (w, back) in DAYS {
        if starts(rest, w) {
            let n = w.chars().count();
            // 到今天 / 直到今天 / 至今: until now, not a period.
            if back == 0 && matches!(prev, Some('到' | '至')) {
                return Some((None, n));
            }
            return Some((Some(Period::day(today - Duration::days(back), w)), n));
        }
    }

    // Weeks: 上周, 这周, with a weekday (上周五) or 末 (the weekend).
    const WEEKS: [(&str, i64); 13] = [
        ("上个星期", 1),
        ("上个礼拜", 1),
        ("上星期", 1),
        ("上礼拜", 1),
        ("上个周", 1),
        ("上周", 1),
        ("这个星期", 0),
        ("这个礼拜", 0),
        ("这星期", 0),
        ("这礼拜", 0),
        ("本星期", 0),
        ("这周", 0),
        ("本周", 0),
    ];
    for (w, back) in WEEKS {
        if starts(rest, w) {
            let n = w.chars().count();
            let monday = today - Duration::days(today.weekday().num_days_from_monday() as i64) - Duration::weeks(back);
            let next = rest.get(n).copied();
            if next == Some('末') {
                let sat = monday + Duration::days(5);
                let p = (sat <= today).then(|| Period::range(sat, sat + Duration::days(2), &words(n + 1)));
                return Some((p, n + 1));
            }
            if let Some(wd) = next.and_then(weekday) {
                let d = monday + Duration::days(wd.num_days_from_monday() as i64);
                return Some(((d <= today).then(|| Period::day(d, &words(n + 1))), n + 1));
            }
            let end = (monday + Duration::days(7)).min(today + Duration::days(1));
            return Some((Some(Period::range(monday, end, w)), n));
        }
    }

    // 最近三天 / 近3天 / 这两天 / 最近一周.
    if let Some(w) = word_at(rest, &["最近", "近", "这"]) {
        let n = w.chars().count();
        let after = &rest[n..];
        if let Some(k) = word_at(after, &["一周", "一个星期", "一个礼拜", "一星期"]) {
            let len = n + k.chars().count();
            return Some((
                Some(Period::range(
                    today - Duration::days(6),
                    today + Duration::days(1),
                    &words(len),
                )),
                len,
            ));
        }
        let (days, k) = match after.first() {
            Some('两') => (Some(2), 1),
            _ => number_at(after).map(|(d, k)| (Some(d), k)).unwrap_or((None, 0)),
        };
        if let Some(days) = days.filter(|d| (1..=31).contains(d)) {
            if matches!(after.get(k), Some('天' | '日')) {
                let len = n + k + 1;
                let from = today - Duration::days(i64::from(days) - 1);
                return Some((Some(Period::range(from, today + Duration::days(1), &words(len))), len));
            }
        }
    }
    None
}

const MONTH_NAMES: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn scan_english(text: &str, today: NaiveDate) -> Vec<Period> {
    let lower = text.to_lowercase();
    if !lower.is_ascii() && !lower.chars().any(|c| c.is_ascii_alphabetic()) {
        return Vec::new();
    }
    // Words only, so "today" is not found in "todays" and "may" not in "mayor".
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let next = words.get(i + 1).copied();
        let (p, n) = match (w, next) {
            ("day", Some("before")) if words.get(i + 2) == Some(&"yesterday") => (
                Some(Period::day(today - Duration::days(2), "the day before yesterday")),
                3,
            ),
            ("yesterday", _) => (Some(Period::day(today - Duration::days(1), "yesterday")), 1),
            ("today", _) => (Some(Period::day(today, "today")), 1),
            ("last" | "this", Some("month")) => {
                let back = u32::from(w == "last");
                let f = months_back(today, back);
                (Period::month(f.year(), f.month(), &format!("{w} month")), 2)
            }
            ("last" | "this", Some("week")) => {
                let back = i64::from(w == "last");
                let monday =
                    today - Duration::days(today.weekday().num_days_from_monday() as i64) - Duration::weeks(back);
                let end = (monday + Duration::days(7)).min(today + Duration::days(1));
                (Some(Period::range(monday, end, &format!("{w} week"))), 2)
            }
            (m, _) => match MONTH_NAMES.iter().position(|x| *x == m) {
                // "may" is a month only after "in".
                Some(k) if m != "may" || (i > 0 && words[i - 1] == "in") => {
                    let month = k as u32 + 1;
                    (Period::month(past_month(today, month), month, m), 1)
                }
                _ => (None, 1),
            },
        };
        if let Some(p) = p {
            out.push(p);
        }
        i += n;
    }
    out
}

/// The period as CEL sees it (`complaint.period`): `named`, `kind`, `cycle`, `cycles`, `from`, `to`,
/// `words`, `label`. With nothing named: `named` false, `kind`, `cycle`, `words` and `label` empty,
/// `cycles` empty, `from` and `to` both `now` (an empty range).
pub fn to_cel(period: Option<&Period>, now: DateTime<FixedOffset>) -> cel::Value {
    use cel::objects::{Key, Map};
    use std::collections::HashMap;
    use std::sync::Arc;
    let tz = crate::diagnosis::value::beijing();
    let at = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(tz).single())
            .unwrap_or(now)
    };
    let s = |x: String| cel::Value::String(Arc::new(x));
    let mut m: HashMap<Key, cel::Value> = HashMap::new();
    let mut put = |k: &str, v: cel::Value| {
        m.insert(Key::String(Arc::new(k.to_string())), v);
    };
    match period {
        Some(p) => {
            put("named", cel::Value::Bool(true));
            put("kind", s(p.kind.as_str().into()));
            put("cycle", s(p.cycle()));
            put(
                "cycles",
                cel::Value::List(Arc::new(p.cycles().into_iter().map(s).collect())),
            );
            put("from", cel::Value::Timestamp(at(p.from)));
            put("to", cel::Value::Timestamp(at(p.to)));
            put("words", s(p.words.clone()));
            put("label", s(p.label()));
        }
        None => {
            put("named", cel::Value::Bool(false));
            for k in ["kind", "cycle", "words", "label"] {
                put(k, s(String::new()));
            }
            put("cycles", cel::Value::List(Arc::new(Vec::new())));
            put("from", cel::Value::Timestamp(now));
            put("to", cel::Value::Timestamp(now));
        }
    }
    cel::Value::Map(Map { map: Arc::new(m) })
}

/// The `complaint` variable of expressions and templates: `{period: …}` (see [`to_cel`]).
pub fn complaint_value(period: Option<&Period>, now: DateTime<FixedOffset>) -> cel::Value {
    use cel::objects::{Key, Map};
    use std::collections::HashMap;
    use std::sync::Arc;
    let m: HashMap<Key, cel::Value> = HashMap::from([(Key::String(Arc::new("period".into())), to_cel(period, now))]);
    cel::Value::Map(Map { map: Arc::new(m) })
}

/// The fields of `complaint.period`, with what each holds (for the load-time check).
pub const FIELDS: [(&str, &str); 8] = [
    ("named", "bool"),
    ("kind", "string"),
    ("cycle", "string"),
    ("cycles", "list"),
    ("from", "timestamp"),
    ("to", "timestamp"),
    ("words", "string"),
    ("label", "string"),
];

#[cfg(test)]
#[path = "period_tests.rs"]
mod tests;
