//! Sources that disagree. When two sources give one subscriber different values for the same field (two
//! names, two ID numbers, two lists of bills), the view must not mix them silently: the configuration names
//! the source that owns a part or a field (`[owners]`), the owner's value is the one the view holds, and
//! every disagreement is reported in the response and counted in `cgw_view_conflicts_total`.
use crate::proto::complaint::v1::SubscriberView;
use prost::Message;
use prost_reflect::{DynamicMessage, Kind, Value};
use std::collections::BTreeMap;

/// Which sources own which parts of the view: view paths (`customer`, `customer.name`, `recent_bills`)
/// to sources in order of precedence. The longest configured path that covers a field decides.
#[derive(Debug, Clone, Default)]
pub struct Ownership {
    rules: BTreeMap<String, Vec<String>>,
}

impl Ownership {
    pub fn new(rules: BTreeMap<String, Vec<String>>) -> Ownership {
        Ownership { rules }
    }

    /// The sources named anywhere, for checking them against the configured ones.
    pub fn sources(&self) -> impl Iterator<Item = (&str, &str)> {
        self.rules
            .iter()
            .flat_map(|(p, ss)| ss.iter().map(move |s| (p.as_str(), s.as_str())))
    }

    /// The precedence for `path` (`customer.name` is covered by a rule for `customer`).
    pub fn owners_of(&self, path: &str) -> Option<&[String]> {
        let mut p = path;
        loop {
            if let Some(o) = self.rules.get(p) {
                return Some(o);
            }
            p = &p[..p.rfind('.')?];
        }
    }
}

/// One field that two or more sources gave different values for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The view path (`customer.name`, `recent_bills`).
    pub field: String,
    /// The sources that gave a value, in configuration order.
    pub sources: Vec<String>,
    /// The source whose value the view holds; empty where a list holds every source's elements.
    pub chosen: String,
    /// Whether `chosen` owns the field by configuration.
    pub owned: bool,
}

impl Conflict {
    /// A short reason for the response and the metric.
    pub fn reason(&self) -> &'static str {
        match (self.owned, self.chosen.is_empty()) {
            (true, _) => "owner",
            (false, true) => "no owner configured: every source's elements kept",
            (false, false) => "no owner configured: the last source in configuration order kept",
        }
    }
}

/// The leaves of a view: singular scalars (timestamps count as scalars) and whole lists, by path. Maps
/// (`extensions`, keyed by source) cannot conflict and are left out, as is the number itself.
fn leaves(msg: &DynamicMessage, prefix: &str, out: &mut Vec<(String, Value)>) {
    for (fd, v) in msg.fields() {
        let path = if prefix.is_empty() {
            fd.name().to_string()
        } else {
            format!("{prefix}.{}", fd.name())
        };
        if fd.is_map() || prefix.is_empty() && fd.name() == "msisdn" {
            continue;
        }
        match (fd.kind(), v) {
            (Kind::Message(m), Value::Message(inner))
                if !fd.is_list() && m.full_name() != "google.protobuf.Timestamp" =>
            {
                leaves(inner, &path, out)
            }
            _ => out.push((path, v.clone())),
        }
    }
}

fn set_path(msg: &mut DynamicMessage, path: &str, value: Value) {
    match path.split_once('.') {
        None => msg.set_field_by_name(path, value),
        Some((head, rest)) => {
            if let Some(Value::Message(inner)) = msg.get_field_by_name_mut(head) {
                set_path(inner, rest, value);
            }
        }
    }
}

/// Finds the fields the `parts` (source name, its partial view, in configuration order) disagree on, and
/// puts each owned field's owner's value into `view` (their protobuf merge).
pub fn resolve(view: &mut SubscriberView, parts: &[(&str, &[u8])], owners: &Ownership) -> Vec<Conflict> {
    if parts.len() < 2 {
        return vec![];
    }
    let desc = crate::schema::view_descriptor();
    let mut by_path: BTreeMap<String, Vec<(&str, Value)>> = BTreeMap::new();
    for (source, bytes) in parts {
        let Ok(m) = DynamicMessage::decode(desc.clone(), *bytes) else {
            continue;
        };
        let mut out = Vec::new();
        leaves(&m, "", &mut out);
        for (path, v) in out {
            by_path.entry(path).or_default().push((source, v));
        }
    }
    let mut conflicts = Vec::new();
    let mut owned_values: Vec<(String, Value)> = Vec::new();
    for (path, given) in by_path {
        if given.len() < 2 || given.iter().all(|(_, v)| *v == given[0].1) {
            continue;
        }
        let owner = owners
            .owners_of(&path)
            .and_then(|order| order.iter().find_map(|o| given.iter().find(|(s, _)| *s == o.as_str())));
        let list = matches!(given[0].1, Value::List(_));
        let chosen = match owner {
            Some((s, v)) => {
                owned_values.push((path.clone(), v.clone()));
                s.to_string()
            }
            None if list => String::new(),
            None => given.last().map(|(s, _)| s.to_string()).unwrap_or_default(),
        };
        let c = Conflict {
            field: path,
            sources: given.iter().map(|(s, _)| s.to_string()).collect(),
            chosen,
            owned: owner.is_some(),
        };
        metrics::counter!("cgw_view_conflicts_total", "field" => c.field.clone(), "resolution" => if c.owned { "owner" } else { "unowned" })
            .increment(1);
        tracing::info!(field = %c.field, sources = ?c.sources, chosen = %c.chosen, reason = c.reason(), "sources disagree");
        conflicts.push(c);
    }
    if !owned_values.is_empty() {
        let Ok(mut m) = DynamicMessage::decode(desc.clone(), view.encode_to_vec().as_slice()) else {
            return conflicts;
        };
        for (path, v) in owned_values {
            set_path(&mut m, &path, v);
        }
        if let Ok(v) = SubscriberView::decode(m.encode_to_vec().as_slice()) {
            *view = v;
        }
    }
    conflicts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::complaint::v1::{Bill, Customer};

    fn view(name: &str, id: &str, bills: &[&str]) -> Vec<u8> {
        SubscriberView {
            customer: Some(Customer {
                name: name.into(),
                id_number: id.into(),
                ..Default::default()
            }),
            recent_bills: bills
                .iter()
                .map(|c| Bill {
                    cycle: c.to_string(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn merged(parts: &[(&str, &[u8])]) -> SubscriberView {
        let mut v = SubscriberView::default();
        for (_, b) in parts {
            v.merge(*b).unwrap();
        }
        v
    }

    #[test]
    fn the_owner_wins_and_every_disagreement_is_reported() {
        let crm = view("张伟", "330102199001011234", &[]);
        let billing = view("张卫", "330102199001011234", &["202611"]);
        let other = view("王芳", "", &["202610"]);
        let parts: Vec<(&str, &[u8])> = vec![("crm", &crm), ("billing", &billing), ("other", &other)];
        let owners = Ownership::new(BTreeMap::from([
            ("customer".to_string(), vec!["crm".to_string()]),
            ("recent_bills".to_string(), vec!["billing".to_string()]),
        ]));
        let mut v = merged(&parts);
        assert_eq!(
            v.customer.as_ref().unwrap().name,
            "王芳",
            "a plain merge keeps the last"
        );
        let c = resolve(&mut v, &parts, &owners);
        assert_eq!(v.customer.as_ref().unwrap().name, "张伟");
        assert_eq!(v.customer.as_ref().unwrap().id_number, "330102199001011234");
        assert_eq!(v.recent_bills.len(), 1);
        assert_eq!(v.recent_bills[0].cycle, "202611");
        assert_eq!(
            c,
            vec![
                Conflict {
                    field: "customer.name".into(),
                    sources: vec!["crm".into(), "billing".into(), "other".into()],
                    chosen: "crm".into(),
                    owned: true
                },
                Conflict {
                    field: "recent_bills".into(),
                    sources: vec!["billing".into(), "other".into()],
                    chosen: "billing".into(),
                    owned: true
                },
            ]
        );
    }

    #[test]
    fn without_an_owner_the_disagreement_is_still_reported() {
        let a = view("张伟", "", &["202611"]);
        let b = view("张卫", "", &["202610"]);
        let parts: Vec<(&str, &[u8])> = vec![("a", &a), ("b", &b)];
        let mut v = merged(&parts);
        let c = resolve(&mut v, &parts, &Ownership::default());
        assert_eq!(v.customer.as_ref().unwrap().name, "张卫");
        assert_eq!(v.recent_bills.len(), 2);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].chosen, "b");
        assert_eq!(
            c[0].reason(),
            "no owner configured: the last source in configuration order kept"
        );
        assert_eq!(c[1].field, "recent_bills");
        assert_eq!(c[1].chosen, "");
    }

    #[test]
    fn agreeing_sources_are_no_conflict_and_precedence_falls_through() {
        let a = view("张伟", "", &[]);
        let b = view("张伟", "1", &[]);
        let parts: Vec<(&str, &[u8])> = vec![("a", &a), ("b", &b)];
        let mut v = merged(&parts);
        assert!(resolve(&mut v, &parts, &Ownership::default()).is_empty());
        let owners = Ownership::new(BTreeMap::from([(
            "customer.name".to_string(),
            vec!["absent".to_string(), "a".to_string()],
        )]));
        assert_eq!(owners.owners_of("customer.name").unwrap().len(), 2);
        assert!(owners.owners_of("customer.id_number").is_none());
        let c = view("王芳", "", &[]);
        let parts: Vec<(&str, &[u8])> = vec![("a", &a), ("c", &c)];
        let mut v = merged(&parts);
        let found = resolve(&mut v, &parts, &owners);
        assert_eq!(found[0].chosen, "a");
        assert_eq!(v.customer.unwrap().name, "张伟");
    }
}
