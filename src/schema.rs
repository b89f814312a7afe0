//! The unified schema, read from the compiled proto descriptors, and the one resolver of paths into it.
//!
//! Adapter definitions (`account.balance_fen`, `items[].amount_fen`), scenario expressions (CEL, one field
//! selection at a time) and reply templates (`view.recent_bills.0.cycle`) all walk the schema through
//! [`Shape::select`] (one step) or [`resolve`] (a dotted path), so they agree on what a path means and share
//! the "did you mean" suggestion for a misspelt field ([`UnknownField`]).
use prost_reflect::{DescriptorPool, EnumDescriptor, EnumValueDescriptor, FieldDescriptor, Kind, MessageDescriptor};
use std::fmt;
use std::sync::OnceLock;

/// The descriptor pool of the public contract.
pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET).expect("the embedded descriptor set is valid")
    })
}

/// A message of the contract by full name. Panics only on a name that is not in the compiled protos.
pub fn message(full_name: &str) -> MessageDescriptor {
    pool()
        .get_message_by_name(full_name)
        .unwrap_or_else(|| panic!("{full_name} is in the contract"))
}

/// `complaint.v1.SubscriberView`.
pub fn view_descriptor() -> MessageDescriptor {
    message("complaint.v1.SubscriberView")
}

/// Finds an enum value by its full name (`ACCOUNT_STATUS_SUSPENDED`) or short name (`SUSPENDED`).
pub fn enum_value(e: &EnumDescriptor, name: &str) -> Option<EnumValueDescriptor> {
    let upper = name.trim().to_ascii_uppercase();
    if let Some(v) = e.get_value_by_name(&upper) {
        return Some(v);
    }
    let prefix = enum_prefix(e);
    e.get_value_by_name(&format!("{prefix}{upper}"))
}

/// `AccountStatus` → `ACCOUNT_STATUS_`.
pub fn enum_prefix(e: &EnumDescriptor) -> String {
    let mut out = String::new();
    for (i, c) in e.name().chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out.push('_');
    out
}

/// The short name of an enum value (`SUSPENDED` for `ACCOUNT_STATUS_SUSPENDED`).
pub fn short_enum_name(e: &EnumDescriptor, number: i32) -> String {
    let prefix = enum_prefix(e);
    match e.get_value(number) {
        Some(v) => v.name().strip_prefix(&prefix).unwrap_or(v.name()).to_string(),
        None => number.to_string(),
    }
}

/// What a value of the contract is, as a path, an expression or a template sees it.
#[derive(Debug, Clone)]
pub enum Shape {
    /// A message of the contract: its fields can be selected.
    Message(MessageDescriptor),
    /// A repeated field (or a list literal): pick an item to go on.
    List(Box<Shape>),
    /// A map field: a key selects a value.
    Map(Box<Shape>),
    /// An enum, compared by value names (`"ACCOUNT_STATUS_SUSPENDED"`).
    Enum(EnumDescriptor),
    /// `google.protobuf.Timestamp`.
    Timestamp,
    /// A scalar of this kind.
    Scalar(Kind),
    /// Anything: free-form data (`google.protobuf.Struct`, the values of `extensions`) or a value whose
    /// type is not known. Nothing below it is checked.
    Dynamic,
}

/// One selection made by [`Shape::select`]: the field (none for a map key or a dynamic value) and what
/// it holds.
#[derive(Debug, Clone)]
pub struct Selection {
    pub field: Option<FieldDescriptor>,
    pub shape: Shape,
}

/// A field name that is not a field of the message, with the field it most likely means.
#[derive(Debug, Clone)]
pub struct UnknownField {
    pub message: MessageDescriptor,
    pub name: String,
    /// The closest field name, if it is close enough to be a likely typo.
    pub suggestion: Option<String>,
}

impl fmt::Display for UnknownField {
    /// `` `balanse_fen` is not a field of complaint.v1.Account (did you mean `balance_fen`?) ``
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a field of {}", self.name, self.message.full_name())?;
        if let Some(s) = &self.suggestion {
            write!(f, " (did you mean `{s}`?)")?;
        }
        Ok(())
    }
}

/// Why a name cannot be selected of a value.
#[derive(Debug, Clone)]
pub enum SelectError {
    /// The value is a message without that field.
    UnknownField(UnknownField),
    /// The value is a list (of items of this shape): pick an item first.
    OfList(Shape),
    /// The value is a scalar, an enum or a timestamp.
    NoFields,
}

/// Looks `name` up among the fields of `message`; a miss names the closest field.
pub fn field(message: &MessageDescriptor, name: &str) -> Result<FieldDescriptor, UnknownField> {
    message.get_field_by_name(name).ok_or_else(|| {
        let names: Vec<String> = message.fields().map(|f| f.name().to_string()).collect();
        UnknownField {
            message: message.clone(),
            name: name.to_string(),
            suggestion: closest(name, names.iter().map(String::as_str)).map(str::to_string),
        }
    })
}

impl Shape {
    /// The view itself.
    pub fn view() -> Shape {
        Shape::Message(view_descriptor())
    }

    /// What a field holds (a list for a repeated field, a map for a map field).
    pub fn of_field(f: &FieldDescriptor) -> Shape {
        if f.is_map() {
            if let Kind::Message(entry) = f.kind() {
                return Shape::Map(Box::new(Shape::of_field(&entry.map_entry_value_field())));
            }
        }
        let one = match f.kind() {
            Kind::Message(m) if m.full_name() == "google.protobuf.Timestamp" => Shape::Timestamp,
            Kind::Message(m) if m.full_name().starts_with("google.protobuf.") => Shape::Dynamic,
            Kind::Message(m) => Shape::Message(m),
            Kind::Enum(e) => Shape::Enum(e),
            k => Shape::Scalar(k),
        };
        if f.is_list() {
            Shape::List(Box::new(one))
        } else {
            one
        }
    }

    /// Selects `name` of a value of this shape: a message's field, a map's value, anything of a dynamic
    /// value.
    pub fn select(&self, name: &str) -> Result<Selection, SelectError> {
        match self {
            Shape::Message(m) => {
                let f = field(m, name).map_err(SelectError::UnknownField)?;
                Ok(Selection {
                    shape: Shape::of_field(&f),
                    field: Some(f),
                })
            }
            Shape::Map(v) => Ok(Selection {
                field: None,
                shape: (**v).clone(),
            }),
            Shape::Dynamic => Ok(Selection {
                field: None,
                shape: Shape::Dynamic,
            }),
            Shape::List(item) => Err(SelectError::OfList((**item).clone())),
            Shape::Enum(_) | Shape::Timestamp | Shape::Scalar(_) => Err(SelectError::NoFields),
        }
    }

    /// The shape of one item, for a list.
    pub fn item(&self) -> Option<&Shape> {
        match self {
            Shape::List(item) => Some(item),
            _ => None,
        }
    }
}

/// How a path written as text picks an item of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Items {
    /// `items[].amount_fen`: every item (adapter definitions).
    Brackets,
    /// `recent_bills.0.cycle`: one item by index (reply templates).
    Index,
}

/// One step of a resolved path.
#[derive(Debug, Clone)]
pub enum PathStep {
    /// A field of a message.
    Field(FieldDescriptor),
    /// Into the items of the list before (`[]`, or an index).
    Item,
    /// A key of a map, or a name inside a dynamic value.
    Key(String),
}

/// A path resolved against a message: its steps and what it leads to.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub steps: Vec<PathStep>,
    pub shape: Shape,
}

impl Resolved {
    /// The fields on the way, in order.
    pub fn fields(&self) -> impl Iterator<Item = &FieldDescriptor> {
        self.steps.iter().filter_map(|s| match s {
            PathStep::Field(f) => Some(f),
            _ => None,
        })
    }
}

/// A path that does not resolve: which segment, why, and the steps resolved before it.
#[derive(Debug, Clone)]
pub struct PathError {
    /// The dot-separated segments of the path as written.
    pub segments: Vec<String>,
    /// The index of the segment that fails.
    pub at: usize,
    pub kind: PathErrorKind,
    /// The steps of the segments before it.
    pub resolved: Vec<PathStep>,
}

/// Why a segment does not resolve.
#[derive(Debug, Clone)]
pub enum PathErrorKind {
    Select(SelectError),
    /// `x[]` where `x` is not a list.
    NotAList,
}

impl PathError {
    /// The failing segment as written (without `[]`).
    pub fn segment(&self) -> &str {
        let s = self.segments.get(self.at).map(String::as_str).unwrap_or("");
        s.strip_suffix("[]").unwrap_or(s)
    }

    /// The segment before the failing one (without `[]`), if any.
    pub fn previous(&self) -> Option<&str> {
        let s = self.segments.get(self.at.checked_sub(1)?)?;
        Some(s.strip_suffix("[]").unwrap_or(s))
    }

    /// The path up to, not including, the failing segment.
    pub fn before(&self) -> String {
        self.segments[..self.at.min(self.segments.len())].join(".")
    }
}

/// Resolves a dotted `path` against `root`, segment by segment: a message's field, a list's item (as
/// `items` says), a map's key; below a dynamic value nothing is checked.
pub fn resolve(root: &MessageDescriptor, path: &str, items: Items) -> Result<Resolved, PathError> {
    let segments: Vec<String> = path.split('.').map(str::to_string).collect();
    let mut steps = Vec::with_capacity(segments.len());
    let mut shape = Shape::Message(root.clone());
    for (at, raw) in segments.iter().enumerate() {
        let fail = |kind: PathErrorKind, steps: Vec<PathStep>| PathError {
            segments: segments.clone(),
            at,
            kind,
            resolved: steps,
        };
        let (name, every) = match (items, raw.strip_suffix("[]")) {
            (Items::Brackets, Some(n)) => (n, true),
            _ => (raw.as_str(), false),
        };
        if items == Items::Index && name.parse::<usize>().is_ok() {
            if let Some(item) = shape.item() {
                shape = item.clone();
                steps.push(PathStep::Item);
                continue;
            }
        }
        match shape.select(name) {
            Ok(sel) => {
                steps.push(match sel.field {
                    Some(f) => PathStep::Field(f),
                    None => PathStep::Key(name.to_string()),
                });
                shape = sel.shape;
            }
            Err(e) => return Err(fail(PathErrorKind::Select(e), steps)),
        }
        if every {
            match shape.item() {
                Some(item) => {
                    shape = item.clone();
                    steps.push(PathStep::Item);
                }
                None => return Err(fail(PathErrorKind::NotAList, steps)),
            }
        }
    }
    Ok(Resolved { steps, shape })
}

/// The closest candidate by edit distance, if it is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (levenshtein(word, c), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_names_short_and_full() {
        let view = view_descriptor();
        let account = view.get_field_by_name("account").unwrap();
        let prost_reflect::Kind::Message(acc) = account.kind() else {
            panic!()
        };
        let prost_reflect::Kind::Enum(status) = acc.get_field_by_name("status").unwrap().kind() else {
            panic!()
        };
        assert_eq!(enum_value(&status, "suspended").unwrap().number(), 2);
        assert_eq!(enum_value(&status, "ACCOUNT_STATUS_CLOSED").unwrap().number(), 3);
        assert!(enum_value(&status, "gone").is_none());
        assert_eq!(short_enum_name(&status, 1), "ACTIVE");
    }

    fn fields(r: &Resolved) -> Vec<&str> {
        r.fields().map(|f| f.name()).collect()
    }

    #[test]
    fn a_path_resolves_to_its_fields_and_what_it_leads_to() {
        let view = view_descriptor();
        let r = resolve(&view, "account.status", Items::Brackets).unwrap();
        assert_eq!(fields(&r), ["account", "status"]);
        assert!(matches!(&r.shape, Shape::Enum(e) if e.name() == "AccountStatus"));
        // Every item of a list, written as definitions write it.
        let r = resolve(&view, "recent_bills[].items[].amount_fen", Items::Brackets).unwrap();
        assert_eq!(fields(&r), ["recent_bills", "items", "amount_fen"]);
        assert!(matches!(r.shape, Shape::Scalar(prost_reflect::Kind::Int64)));
        assert_eq!(r.steps.iter().filter(|s| matches!(s, PathStep::Item)).count(), 2);
        // One item by index, as templates write it.
        let r = resolve(&view, "recent_bills.0.cycle", Items::Index).unwrap();
        assert_eq!(fields(&r), ["recent_bills", "cycle"]);
        // A list without an item is a list.
        let r = resolve(&view, "recent_bills", Items::Index).unwrap();
        assert!(matches!(&r.shape, Shape::List(item) if matches!(&**item, Shape::Message(m) if m.name() == "Bill")));
        // Timestamps are leaves; free-form data is not checked below its map.
        assert!(matches!(
            resolve(&view, "account.suspended_at", Items::Index).unwrap().shape,
            Shape::Timestamp
        ));
        let r = resolve(&view, "extensions.billing.anything", Items::Index).unwrap();
        assert!(matches!(r.shape, Shape::Dynamic));
        assert!(matches!(&r.steps[1], PathStep::Key(k) if k == "billing"));
    }

    #[test]
    fn a_misspelt_field_is_named_with_the_field_it_likely_means() {
        let e = resolve(&view_descriptor(), "account.balanse_fen", Items::Brackets).unwrap_err();
        assert_eq!(
            (e.at, e.segment(), e.previous(), e.before().as_str()),
            (1, "balanse_fen", Some("account"), "account")
        );
        assert_eq!(
            fields(&Resolved {
                steps: e.resolved.clone(),
                shape: Shape::Dynamic
            }),
            ["account"]
        );
        let PathErrorKind::Select(SelectError::UnknownField(u)) = &e.kind else {
            panic!("{e:?}")
        };
        assert_eq!(u.suggestion.as_deref(), Some("balance_fen"));
        assert_eq!(
            u.to_string(),
            "`balanse_fen` is not a field of complaint.v1.Account (did you mean `balance_fen`?)"
        );
        let u = field(&view_descriptor(), "zzzz").unwrap_err();
        assert_eq!(u.to_string(), "`zzzz` is not a field of complaint.v1.SubscriberView");
    }

    #[test]
    fn lists_scalars_and_brackets_are_refused_where_they_do_not_fit() {
        let view = view_descriptor();
        let kind = |path: &str, items: Items| resolve(&view, path, items).unwrap_err();
        let e = kind("recent_bills.cycle", Items::Index);
        assert!(matches!(&e.kind, PathErrorKind::Select(SelectError::OfList(Shape::Message(m))) if m.name() == "Bill"));
        assert_eq!(e.previous(), Some("recent_bills"));
        let e = kind("recent_bills.cycle", Items::Brackets);
        assert!(matches!(e.kind, PathErrorKind::Select(SelectError::OfList(_))));
        let e = kind("account[].status", Items::Brackets);
        assert!(matches!(e.kind, PathErrorKind::NotAList));
        assert_eq!(e.segment(), "account");
        let e = kind("account.balance_fen.x", Items::Index);
        assert!(matches!(e.kind, PathErrorKind::Select(SelectError::NoFields)));
        let e = kind("account.suspended_at.seconds", Items::Index);
        assert!(matches!(e.kind, PathErrorKind::Select(SelectError::NoFields)));
        // `[]` is a name, not an item, where items are picked by index.
        assert!(matches!(
            kind("recent_bills[].cycle", Items::Index).kind,
            PathErrorKind::Select(SelectError::UnknownField(_))
        ));
    }

    #[test]
    fn closest_suggests_typos_only() {
        let c = ["balance_fen", "credit_limit_fen", "status"];
        assert_eq!(closest("balanse_fen", c.iter().copied()), Some("balance_fen"));
        assert_eq!(closest("zzzz", c.iter().copied()), None);
    }
}
