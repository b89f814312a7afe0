//! The unified fields a scaffold proposes columns for: every leaf of `SubscriberView` (and of
//! `UsageRecord`, for the usage stream), read from the descriptor pool, with what kind of value each holds.
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

/// The protobuf type of a unified field, as far as choosing a column goes.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    String,
    Int,
    Float,
    Bool,
    /// An enum: its short value names (`ACTIVE`, `SUSPENDED`, …) in declaration order, zero value excluded.
    Enum(Vec<String>),
    Timestamp,
}

/// What a field's values look like in a backend, for value sniffing and conversions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Semantic {
    /// Money in fen (`*_fen`): backends usually keep yuan with two decimals.
    Money,
    Time,
    Code,
    Flag,
    /// A billing cycle, YYYYMM.
    Cycle,
    /// A phone number (11-digit mobile numbers in sampled values).
    Phone,
    /// A mainland resident ID number (18 characters with a check digit).
    IdCard,
    Iccid,
    Imei,
    Email,
    /// ISO 3166 alpha-2.
    Country,
    /// "4G" / "5G".
    Technology,
    /// A whole number (MB, minutes, counts, levels, metres).
    Count,
    /// An identifier or code.
    Ident,
    /// Free text (names, descriptions, addresses).
    Text,
}

/// A part of the view an adapter entity can fill, or the usage stream.
#[derive(Debug, Clone)]
pub struct TargetInfo {
    /// Dotted path from `SubscriberView` (`account`, `network.cells`), or `usage_records` for the stream.
    pub path: String,
    /// Whether the target holds a list (`recent_bills`) rather than one message (`account`).
    pub repeated: bool,
    /// Whether this is the usage stream (`[streams.usage_records]`).
    pub stream: bool,
    /// Repeated message fields inside the element (`items`, `roaming`): one child per joined row.
    pub lists: Vec<String>,
}

/// One leaf field of the unified schema.
#[derive(Debug, Clone)]
pub struct UnifiedField {
    /// The target it belongs to (`account`, `recent_bills`, `usage_records`).
    pub target: String,
    /// Path relative to the target element, as an adapter maps it (`balance_fen`, `items[].amount_fen`).
    pub path: String,
    /// The list child it sits in (`items`), if any.
    pub list: Option<String>,
    /// The leaf's own name (`amount_fen`).
    pub name: String,
    pub kind: FieldKind,
    pub semantic: Semantic,
}

impl UnifiedField {
    /// `target.path`, the key of the dictionary and of ground-truth files.
    pub fn key(&self) -> String {
        format!("{}.{}", self.target, self.path)
    }

    /// The dictionary key of the part whose table should hold this field (`recent_bills.items` for a
    /// bill item's field).
    pub fn context_key(&self) -> String {
        match &self.list {
            Some(l) => format!("{}.{l}", self.target),
            None => self.target.clone(),
        }
    }
}

/// The targets and fields of the unified schema.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub targets: Vec<TargetInfo>,
    pub fields: Vec<UnifiedField>,
}

impl Catalog {
    /// Walks `SubscriberView` and `UsageRecord`. `SubscriberView.msisdn` (the key every query binds),
    /// `extensions` and `UsageRecord.source` (set by the gateway) are not fields an adapter maps.
    pub fn load() -> Catalog {
        let mut c = Catalog {
            targets: vec![],
            fields: vec![],
        };
        c.walk_container(&crate::schema::view_descriptor(), "");
        let record = crate::schema::message("complaint.v1.UsageRecord");
        c.add_target(&record, "usage_records", true, true);
        c
    }

    fn walk_container(&mut self, msg: &MessageDescriptor, prefix: &str) {
        for fd in msg.fields() {
            let Kind::Message(m) = fd.kind() else { continue };
            if fd.is_map() || m.full_name().starts_with("google.protobuf.") {
                continue;
            }
            let path = format!("{prefix}{}", fd.name());
            let has_leaves = m.fields().any(|f| is_leaf(&f));
            if has_leaves {
                self.add_target(&m, &path, fd.is_list(), false);
            } else if !fd.is_list() {
                self.walk_container(&m, &format!("{path}."));
            }
        }
    }

    fn add_target(&mut self, element: &MessageDescriptor, path: &str, repeated: bool, stream: bool) {
        let mut lists = Vec::new();
        for fd in element.fields() {
            if stream && fd.name() == "source" {
                continue;
            }
            if is_leaf(&fd) {
                self.fields.push(field(path, fd.name(), None, &fd));
            } else if let Kind::Message(child) = fd.kind() {
                if fd.is_list() && !fd.is_map() {
                    lists.push(fd.name().to_string());
                    for cf in child.fields().filter(is_leaf) {
                        self.fields.push(field(
                            path,
                            &format!("{}[].{}", fd.name(), cf.name()),
                            Some(fd.name().to_string()),
                            &cf,
                        ));
                    }
                }
            }
        }
        self.targets.push(TargetInfo {
            path: path.to_string(),
            repeated,
            stream,
            lists,
        });
    }

    /// The target with this path.
    pub fn target(&self, path: &str) -> Option<&TargetInfo> {
        self.targets.iter().find(|t| t.path == path)
    }
}

fn is_leaf(fd: &FieldDescriptor) -> bool {
    match fd.kind() {
        Kind::Message(m) => m.full_name() == "google.protobuf.Timestamp" && !fd.is_list(),
        _ => !fd.is_list(),
    }
}

fn field(target: &str, path: &str, list: Option<String>, fd: &FieldDescriptor) -> UnifiedField {
    let kind = match fd.kind() {
        Kind::String | Kind::Bytes => FieldKind::String,
        Kind::Bool => FieldKind::Bool,
        Kind::Double | Kind::Float => FieldKind::Float,
        Kind::Enum(e) => {
            let prefix = crate::schema::enum_prefix(&e);
            FieldKind::Enum(
                e.values()
                    .filter(|v| v.number() != 0)
                    .map(|v| v.name().strip_prefix(&prefix).unwrap_or(v.name()).to_string())
                    .collect(),
            )
        }
        Kind::Message(_) => FieldKind::Timestamp,
        _ => FieldKind::Int,
    };
    let name = fd.name().to_string();
    let semantic = semantic_of(&name, &kind);
    UnifiedField {
        target: target.to_string(),
        path: path.to_string(),
        list,
        name,
        kind,
        semantic,
    }
}

fn semantic_of(name: &str, kind: &FieldKind) -> Semantic {
    match kind {
        FieldKind::Timestamp => return Semantic::Time,
        FieldKind::Enum(_) => return Semantic::Code,
        FieldKind::Bool => return Semantic::Flag,
        FieldKind::Int | FieldKind::Float => {
            return if name.ends_with("_fen") {
                Semantic::Money
            } else {
                Semantic::Count
            }
        }
        FieldKind::String => {}
    }
    match name {
        "cycle" => Semantic::Cycle,
        "contact_phone" | "counterpart" => Semantic::Phone,
        "id_number" => Semantic::IdCard,
        "iccid" => Semantic::Iccid,
        "imei" => Semantic::Imei,
        "email" => Semantic::Email,
        "country_code" => Semantic::Country,
        "technology" => Semantic::Technology,
        n if n.ends_with("_id") || n.ends_with("_code") || n == "account" || n == "channel_reference" => {
            Semantic::Ident
        }
        _ => Semantic::Text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_of_the_view_is_in_the_catalog() {
        let c = Catalog::load();
        let keys: Vec<String> = c.fields.iter().map(UnifiedField::key).collect();
        for k in [
            "account.balance_fen",
            "recent_bills.items[].amount_fen",
            "usage.roaming[].pack_applied",
            "network.cells.distance_m",
            "network.broadband.last_alarm_at",
            "usage_records.started_at",
        ] {
            assert!(keys.contains(&k.to_string()), "{k} missing from {keys:?}");
        }
        assert!(!keys
            .iter()
            .any(|k| k == "usage_records.source" || k.starts_with("msisdn")));
        assert_eq!(keys.len(), 111, "every leaf of SubscriberView and UsageRecord");
        let bills = c.target("recent_bills").unwrap();
        assert!(bills.repeated && bills.lists == vec!["items".to_string()]);
        let f = c.fields.iter().find(|f| f.key() == "account.status").unwrap();
        assert_eq!(
            f.kind,
            FieldKind::Enum(vec!["ACTIVE".into(), "SUSPENDED".into(), "CLOSED".into()])
        );
        assert_eq!(
            c.fields
                .iter()
                .find(|f| f.key() == "account.balance_fen")
                .unwrap()
                .semantic,
            Semantic::Money
        );
    }
}
