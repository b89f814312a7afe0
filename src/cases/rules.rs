//! Routing rules and SLA policies as data (`cases/routing.toml`, `cases/sla.toml`, `cases/calendars/`):
//! CEL conditions over the complaint, its classification and the subscriber, compiled and checked at load
//! (errors name the file and the rule), swapped atomically on hot reload like scenarios (a folder that
//! fails to load keeps the previous set in force).
use super::calendar::{self, Calendar, Calendars};
use super::sla::Targets;
use crate::assets::Folder;
use cel::objects::{Key, Map};
use cel::{Context, Value};
use include_dir::{include_dir, Dir};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, SystemTime};

static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/cases");

/// The routing rules, SLA policies and calendars shipped in the binary.
pub fn embedded() -> Folder {
    Folder::Embedded {
        label: "the embedded case rules".into(),
        dir: &EMBEDDED,
    }
}

/// The rules folder `[cases]` names (or the embedded one).
pub fn rules_folder(cfg: &crate::config::cases::CasesConfig) -> Folder {
    match &cfg.rules_dir {
        Some(d) => Folder::Disk(d.clone()),
        None => embedded(),
    }
}

/// The variables a condition may read.
pub const VARIABLES: [&str; 3] = ["complaint", "classification", "subscriber"];

/// What routing and policy conditions see.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub channel: String,
    pub category: String,
    pub region: String,
    pub repeat: bool,
    pub repeat_count: i64,
    pub classified_category: String,
    pub confidence: f64,
    pub abstained: bool,
    /// `request` or `classifier`.
    pub category_source: String,
    pub vip_level: i64,
    pub segment: String,
}

fn s(v: &str) -> Value {
    Value::String(Arc::new(v.to_string()))
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    let m: HashMap<Key, Value> = entries
        .into_iter()
        .map(|(k, v)| (Key::String(Arc::new(k.to_string())), v))
        .collect();
    Value::Map(Map { map: Arc::new(m) })
}

impl Facts {
    fn context(&self) -> Context<'static, 'static> {
        let mut ctx = Context::with_env(crate::diagnosis::model::cel_env().clone());
        ctx.add_variable_from_value(
            "complaint",
            map(vec![
                ("channel", s(&self.channel)),
                ("category", s(&self.category)),
                ("region", s(&self.region)),
                ("regulator", Value::Bool(self.channel == "regulator")),
                ("repeat", Value::Bool(self.repeat)),
                ("repeat_count", Value::Int(self.repeat_count)),
            ]),
        );
        ctx.add_variable_from_value(
            "classification",
            map(vec![
                ("category", s(&self.classified_category)),
                ("confidence", Value::Float(self.confidence)),
                ("abstained", Value::Bool(self.abstained)),
                ("source", s(&self.category_source)),
            ]),
        );
        ctx.add_variable_from_value(
            "subscriber",
            map(vec![
                ("region", s(&self.region)),
                ("vip_level", Value::Int(self.vip_level)),
                ("segment", s(&self.segment)),
            ]),
        );
        ctx
    }

    /// Samples every condition is checked against at load: each must give a boolean on all of them.
    fn samples() -> Vec<Facts> {
        let mut out = Vec::new();
        for (channel, category, vip, repeat, abstained) in [
            ("hotline", "billing.overcharge", 0, false, false),
            ("regulator", "network.no_signal", 5, true, true),
            ("app", "network.broadband_fault", 3, false, true),
            ("social_media", "service.staff_conduct", 1, true, false),
        ] {
            out.push(Facts {
                channel: channel.into(),
                category: category.into(),
                region: "0571".into(),
                repeat,
                repeat_count: i64::from(repeat),
                classified_category: category.into(),
                confidence: if abstained { 0.3 } else { 0.9 },
                abstained,
                category_source: "classifier".into(),
                vip_level: vip,
                segment: "personal".into(),
            });
        }
        out
    }
}

/// A compiled condition.
#[derive(Debug)]
pub struct Condition {
    pub text: String,
    program: cel::Program,
}

impl Condition {
    fn compile(text: &str) -> Result<Condition, String> {
        let program = crate::diagnosis::model::cel_env()
            .compile(text)
            .map_err(|e| format!("`when` does not parse: {e}"))?;
        let refs = program.references();
        let mut unknown: Vec<&str> = refs
            .variables()
            .into_iter()
            .filter(|v| !VARIABLES.contains(v))
            .collect();
        unknown.sort();
        if !unknown.is_empty() {
            return Err(format!(
                "`when` reads {}; conditions see only {}",
                unknown.join(", "),
                VARIABLES.join(", ")
            ));
        }
        let c = Condition {
            text: text.to_string(),
            program,
        };
        for f in Facts::samples() {
            c.holds(&f).map_err(|e| format!("`when` = {text}: {e}"))?;
        }
        Ok(c)
    }

    /// Whether the condition holds for `f`.
    pub fn holds(&self, f: &Facts) -> Result<bool, String> {
        match self.program.execute(&f.context()) {
            Ok(Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!("gives {other:?}, not true or false")),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// A routing rule.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub when: Condition,
    pub group: String,
    pub priority: i64,
}

/// An SLA policy.
#[derive(Debug)]
pub struct Policy {
    pub id: String,
    pub when: Condition,
    pub calendar: String,
    pub targets: Targets,
    /// Where its limits come from.
    pub source: String,
}

/// Where a complaint goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The rule that chose it, or `default`.
    pub rule: String,
    pub group: String,
    pub priority: i64,
}

/// One loaded folder of rules, policies and calendars.
#[derive(Debug)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub default_route: Route,
    pub policies: Vec<Policy>,
    pub calendars: Calendars,
    pub warn_share: f64,
    pub visit_attempts: i64,
    pub generation: u64,
    /// Where it was loaded from.
    pub from: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutingFile {
    #[serde(default)]
    rule: Vec<RuleEntry>,
    default: DefaultEntry,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    id: String,
    when: String,
    group: String,
    priority: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultEntry {
    group: String,
    priority: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlaFile {
    warn_share: f64,
    visit_attempts: i64,
    policy: Vec<PolicyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyEntry {
    id: String,
    when: String,
    calendar: String,
    first_response_hours: f64,
    reply_hours: f64,
    resolution_hours: f64,
    source: String,
}

/// The texts of a rules folder.
struct RuleFiles {
    routing: String,
    sla: String,
    /// `calendars/*.toml` as (name, text).
    calendars: Vec<(String, String)>,
}

/// The files of a rules folder: `routing.toml`, `sla.toml` and `calendars/*.toml`.
fn files_of(folder: &Folder) -> Result<RuleFiles, String> {
    let read = |name: &str| folder.read(name).map_err(|e| format!("{}: {e}", folder.path_of(name)));
    let routing = read("routing.toml")?;
    let sla = read("sla.toml")?;
    let mut calendars = Vec::new();
    match folder {
        Folder::Disk(dir) => {
            let cdir = dir.join("calendars");
            let entries = std::fs::read_dir(&cdir).map_err(|e| format!("{}: {e}", cdir.display()))?;
            let mut paths: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            paths.sort();
            for p in paths {
                let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                calendars.push((
                    format!("calendars/{}", p.file_name().unwrap_or_default().to_string_lossy()),
                    text,
                ));
            }
        }
        Folder::Embedded { dir, .. } => {
            if let Some(cdir) = dir.get_dir("calendars") {
                for f in cdir.files() {
                    if f.path().extension().is_some_and(|x| x == "toml") {
                        calendars.push((
                            f.path().display().to_string(),
                            f.contents_utf8().unwrap_or_default().to_string(),
                        ));
                    }
                }
            }
            calendars.sort();
        }
    }
    Ok(RuleFiles {
        routing,
        sla,
        calendars,
    })
}

/// Loads and checks a rules folder; every problem is reported, each naming its file (and rule).
pub fn load(folder: &Folder) -> Result<RuleSet, Vec<String>> {
    let RuleFiles {
        routing,
        sla,
        calendars: calendar_files,
    } = files_of(folder).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let calendars = calendar::load(&calendar_files).unwrap_or_else(|e| {
        errors.extend(e);
        Calendars::new()
    });
    let mut rules = Vec::new();
    let mut default_route = Route {
        rule: "default".into(),
        group: String::new(),
        priority: 0,
    };
    match toml::from_str::<RoutingFile>(&routing) {
        Err(e) => errors.push(format!("routing.toml: {e}")),
        Ok(f) => {
            for r in f.rule {
                if rules.iter().any(|x: &Rule| x.id == r.id) {
                    errors.push(format!("routing.toml: rule `{}`: id used twice", r.id));
                }
                if r.group.trim().is_empty() || !(1..=9).contains(&r.priority) {
                    errors.push(format!(
                        "routing.toml: rule `{}`: needs a group and a priority from 1 (highest) to 9",
                        r.id
                    ));
                }
                match Condition::compile(&r.when) {
                    Ok(when) => rules.push(Rule {
                        id: r.id,
                        when,
                        group: r.group,
                        priority: r.priority,
                    }),
                    Err(e) => errors.push(format!("routing.toml: rule `{}`: {e}", r.id)),
                }
            }
            default_route.group = f.default.group;
            default_route.priority = f.default.priority;
        }
    }
    let mut policies = Vec::new();
    let (mut warn_share, mut visit_attempts) = (0.25, 3);
    match toml::from_str::<SlaFile>(&sla) {
        Err(e) => errors.push(format!("sla.toml: {e}")),
        Ok(f) => {
            if !(0.0..1.0).contains(&f.warn_share) {
                errors.push("sla.toml: `warn_share` must be at least 0 and below 1".into());
            }
            if f.visit_attempts < 1 {
                errors.push("sla.toml: `visit_attempts` must be at least 1".into());
            }
            (warn_share, visit_attempts) = (f.warn_share, f.visit_attempts);
            for p in f.policy {
                let at = format!("sla.toml: policy `{}`", p.id);
                if !calendars.is_empty() && !calendars.contains_key(&p.calendar) {
                    errors.push(format!(
                        "{at}: no calendar `{}`; calendars: {}",
                        p.calendar,
                        calendars.keys().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
                let hours = [p.first_response_hours, p.reply_hours, p.resolution_hours];
                if hours.iter().any(|h| !(*h > 0.0 && *h <= 24.0 * 366.0)) {
                    errors.push(format!("{at}: every target needs between 0 and 8784 hours"));
                }
                if p.source.trim().is_empty() {
                    errors.push(format!("{at}: `source` must say where the limits come from"));
                }
                match Condition::compile(&p.when) {
                    Ok(when) => policies.push(Policy {
                        id: p.id,
                        when,
                        calendar: p.calendar,
                        targets: Targets {
                            first_response_hours: hours[0],
                            reply_hours: hours[1],
                            resolution_hours: hours[2],
                        },
                        source: p.source,
                    }),
                    Err(e) => errors.push(format!("{at}: {e}")),
                }
            }
            if errors.is_empty()
                && Facts::samples()
                    .iter()
                    .any(|f| !policies.iter().any(|p| p.when.holds(f) == Ok(true)))
            {
                errors.push("sla.toml: some complaints match no policy; end with a policy whose `when` is true".into());
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(RuleSet {
        rules,
        default_route,
        policies,
        calendars,
        warn_share,
        visit_attempts,
        generation: 1,
        from: folder.describe(),
    })
}

impl RuleSet {
    /// The first rule that holds for `f`, else the default route. A rule that fails at run time is
    /// skipped (and logged).
    pub fn route(&self, f: &Facts) -> Route {
        for r in &self.rules {
            match r.when.holds(f) {
                Ok(true) => {
                    return Route {
                        rule: r.id.clone(),
                        group: r.group.clone(),
                        priority: r.priority,
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(rule = %r.id, error = %e, "routing rule failed; skipped"),
            }
        }
        self.default_route.clone()
    }

    /// The first policy that holds for `f` (the last one when none does).
    pub fn policy_for(&self, f: &Facts) -> &Policy {
        self.policies
            .iter()
            .find(|p| p.when.holds(f) == Ok(true))
            .or(self.policies.last())
            .expect("a loaded rule set has policies")
    }

    /// The policy `id`, else the last (catch-all) policy: a complaint keeps its deadlines when its policy
    /// is renamed.
    pub fn policy(&self, id: &str) -> &Policy {
        self.policies
            .iter()
            .find(|p| p.id == id)
            .or(self.policies.last())
            .expect("a loaded rule set has policies")
    }

    /// The calendar of `policy`.
    pub fn calendar_of(&self, policy: &Policy) -> Calendar {
        self.calendars
            .get(&policy.calendar)
            .cloned()
            .unwrap_or_else(Calendar::always)
    }
}

/// The rule set in force, reloaded from its folder when its files change.
pub struct Rules {
    set: RwLock<Arc<RuleSet>>,
    folder: Folder,
}

impl Rules {
    /// Loads `folder`; the error lists every problem.
    pub fn load(folder: Folder) -> Result<Rules, String> {
        let set = load(&folder).map_err(|e| format!("loading {}:\n  {}", folder.describe(), e.join("\n  ")))?;
        for c in set.calendars.values() {
            for (year, source, provisional) in c.years() {
                if provisional {
                    tracing::warn!(calendar = %c.name, year, source = %source, "provisional calendar year: replace it with the official notice");
                }
            }
        }
        Ok(Rules {
            set: RwLock::new(Arc::new(set)),
            folder,
        })
    }

    /// The set in force.
    pub fn current(&self) -> Arc<RuleSet> {
        self.set.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reloads; on failure the previous set stays and the problems are returned.
    pub fn reload(&self) -> Result<u64, Vec<String>> {
        let mut set = load(&self.folder)?;
        let mut guard = self.set.write().unwrap_or_else(|p| p.into_inner());
        set.generation = guard.generation + 1;
        let g = set.generation;
        *guard = Arc::new(set);
        Ok(g)
    }

    /// Polls a folder on disk every `interval` until the rules are dropped (an embedded set never changes).
    pub fn spawn_reload(self: &Arc<Rules>, interval: Duration) {
        let Folder::Disk(dir) = &self.folder else { return };
        let dir = dir.clone();
        let weak: Weak<Rules> = Arc::downgrade(self);
        let mut last = fingerprint(&dir);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(rules) = weak.upgrade() else { break };
                let now = fingerprint(&dir);
                if now == last {
                    continue;
                }
                last = now;
                match tokio::task::spawn_blocking(move || rules.reload()).await {
                    Ok(Ok(g)) => tracing::info!(dir = %dir.display(), generation = g, "case rules reloaded"),
                    Ok(Err(e)) => tracing::warn!(
                        dir = %dir.display(),
                        errors = %e.join("; "),
                        "case rules changed but do not load; the previous rules stay in force"
                    ),
                    Err(_) => break,
                }
            }
        });
    }
}

/// The folder's files with sizes and modification times.
pub fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut out = Vec::new();
    for d in [dir.to_path_buf(), dir.join("calendars")] {
        if let Ok(entries) = std::fs::read_dir(&d) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "toml") {
                    let m = e.metadata().ok();
                    out.push((
                        p,
                        m.as_ref().map(|m| m.len()).unwrap_or(0),
                        m.and_then(|m| m.modified().ok()),
                    ));
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_rules_load_and_route() {
        let set = load(&embedded()).unwrap();
        assert_eq!(
            set.calendars.keys().cloned().collect::<Vec<_>>(),
            vec!["24x7", "cn-working"]
        );
        let mut f = Facts::samples()[0].clone();
        assert_eq!(set.route(&f).group, "billing-desk");
        assert_eq!(set.policy_for(&f).id, "standard");
        f.channel = "regulator".into();
        assert_eq!(
            (set.route(&f).rule.as_str(), set.policy_for(&f).id.as_str()),
            ("regulator-referred", "regulator")
        );
        f.channel = "app".into();
        f.category = "network.no_signal".into();
        assert_eq!(
            (set.route(&f).group.as_str(), set.policy_for(&f).id.as_str()),
            ("network-ops", "network-fault")
        );
        f.category = "service.staff_conduct".into();
        assert_eq!(set.route(&f).rule, "default");
    }

    #[test]
    fn bad_rules_are_named_by_file_and_rule() {
        let dir = tempfile::tempdir().unwrap();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
        std::fs::create_dir_all(dir.path().join("calendars")).unwrap();
        for f in [
            "sla.toml",
            "calendars/cn-working.toml",
            "calendars/cn-working-2026.toml",
        ] {
            std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
        }
        std::fs::write(
            dir.path().join("routing.toml"),
            "[[rule]]\nid = \"a\"\nwhen = \"ticket.vip\"\ngroup = \"g\"\npriority = 1\n\
             [[rule]]\nid = \"b\"\nwhen = \"complaint.vip_level > 1\"\ngroup = \"g\"\npriority = 1\n\
             [[rule]]\nid = \"c\"\nwhen = \"complaint.category\"\ngroup = \"g\"\npriority = 1\n\
             [[rule]]\nid = \"d\"\nwhen = \"complaint.(\"\ngroup = \"g\"\npriority = 1\n\
             [default]\ngroup = \"general\"\npriority = 4\n",
        )
        .unwrap();
        let e = load(&Folder::Disk(dir.path().to_path_buf())).unwrap_err();
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(
            e[0].starts_with("routing.toml: rule `a`: `when` reads ticket;"),
            "{}",
            e[0]
        );
        assert!(
            e[1].starts_with("routing.toml: rule `b`:") && e[1].contains("vip_level"),
            "{}",
            e[1]
        );
        assert!(
            e[2].starts_with("routing.toml: rule `c`:") && e[2].contains("not true or false"),
            "{}",
            e[2]
        );
        assert!(
            e[3].starts_with("routing.toml: rule `d`: `when` does not parse"),
            "{}",
            e[3]
        );
        // The rules in force stay when the folder breaks.
        std::fs::copy(src.join("routing.toml"), dir.path().join("routing.toml")).unwrap();
        let rules = Rules::load(Folder::Disk(dir.path().to_path_buf())).unwrap();
        std::fs::write(dir.path().join("sla.toml"), "warn_share = 2\n").unwrap();
        assert!(rules.reload().unwrap_err()[0].starts_with("sla.toml:"));
        assert_eq!(rules.current().generation, 1);
        std::fs::copy(src.join("sla.toml"), dir.path().join("sla.toml")).unwrap();
        assert_eq!(rules.reload().unwrap(), 2);
    }
}
