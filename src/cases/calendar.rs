//! Calendars that deadlines are counted in: `24x7` (every hour counts: network faults, limits in
//! natural days) and working calendars (working hours on working days; public holidays off and make-up
//! working days 调休 on, from one data file per year). All times are Beijing time (UTC+8).
//!
//! Files (`cases/calendars/*.toml`): a calendar is defined once (`name`, `hours`) and gets one file per
//! year (`calendar`, `year`, `source`, `holidays`, `workdays`). A date of a year without a file counts
//! by weekday only; `provisional = true` marks a year whose official notice was not yet in the file.
use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Weekday};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// The name of the built-in round-the-clock calendar.
pub const ALWAYS: &str = "24x7";

const US_PER_MIN: i64 = 60_000_000;
const US_PER_DAY: i64 = 86_400_000_000;
/// Longest span a deadline search walks (ten years of days): a target no calendar can fit is an error
/// in the policy, not a reason to loop.
const MAX_DAYS: i64 = 3_660;

/// A calendar deadlines are counted in.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    pub name: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Always,
    Working {
        /// Minutes after midnight.
        start_min: i64,
        end_min: i64,
        holidays: BTreeSet<NaiveDate>,
        workdays: BTreeSet<NaiveDate>,
        /// Years with a data file: (year, source, provisional).
        years: BTreeMap<i32, (String, bool)>,
    },
}

/// Beijing time.
pub fn beijing() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset")
}

/// Microseconds since the epoch of a Beijing local date and time.
pub fn local_us(d: NaiveDate, t: NaiveTime) -> i64 {
    beijing()
        .from_local_datetime(&d.and_time(t))
        .single()
        .expect("a fixed offset has no gaps")
        .timestamp_micros()
}

/// The Beijing date of an instant.
pub fn local_date(us: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap_or_default()
        .with_timezone(&beijing())
        .date_naive()
}

/// An instant as `2026-05-11 16:00` Beijing time.
pub fn show(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap_or_default()
        .with_timezone(&beijing())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

impl Calendar {
    /// The round-the-clock calendar.
    pub fn always() -> Calendar {
        Calendar {
            name: ALWAYS.into(),
            kind: Kind::Always,
        }
    }

    /// Whether `d` is a working day: a make-up working day, or a weekday that is not a holiday.
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        match &self.kind {
            Kind::Always => true,
            Kind::Working { holidays, workdays, .. } => {
                workdays.contains(&d) || (!holidays.contains(&d) && !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
            }
        }
    }

    /// Years with a data file, each with its source and whether it is provisional.
    pub fn years(&self) -> Vec<(i32, String, bool)> {
        match &self.kind {
            Kind::Always => Vec::new(),
            Kind::Working { years, .. } => years.iter().map(|(y, (s, p))| (*y, s.clone(), *p)).collect(),
        }
    }

    /// The working window of day `d` (start, end in µs), if it is a working day.
    fn window(&self, d: NaiveDate) -> Option<(i64, i64)> {
        match &self.kind {
            Kind::Always => {
                let s = local_us(d, NaiveTime::MIN);
                Some((s, s + US_PER_DAY))
            }
            Kind::Working { start_min, end_min, .. } => self.is_working_day(d).then(|| {
                let midnight = local_us(d, NaiveTime::MIN);
                (midnight + start_min * US_PER_MIN, midnight + end_min * US_PER_MIN)
            }),
        }
    }

    /// The instant at which `dur_us` of counted time has passed since `start_us`; `None` when it does not
    /// fit in ten years.
    pub fn add(&self, start_us: i64, dur_us: i64) -> Option<i64> {
        if dur_us <= 0 {
            return Some(start_us);
        }
        if let Kind::Always = self.kind {
            return start_us.checked_add(dur_us);
        }
        let mut left = dur_us;
        let mut day = local_date(start_us);
        for _ in 0..MAX_DAYS {
            if let Some((ws, we)) = self.window(day) {
                let from = ws.max(start_us);
                if from < we {
                    let avail = we - from;
                    if left <= avail {
                        return Some(from + left);
                    }
                    left -= avail;
                }
            }
            day = day.succ_opt()?;
        }
        None
    }

    /// Counted time between `a_us` and `b_us` (0 when `b_us <= a_us`).
    pub fn between(&self, a_us: i64, b_us: i64) -> i64 {
        if b_us <= a_us {
            return 0;
        }
        if let Kind::Always = self.kind {
            return b_us - a_us;
        }
        let mut total = 0;
        let mut day = local_date(a_us);
        let last = local_date(b_us);
        while day <= last {
            if let Some((ws, we)) = self.window(day) {
                let (s, e) = (ws.max(a_us), we.min(b_us));
                if e > s {
                    total += e - s;
                }
            }
            match day.succ_opt() {
                Some(d) => day = d,
                None => break,
            }
        }
        total
    }
}

/// A calendar definition file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefinitionFile {
    name: String,
    #[serde(default)]
    description: String,
    /// Working hours, `["09:00", "18:00"]`.
    hours: [String; 2],
}

/// One year of a calendar.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    calendar: String,
    year: i32,
    /// Where the dates come from (the State Council's notice for the year).
    source: String,
    #[serde(default)]
    provisional: bool,
    holidays: Vec<NaiveDate>,
    #[serde(default)]
    workdays: Vec<NaiveDate>,
}

/// Every calendar of a folder, by name (`24x7` always among them).
pub type Calendars = BTreeMap<String, Calendar>;

fn parse_hhmm(s: &str) -> Option<i64> {
    use chrono::Timelike;
    let t = NaiveTime::parse_from_str(s, "%H:%M").ok()?;
    Some(i64::from(t.num_seconds_from_midnight()) / 60)
}

/// Loads calendar files given as (file name, text); the errors name the file.
pub fn load(files: &[(String, String)]) -> Result<Calendars, Vec<String>> {
    let mut errors = Vec::new();
    let mut out = Calendars::new();
    out.insert(ALWAYS.into(), Calendar::always());
    let mut years: Vec<(String, YearFile)> = Vec::new();
    for (file, text) in files {
        let value: toml::Value = match toml::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                errors.push(format!("{file}: {e}"));
                continue;
            }
        };
        if value.get("name").is_some() {
            match value.try_into::<DefinitionFile>() {
                Ok(d) => {
                    let (Some(start_min), Some(end_min)) = (parse_hhmm(&d.hours[0]), parse_hhmm(&d.hours[1])) else {
                        errors.push(format!("{file}: `hours` must be two times like [\"09:00\", \"18:00\"]"));
                        continue;
                    };
                    if start_min >= end_min {
                        errors.push(format!("{file}: `hours` must start before they end"));
                        continue;
                    }
                    if d.name == ALWAYS || out.contains_key(&d.name) {
                        errors.push(format!("{file}: calendar `{}` is defined twice", d.name));
                        continue;
                    }
                    let _ = d.description;
                    out.insert(
                        d.name.clone(),
                        Calendar {
                            name: d.name,
                            kind: Kind::Working {
                                start_min,
                                end_min,
                                holidays: BTreeSet::new(),
                                workdays: BTreeSet::new(),
                                years: BTreeMap::new(),
                            },
                        },
                    );
                }
                Err(e) => errors.push(format!("{file}: {e}")),
            }
        } else {
            match value.try_into::<YearFile>() {
                Ok(y) => years.push((file.clone(), y)),
                Err(e) => errors.push(format!("{file}: {e}")),
            }
        }
    }
    for (file, y) in years {
        let Some(Calendar {
            kind:
                Kind::Working {
                    holidays,
                    workdays,
                    years,
                    ..
                },
            ..
        }) = out.get_mut(&y.calendar)
        else {
            errors.push(format!("{file}: no working calendar `{}` is defined", y.calendar));
            continue;
        };
        if years.contains_key(&y.year) {
            errors.push(format!("{file}: year {} of `{}` is given twice", y.year, y.calendar));
            continue;
        }
        if y.source.trim().is_empty() {
            errors.push(format!("{file}: `source` must name where the dates come from"));
        }
        for d in y.holidays.iter().chain(&y.workdays) {
            if d.year() != y.year {
                errors.push(format!("{file}: {d} is not in {}", y.year));
            }
        }
        for d in &y.workdays {
            if y.holidays.contains(d) {
                errors.push(format!("{file}: {d} is both a holiday and a working day"));
            }
            if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
                errors.push(format!(
                    "{file}: make-up working day {d} is a {} (make-up days are weekend days)",
                    d.weekday()
                ));
            }
        }
        holidays.extend(y.holidays);
        workdays.extend(y.workdays);
        years.insert(y.year, (y.source, y.provisional));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// `d` plus `n` days (for tests and examples).
pub fn days(d: NaiveDate, n: i64) -> NaiveDate {
    d + Duration::days(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal() -> Calendar {
        let files = vec![
            (
                "w.toml".to_string(),
                "name = \"w\"\nhours = [\"09:00\", \"18:00\"]\n".to_string(),
            ),
            (
                "w-2026.toml".to_string(),
                "calendar = \"w\"\nyear = 2026\nsource = \"test\"\nholidays = [2026-05-01, 2026-05-04, 2026-05-05]\nworkdays = [2026-05-09]\n"
                    .to_string(),
            ),
        ];
        load(&files).unwrap().remove("w").unwrap()
    }

    fn at(d: &str, t: &str) -> i64 {
        local_us(
            NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap(),
            NaiveTime::parse_from_str(t, "%H:%M").unwrap(),
        )
    }

    const H: i64 = 3_600_000_000;

    #[test]
    fn working_time_skips_nights_weekends_and_holidays_and_counts_make_up_days() {
        let c = cal();
        assert!(!c.is_working_day(NaiveDate::from_ymd_opt(2026, 5, 4).unwrap()));
        assert!(c.is_working_day(NaiveDate::from_ymd_opt(2026, 5, 9).unwrap()));
        // Thursday 16:00 + 2 h ends the day; + 3 h goes past the holidays to Wednesday 10:00.
        assert_eq!(c.add(at("2026-04-30", "16:00"), 2 * H), Some(at("2026-04-30", "18:00")));
        assert_eq!(c.add(at("2026-04-30", "16:00"), 3 * H), Some(at("2026-05-06", "10:00")));
        // Started at night: counts from 09:00.
        assert_eq!(c.add(at("2026-05-06", "22:00"), H), Some(at("2026-05-07", "10:00")));
        // The make-up Saturday counts; the Sunday after does not.
        assert_eq!(
            c.add(at("2026-05-08", "17:00"), 10 * H),
            Some(at("2026-05-09", "18:00"))
        );
        assert_eq!(
            c.add(at("2026-05-08", "17:00"), 11 * H),
            Some(at("2026-05-11", "10:00"))
        );
        assert_eq!(c.between(at("2026-04-30", "16:00"), at("2026-05-06", "10:00")), 3 * H);
        assert_eq!(c.between(at("2026-05-08", "17:00"), at("2026-05-11", "09:00")), 10 * H);
        assert_eq!(c.between(at("2026-05-08", "17:00"), at("2026-05-08", "16:00")), 0);
        let a = Calendar::always();
        assert_eq!(
            a.add(at("2026-04-30", "16:00"), 48 * H),
            Some(at("2026-05-02", "16:00"))
        );
        assert_eq!(a.between(at("2026-04-30", "16:00"), at("2026-05-02", "16:00")), 48 * H);
    }

    #[test]
    fn bad_files_are_named() {
        let e = load(&[(
            "y.toml".into(),
            "calendar = \"nope\"\nyear = 2026\nsource = \"x\"\nholidays = []\n".into(),
        )])
        .unwrap_err();
        assert_eq!(e, vec!["y.toml: no working calendar `nope` is defined"]);
        let e = load(&[
            ("w.toml".into(), "name = \"w\"\nhours = [\"09:00\", \"18:00\"]\n".into()),
            (
                "w-2026.toml".into(),
                "calendar = \"w\"\nyear = 2026\nsource = \"x\"\nholidays = [2027-01-01]\nworkdays = [2026-05-08]\n"
                    .into(),
            ),
        ])
        .unwrap_err();
        assert!(e.iter().any(|m| m.contains("2027-01-01 is not in 2026")), "{e:?}");
        assert!(e.iter().any(|m| m.contains("2026-05-08 is a Fri")), "{e:?}");
    }
}
