//! The unified schema, read from the compiled proto descriptors. Adapter field paths and scenario
//! expressions are checked against it at load.
use prost_reflect::{DescriptorPool, EnumDescriptor, EnumValueDescriptor, MessageDescriptor};
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

    #[test]
    fn closest_suggests_typos_only() {
        let c = ["balance_fen", "credit_limit_fen", "status"];
        assert_eq!(closest("balanse_fen", c.iter().copied()), Some("balance_fen"));
        assert_eq!(closest("zzzz", c.iter().copied()), None);
    }
}
