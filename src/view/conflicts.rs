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
    /// Counts the disagreement (`cgw_view_conflicts_total`) and logs it: once per read that meets it.
    pub fn report(&self) {
        metrics::counter!("cgw_view_conflicts_total", "field" => self.field.clone(), "resolution" => if self.owned { "owner" } else { "unowned" })
            .increment(1);
        tracing::info!(field = %self.field, sources = ?self.sources, chosen = %self.chosen, reason = self.reason(), "sources disagree");
    }

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
    let desc = crate::schema::view_descriptor();
    // Every read merges its parts, and almost always they agree: decide that from the encoded bytes,
    // and decode to look at values only when some field really differs.
    if parts.len() < 2 || !wire::may_disagree(&desc, parts) {
        return vec![];
    }
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
        c.report();
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

/// The same leaves as [`leaves`], read from the encoded parts without decoding them: the first look of
/// [`resolve`], which only needs to know whether two parts give one leaf different bytes.
mod wire {
    use prost_reflect::{Kind, MessageDescriptor};

    /// A leaf's path (field numbers from the view down) and its encoded values, in order.
    type Leaves<'a> = Vec<(Vec<u32>, Vec<&'a [u8]>)>;

    /// Whether two parts may give one leaf different values. Equal values encode to equal bytes (every
    /// part is encoded by prost from the same message type), so `false` is exact; bytes that cannot be
    /// read answer `true`, leaving the decision to the decoding path.
    pub fn may_disagree(desc: &MessageDescriptor, parts: &[(&str, &[u8])]) -> bool {
        // Sources usually fill different parts of the view (billing the bills, the CRM the customer):
        // parts that share no top-level field share no leaf, which a look at their top-level tags shows
        // without collecting the leaves.
        let mut tops: Vec<Vec<u32>> = Vec::with_capacity(parts.len());
        for (_, bytes) in parts {
            match top_fields(desc, bytes) {
                Some(t) => tops.push(t),
                None => return true,
            }
        }
        let shared = tops
            .iter()
            .enumerate()
            .any(|(i, a)| tops[i + 1..].iter().any(|b| a.iter().any(|n| b.contains(n))));
        if !shared {
            return false;
        }
        let mut all: Vec<Leaves> = Vec::with_capacity(parts.len());
        for (_, bytes) in parts {
            let mut out = Leaves::new();
            if walk(desc, bytes, &mut Vec::new(), true, &mut out).is_none() {
                return true;
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            all.push(out);
        }
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                if differ(a, b) {
                    return true;
                }
            }
        }
        false
    }

    /// Whether a leaf both parts give has different bytes in them (both sorted by path).
    fn differ(a: &Leaves, b: &Leaves) -> bool {
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            match a[i].0.cmp(&b[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    if a[i].1 != b[j].1 {
                        return true;
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        false
    }

    fn varint(buf: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = buf.split_first()?;
            *buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    /// Reads one field off `buf`: its number, wire type and encoded value (a varint's bytes, a fixed
    /// value's, or a length-delimited field's contents). `None`: not a well-formed field.
    fn next_field<'a>(buf: &mut &'a [u8]) -> Option<(u32, u64, &'a [u8])> {
        let key = varint(buf)?;
        let (number, wire_type) = (u32::try_from(key >> 3).ok()?, key & 7);
        let n = match wire_type {
            0 => {
                let start = *buf;
                varint(buf)?;
                return Some((number, wire_type, &start[..start.len() - buf.len()]));
            }
            1 => 8,
            5 => 4,
            2 => usize::try_from(varint(buf)?).ok()?,
            _ => return None,
        };
        let (value, rest) = (buf.get(..n)?, buf.get(n..)?);
        *buf = rest;
        Some((number, wire_type, value))
    }

    /// The top-level fields an encoded view holds that could conflict (maps and the number left out, as
    /// in [`walk`]), in order of first appearance. `None`: the bytes are not a well-formed message.
    fn top_fields(desc: &MessageDescriptor, mut buf: &[u8]) -> Option<Vec<u32>> {
        let mut out: Vec<u32> = Vec::new();
        while !buf.is_empty() {
            let (number, _, _) = next_field(&mut buf)?;
            let skip = desc
                .get_field(number)
                .is_some_and(|fd| fd.is_map() || fd.name() == "msisdn");
            if !skip && !out.contains(&number) {
                out.push(number);
            }
        }
        Some(out)
    }

    /// Collects the leaves of one encoded message, as `leaves` does: singular sub-messages (not
    /// timestamps) are descended into, lists and scalars are leaves, maps and the root's number are left
    /// out. `None`: the bytes are not a well-formed message.
    fn walk<'a>(
        desc: &MessageDescriptor,
        mut buf: &'a [u8],
        path: &mut Vec<u32>,
        root: bool,
        out: &mut Leaves<'a>,
    ) -> Option<()> {
        while !buf.is_empty() {
            let (number, wire_type, value) = next_field(&mut buf)?;
            let field = desc.get_field(number);
            if let Some(fd) = &field {
                if fd.is_map() || root && fd.name() == "msisdn" {
                    continue;
                }
            }
            path.push(number);
            match field.as_ref().map(|f| (f.kind(), f.is_list())) {
                Some((Kind::Message(m), false)) if wire_type == 2 && m.full_name() != "google.protobuf.Timestamp" => {
                    walk(&m, value, path, false, out)?;
                }
                _ => match out.iter_mut().find(|(p, _)| p == path) {
                    Some((_, values)) => values.push(value),
                    None => out.push((path.clone(), vec![value])),
                },
            }
            path.pop();
        }
        Some(())
    }
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
    fn parts_of_different_fields_cannot_disagree_and_malformed_bytes_may() {
        let desc = crate::schema::view_descriptor();
        let customer = view("张伟", "330102199001011234", &[]);
        let bills = SubscriberView {
            recent_bills: vec![Bill {
                cycle: "202611".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
        .encode_to_vec();
        let same_customer = view("张伟", "330102199001011234", &[]);
        let other_customer = view("张卫", "330102199001011234", &[]);
        assert!(!wire::may_disagree(&desc, &[("crm", &customer), ("billing", &bills)]));
        assert!(!wire::may_disagree(
            &desc,
            &[("crm", &customer), ("other", &same_customer)]
        ));
        assert!(wire::may_disagree(
            &desc,
            &[("crm", &customer), ("other", &other_customer)]
        ));
        assert!(wire::may_disagree(
            &desc,
            &[("crm", &customer), ("broken", &[0x0a, 0x05, 0x01][..])]
        ));
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

    #[test]
    fn the_wire_look_finds_exactly_the_disagreements_decoding_finds() {
        let desc = crate::schema::view_descriptor();
        let look = |parts: &[(&str, &[u8])]| wire::may_disagree(&desc, parts);
        let full = |parts: &[(&str, &[u8])]| {
            let mut v = merged(parts);
            !resolve(&mut v, parts, &Ownership::default()).is_empty()
        };
        let same = view("张伟", "1", &["202611", "202610"]);
        let same_again = view("张伟", "1", &["202611", "202610"]);
        let other_name = view("张卫", "1", &["202611", "202610"]);
        let other_order = view("张伟", "1", &["202610", "202611"]);
        let fewer = view("张伟", "1", &["202611"]);
        let disjoint_a = view("张伟", "", &[]);
        let disjoint_b = view("", "1", &["202611"]);
        // The number is no leaf: parts that differ only there agree.
        let numbered = SubscriberView {
            msisdn: "13800000000".into(),
            ..SubscriberView::decode(same.as_slice()).unwrap()
        }
        .encode_to_vec();
        for (parts, disagree) in [
            (vec![("a", &same), ("b", &same_again)], false),
            (vec![("a", &same), ("b", &numbered)], false),
            (vec![("a", &disjoint_a), ("b", &disjoint_b)], false),
            (vec![("a", &same), ("b", &other_name)], true),
            (vec![("a", &same), ("b", &other_order)], true),
            (vec![("a", &same), ("b", &fewer)], true),
            (vec![("a", &disjoint_a), ("b", &same), ("c", &same_again)], false),
            (vec![("a", &disjoint_b), ("b", &same), ("c", &fewer)], true),
        ] {
            let parts: Vec<(&str, &[u8])> = parts.iter().map(|(s, b)| (*s, b.as_slice())).collect();
            assert_eq!(look(&parts), disagree, "{parts:?}");
            assert_eq!(full(&parts), disagree, "{parts:?}");
        }
        // Bytes that are no message leave the decision to decoding.
        assert!(look(&[("a", &[0xff, 0xff][..]), ("b", &same)]));
    }
}
