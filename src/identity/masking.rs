//! Masking personal data for callers without the `read_pii` permission, in one place for every response:
//! views ([`mask_view`], which diagnosis reads too, so its evidence and replies are built from masked data)
//! and usage records ([`mask_usage`]).
//!
//! The rules are keyed by fully-qualified proto field name ([`RULES`]). [`mask_message`] applies them to
//! any message of the contract through its descriptor, wherever a field appears; it is the reference the
//! typed [`mask_view`] is tested against. Backend fields outside the schema (`SubscriberView.extensions`)
//! are masked by key name.
use crate::proto::complaint::v1::{SubscriberView, UsageRecord};
use prost::Message;
use prost_reflect::{DynamicMessage, MapKey, ReflectMessage, Value};

/// How a value is masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskKind {
    /// `张三` → `张*`: the first character stays.
    Name,
    /// `110105199003071234` → `110105********1234`.
    IdNumber,
    /// `浙江省杭州市文三路12号` → `浙江省杭州市****`: the province and city stay.
    Address,
    /// `13800138000` → `138****8000`.
    Phone,
    /// Like [`MaskKind::Phone`] when the value is a subscriber or landline number (10+ digits); APNs and
    /// short service codes stay.
    PhoneIfNumber,
    /// `user1@example.com` → `u***@example.com`.
    Email,
    /// `6222000012345678` → `************5678`.
    BankAccount,
    /// Device and SIM serials: only the type-allocation (model / issuer) prefix stays.
    Serial,
}

/// Every masked field of the contract. A PII field added to the proto must be added here (a test checks
/// that every field whose name suggests personal data is listed).
pub const RULES: &[(&str, MaskKind)] = &[
    ("complaint.v1.Customer.name", MaskKind::Name),
    ("complaint.v1.Customer.id_number", MaskKind::IdNumber),
    ("complaint.v1.Customer.address", MaskKind::Address),
    ("complaint.v1.Customer.contact_phone", MaskKind::Phone),
    ("complaint.v1.Customer.email", MaskKind::Email),
    ("complaint.v1.Account.bank_account", MaskKind::BankAccount),
    ("complaint.v1.BroadbandPort.address", MaskKind::Address),
    ("complaint.v1.Line.imei", MaskKind::Serial),
    ("complaint.v1.Line.iccid", MaskKind::Serial),
    ("complaint.v1.UsageRecord.counterpart", MaskKind::PhoneIfNumber),
];

/// The rule for a field, by full name.
pub fn rule_for(full_field_name: &str) -> Option<MaskKind> {
    RULES.iter().find(|(n, _)| *n == full_field_name).map(|(_, k)| *k)
}

/// Masks one value.
pub fn mask(kind: MaskKind, s: &str) -> String {
    if s.is_empty() {
        return String::new();
    }
    match kind {
        MaskKind::Name => mask_name(s),
        MaskKind::IdNumber => mask_id_number(s),
        MaskKind::Address => mask_address(s),
        MaskKind::Phone => mask_phone(s),
        MaskKind::PhoneIfNumber => {
            let digits = s.chars().filter(|c| c.is_ascii_digit()).count();
            // Subscriber and landline numbers have 10+ digits; 5-8 digit service codes (10658447) stay.
            if digits >= 10 && digits * 10 >= s.chars().count() * 8 {
                mask_phone(s)
            } else {
                s.to_string()
            }
        }
        MaskKind::Email => mask_email(s),
        MaskKind::BankAccount => keep(s, 0, 4),
        MaskKind::Serial => keep(s, s.chars().count().saturating_sub(6).min(8), 0),
    }
}

/// Keeps `head` leading and `tail` trailing characters, starring the rest (all stars when the value is
/// too short to keep both and still hide something).
fn keep(s: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    if n <= head + tail + 1 {
        return "*".repeat(n.max(1));
    }
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(n - head - tail));
    out.extend(&chars[n - tail..]);
    out
}

/// `张三` → `张*`, `欧阳娜娜` → `欧***`, `John Smith` → `J*********`.
pub fn mask_name(s: &str) -> String {
    let mut chars = s.trim().chars();
    match chars.next() {
        Some(first) => {
            let rest = chars.count();
            format!("{first}{}", "*".repeat(rest.max(1)))
        }
        None => String::new(),
    }
}

/// 18-digit resident ID → first 6 (issuing area) and last 4 stay; passports and permits keep 2 and 2.
pub fn mask_id_number(s: &str) -> String {
    let n = s.chars().count();
    if n >= 15 {
        keep(s, 6, 4)
    } else if n >= 8 {
        keep(s, 2, 2)
    } else {
        "*".repeat(n)
    }
}

/// Keeps the administrative prefix (province, city, district) and hides the street and number, with a
/// fixed `****` so the length says nothing.
pub fn mask_address(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    // The prefix is searched for in all but the last two characters, so something is always hidden.
    let limit = chars.len().saturating_sub(2).min(12);
    let cut = chars[..limit]
        .iter()
        .rposition(|c| matches!(c, '省' | '市' | '区' | '县'))
        .map(|i| i + 1)
        .unwrap_or(0);
    let head: String = chars[..cut].iter().collect();
    format!("{head}****")
}

/// `13800138000` → `138****8000`; other lengths keep the last two.
pub fn mask_phone(s: &str) -> String {
    let n = s.chars().count();
    if n >= 11 {
        keep(s, 3, 4)
    } else {
        keep(s, 0, 2)
    }
}

/// `user1@example.com` → `u***@example.com`.
pub fn mask_email(s: &str) -> String {
    match s.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => mask_name(s),
    }
}

/// Keys of backend extension fields treated as personal data (compared after lower-casing and dropping
/// `_`, `-` and spaces).
const SENSITIVE_KEYS: &[&str] = &[
    "name",
    "fullname",
    "customername",
    "custname",
    "contactname",
    "holdername",
    "idnumber",
    "idno",
    "idcard",
    "certno",
    "certificateno",
    "passport",
    "address",
    "addr",
    "homeaddress",
    "installaddress",
    "phone",
    "mobile",
    "contactphone",
    "telephone",
    "email",
    "bankaccount",
    "bankcard",
    "cardno",
    "imei",
    "iccid",
];

/// How an extension value under `key` is masked, if it is personal data.
pub fn extension_rule(key: &str) -> Option<MaskKind> {
    let k: String = key
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    if !SENSITIVE_KEYS.contains(&k.as_str()) && !k.ends_with("address") && !k.ends_with("idnumber") {
        return None;
    }
    Some(if k.contains("addr") {
        MaskKind::Address
    } else if k.contains("id") || k.contains("cert") || k.contains("passport") {
        MaskKind::IdNumber
    } else if k.contains("phone") || k.contains("mobile") {
        MaskKind::Phone
    } else if k.contains("email") {
        MaskKind::Email
    } else if k.contains("bank") || k.contains("card") {
        MaskKind::BankAccount
    } else if k.contains("imei") || k.contains("iccid") {
        MaskKind::Serial
    } else {
        MaskKind::Name
    })
}

/// Masks every personal field of a message of the contract, wherever it is nested.
pub fn mask_message(msg: &mut DynamicMessage) {
    let is_struct = msg.descriptor().full_name() == "google.protobuf.Struct";
    for (field, value) in msg.fields_mut() {
        if is_struct {
            // Struct.fields: map<string, Value>; mask by key.
            if let Value::Map(entries) = value {
                for (k, v) in entries.iter_mut() {
                    match (k, extension_rule_of(k)) {
                        (_, Some(kind)) => mask_all_strings(v, kind),
                        _ => mask_value(v),
                    }
                }
            }
            continue;
        }
        match (rule_for(field.full_name()), value) {
            (Some(kind), Value::String(s)) => *s = mask(kind, s),
            (Some(kind), Value::List(items)) => {
                for it in items {
                    if let Value::String(s) = it {
                        *s = mask(kind, s);
                    }
                }
            }
            (_, v) => mask_value(v),
        }
    }
}

fn extension_rule_of(k: &MapKey) -> Option<MaskKind> {
    match k {
        MapKey::String(s) => extension_rule(s),
        _ => None,
    }
}

fn mask_value(v: &mut Value) {
    match v {
        Value::Message(m) => mask_message(m),
        Value::List(items) => items.iter_mut().for_each(mask_value),
        Value::Map(entries) => entries.values_mut().for_each(mask_value),
        _ => {}
    }
}

/// Masks every string inside `v` (a `google.protobuf.Value` under a sensitive key, possibly a list).
fn mask_all_strings(v: &mut Value, kind: MaskKind) {
    match v {
        Value::String(s) => *s = mask(kind, s),
        Value::Message(m) => {
            for (_, inner) in m.fields_mut() {
                mask_all_strings(inner, kind);
            }
        }
        Value::List(items) => items.iter_mut().for_each(|i| mask_all_strings(i, kind)),
        Value::Map(entries) => entries.values_mut().for_each(|i| mask_all_strings(i, kind)),
        _ => {}
    }
}

/// Masks a generated message by its full proto name (round trip through the descriptor pool).
pub fn mask_typed<M: Message + Default>(full_name: &str, msg: &mut M) {
    let desc = crate::schema::message(full_name);
    match DynamicMessage::decode(desc, msg.encode_to_vec().as_slice()) {
        Ok(mut dynamic) => {
            mask_message(&mut dynamic);
            match M::decode(dynamic.encode_to_vec().as_slice()) {
                Ok(masked) => *msg = masked,
                // Unreachable for a message of the contract; fail closed rather than leak.
                Err(_) => *msg = M::default(),
            }
        }
        Err(_) => *msg = M::default(),
    }
}

/// Masks a subscriber view: on the generated types, field by field (every read of a caller without
/// `read_pii` comes through here; the reflective [`mask_typed`] costs ~20× more). [`VIEW_RULES`] lists the
/// rules this reaches, and tests check that it is every rule reachable from `SubscriberView` and that the
/// result equals the reflective one.
pub fn mask_view(view: &mut SubscriberView) {
    use MaskKind::*;
    let m = |kind: MaskKind, s: &mut String| {
        if !s.is_empty() {
            *s = mask(kind, s);
        }
    };
    if let Some(c) = &mut view.customer {
        m(Name, &mut c.name);
        m(IdNumber, &mut c.id_number);
        m(Address, &mut c.address);
        m(Phone, &mut c.contact_phone);
        m(Email, &mut c.email);
    }
    if let Some(a) = &mut view.account {
        m(BankAccount, &mut a.bank_account);
    }
    if let Some(b) = view.network.as_mut().and_then(|n| n.broadband.as_mut()) {
        m(Address, &mut b.address);
    }
    if let Some(l) = &mut view.line {
        m(Serial, &mut l.imei);
        m(Serial, &mut l.iccid);
    }
    for s in view.extensions.values_mut() {
        mask_struct(s);
    }
}

/// The rules [`mask_view`] applies, by full field name.
pub const VIEW_RULES: &[&str] = &[
    "complaint.v1.Customer.name",
    "complaint.v1.Customer.id_number",
    "complaint.v1.Customer.address",
    "complaint.v1.Customer.contact_phone",
    "complaint.v1.Customer.email",
    "complaint.v1.Account.bank_account",
    "complaint.v1.BroadbandPort.address",
    "complaint.v1.Line.imei",
    "complaint.v1.Line.iccid",
];

/// A backend's extension fields: values under a sensitive key are masked (every string in them),
/// nested structs by their own keys.
fn mask_struct(s: &mut prost_types::Struct) {
    for (k, v) in s.fields.iter_mut() {
        match extension_rule(k) {
            Some(kind) => mask_all_pv(v, kind),
            None => mask_pv(v),
        }
    }
}

fn mask_pv(v: &mut prost_types::Value) {
    use prost_types::value::Kind;
    match &mut v.kind {
        Some(Kind::StructValue(s)) => mask_struct(s),
        Some(Kind::ListValue(l)) => l.values.iter_mut().for_each(mask_pv),
        _ => {}
    }
}

fn mask_all_pv(v: &mut prost_types::Value, kind: MaskKind) {
    use prost_types::value::Kind;
    match &mut v.kind {
        Some(Kind::StringValue(s)) => *s = mask(kind, s),
        Some(Kind::StructValue(st)) => st.fields.values_mut().for_each(|i| mask_all_pv(i, kind)),
        Some(Kind::ListValue(l)) => l.values.iter_mut().for_each(|i| mask_all_pv(i, kind)),
        _ => {}
    }
}

/// Masks a usage record.
pub fn mask_usage(rec: &mut UsageRecord) {
    if let Some(kind) = rule_for("complaint.v1.UsageRecord.counterpart") {
        rec.counterpart = mask(kind, &rec.counterpart);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::complaint::v1::{Account, BroadbandPort, Customer, Line, NetworkContext};

    #[test]
    fn masks_like_the_issue_says() {
        assert_eq!(mask_id_number("110105199003071234"), "110105********1234");
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳娜娜"), "欧***");
        assert_eq!(mask_phone("13800138000"), "138****8000");
        assert_eq!(mask_email("user12@example.com"), "u***@example.com");
        assert_eq!(mask(MaskKind::BankAccount, "6222000012345678"), "************5678");
        assert_eq!(mask_address("浙江省杭州市文三路123号4幢501室"), "浙江省杭州市****");
        assert_eq!(mask_address("somewhere"), "****");
        assert_eq!(mask(MaskKind::PhoneIfNumber, "cmnet"), "cmnet");
        assert_eq!(mask(MaskKind::PhoneIfNumber, "13912345678"), "139****5678");
        assert_eq!(mask(MaskKind::PhoneIfNumber, "10658447"), "10658447");
        assert_eq!(mask(MaskKind::PhoneIfNumber, "057188886666"), "057*****6666");
        assert_eq!(mask(MaskKind::IdNumber, "E1234567"), "E1****67");
        assert_eq!(mask(MaskKind::Name, ""), "");
    }

    #[test]
    fn view_fields_are_masked_wherever_they_are() {
        let mut v = SubscriberView {
            msisdn: "13800138000".into(),
            customer: Some(Customer {
                name: "王芳".into(),
                id_number: "330106199001011234".into(),
                address: "浙江省杭州市文三路1号".into(),
                contact_phone: "13800138000".into(),
                email: "a@b.cn".into(),
                city_name: "杭州".into(),
                region_code: "0571".into(),
                ..Default::default()
            }),
            account: Some(Account {
                bank_account: "6222000000001234".into(),
                ..Default::default()
            }),
            line: Some(Line {
                imei: "861234567890123".into(),
                terminal_model: "Mate 60".into(),
                ..Default::default()
            }),
            network: Some(NetworkContext {
                broadband: Some(BroadbandPort {
                    address: "浙江省宁波市中山路8号".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut ext = prost_types::Struct::default();
        ext.fields.insert(
            "holder_name".into(),
            prost_types::Value {
                kind: Some(prost_types::value::Kind::StringValue("李四".into())),
            },
        );
        ext.fields.insert(
            "points".into(),
            prost_types::Value {
                kind: Some(prost_types::value::Kind::StringValue("1200".into())),
            },
        );
        v.extensions.insert("loyalty".into(), ext);
        mask_view(&mut v);
        let c = v.customer.as_ref().unwrap();
        assert_eq!(c.name, "王*");
        assert_eq!(c.id_number, "330106********1234");
        assert_eq!(c.address, "浙江省杭州市****");
        assert_eq!(c.contact_phone, "138****8000");
        assert_eq!(c.email, "a***@b.cn");
        // Not personal: untouched.
        assert_eq!((c.city_name.as_str(), c.region_code.as_str()), ("杭州", "0571"));
        assert_eq!(v.msisdn, "13800138000");
        assert_eq!(v.account.unwrap().bank_account, "************1234");
        let line = v.line.unwrap();
        assert_eq!(
            (line.imei.as_str(), line.terminal_model.as_str()),
            ("86123456*******", "Mate 60")
        );
        assert_eq!(v.network.unwrap().broadband.unwrap().address, "浙江省宁波市****");
        let ext = &v.extensions["loyalty"].fields;
        let s = |k: &str| match &ext[k].kind {
            Some(prost_types::value::Kind::StringValue(s)) => s.clone(),
            _ => panic!(),
        };
        assert_eq!((s("holder_name").as_str(), s("points").as_str()), ("李*", "1200"));
    }

    /// The rules of every field reachable from `message` (through nested messages, lists and maps).
    fn reachable_rules(message: &prost_reflect::MessageDescriptor, seen: &mut Vec<String>, out: &mut Vec<String>) {
        if seen.iter().any(|s| s == message.full_name()) {
            return;
        }
        seen.push(message.full_name().to_string());
        for f in message.fields() {
            if rule_for(f.full_name()).is_some() {
                out.push(f.full_name().to_string());
            }
            if let prost_reflect::Kind::Message(inner) = f.kind() {
                reachable_rules(&inner, seen, out);
            }
        }
    }

    /// The typed view masking applies every rule a view can reach: a PII field added to a message of the
    /// view needs a rule (test above) and then a line in `mask_view`, or this fails.
    #[test]
    fn the_typed_view_masking_covers_every_rule_the_view_reaches() {
        let (mut seen, mut reachable) = (Vec::new(), Vec::new());
        reachable_rules(&crate::schema::view_descriptor(), &mut seen, &mut reachable);
        reachable.sort();
        let mut typed: Vec<String> = VIEW_RULES.iter().map(|s| s.to_string()).collect();
        typed.sort();
        assert_eq!(typed, reachable);
        for r in VIEW_RULES {
            assert!(rule_for(r).is_some(), "{r}");
        }
    }

    /// Typed and reflective masking agree on demo subscribers of every situation, and on extensions
    /// with sensitive keys, nested structs and lists.
    #[test]
    fn typed_view_masking_equals_the_reflective_one() {
        use prost_types::value::Kind;
        let sv = |s: &str| prost_types::Value {
            kind: Some(Kind::StringValue(s.into())),
        };
        let list = |vs: Vec<prost_types::Value>| prost_types::Value {
            kind: Some(Kind::ListValue(prost_types::ListValue { values: vs })),
        };
        let mut nested = prost_types::Struct::default();
        nested.fields.insert(
            "contact_phone".into(),
            list(vec![sv("13912345678"), sv("057188886666")]),
        );
        nested.fields.insert("note".into(), sv("VIP"));
        let mut ext = prost_types::Struct::default();
        ext.fields.insert("holder_name".into(), sv("欧阳娜娜"));
        ext.fields
            .insert("install_address".into(), sv("浙江省杭州市西湖区文三路1号"));
        ext.fields.insert(
            "contacts".into(),
            prost_types::Value {
                kind: Some(Kind::StructValue(nested.clone())),
            },
        );
        ext.fields.insert(
            "cardNo".into(),
            prost_types::Value {
                kind: Some(Kind::StructValue(nested)),
            },
        );
        ext.fields.insert(
            "points".into(),
            prost_types::Value {
                kind: Some(Kind::NumberValue(1200.0)),
            },
        );
        // A view with every field set, then with real-looking, short, empty and odd values.
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-01T08:00:00+08:00").unwrap();
        let full: SubscriberView =
            prost::Message::decode(crate::diagnosis::value::sample_view(at).encode_to_vec().as_slice()).unwrap();
        let values = [
            (
                "王芳",
                "330106199001011234",
                "浙江省杭州市文三路1号",
                "13800138000",
                "a@b.cn",
                "6222000000001234",
            ),
            ("J", "E1234567", "somewhere", "12345", "no-at-sign", "12"),
            ("", "", "", "", "", ""),
            ("欧阳娜娜", "1234", "区", "057188886666", "@x", "6222 0000 1234"),
        ];
        let mut checked = 0;
        for (i, (name, id, addr, phone, email, bank)) in values.into_iter().enumerate() {
            let mut view = full.clone();
            let c = view.customer.as_mut().unwrap();
            (c.name, c.id_number, c.address, c.contact_phone, c.email) =
                (name.into(), id.into(), addr.into(), phone.into(), email.into());
            view.account.as_mut().unwrap().bank_account = bank.into();
            view.line.as_mut().unwrap().imei = format!("{phone}{id}");
            view.network.as_mut().unwrap().broadband.as_mut().unwrap().address = addr.into();
            view.extensions.insert("loyalty".into(), ext.clone());
            for v in [view.clone(), full.clone()] {
                let mut typed = v.clone();
                mask_view(&mut typed);
                let mut reflective = v.clone();
                mask_typed("complaint.v1.SubscriberView", &mut reflective);
                assert_eq!(typed, reflective, "case {i}");
                assert_ne!(typed, v, "case {i}: nothing masked");
                checked += 1;
            }
        }
        assert_eq!(checked, 8);
    }

    /// Every string field of the contract whose name suggests personal data has a rule.
    #[test]
    fn every_personal_field_has_a_rule() {
        let hints = [
            "name",
            "id_number",
            "address",
            "phone",
            "email",
            "bank",
            "imei",
            "iccid",
            "counterpart",
        ];
        // Names of things, not people.
        let not_personal = [
            "city_name",
            "service_name",
            "pending_plan_name",
            "olt_name",
            "display_name",
            "complaint.v1.Plan.name",
            "complaint.v1.Cell.name",
            "complaint.v1.Kpi.name",
        ];
        for msg in crate::schema::pool().all_messages() {
            if !msg.full_name().starts_with("complaint.v1.") {
                continue;
            }
            for f in msg.fields() {
                if f.kind() != prost_reflect::Kind::String {
                    continue;
                }
                let looks_personal = hints.iter().any(|h| f.name().contains(h))
                    && !not_personal.contains(&f.name())
                    && !not_personal.contains(&f.full_name());
                if looks_personal && !f.full_name().starts_with("complaint.v1.Identity") {
                    assert!(
                        rule_for(f.full_name()).is_some(),
                        "{} has no masking rule",
                        f.full_name()
                    );
                }
            }
        }
    }
}
