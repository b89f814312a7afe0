//! The types the load-time check infers for scenario expressions: a value of the view's schema, a
//! literal's kind, the result of an operator or a standard function, a macro's result (`filter` keeps its
//! list's items, `exists` gives true or false). `values.<name>` carries the type of its expression, so
//! field paths into a computed value, the filters a template gives it and the action arguments it feeds
//! are checked at load rather than found wrong in front of a customer.
use crate::schema::Shape;
use cel::common::ast::{operators, LiteralValue};
use prost_reflect::Kind;

/// What an expression's value is, as far as the check can tell.
#[derive(Clone, Debug)]
pub enum Ty {
    /// A value of the view's schema, a literal (`Shape::Scalar`), or a list or map; `Shape::Dynamic`
    /// when unknown.
    Schema(Shape),
    /// `answers`: its fields are the scenario's question ids.
    Answers,
    /// `answers.<id>`: a string, one of the question's allowed answers.
    Answer(String),
    /// `values`: its fields are the values computed so far.
    Values,
    /// `complaint`: its one field is `period`.
    Complaint,
    /// `complaint.period`: the period the text names (see `diagnosis::period`).
    Period,
}

/// The unknown type: nothing is checked below it.
pub const DYN: Ty = Ty::Schema(Shape::Dynamic);

/// What a template filter, an action argument or a condition needs to know of a type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Bool,
    Number,
    Text,
    /// An enum value (handed to expressions and templates by its name, a string).
    Enum,
    Time,
    List,
    Map,
    Message,
    Unknown,
}

impl Ty {
    /// A scalar of kind `k`.
    pub fn scalar(k: Kind) -> Ty {
        Ty::Schema(Shape::Scalar(k))
    }

    pub fn bool() -> Ty {
        Ty::scalar(Kind::Bool)
    }

    pub fn int() -> Ty {
        Ty::scalar(Kind::Int64)
    }

    pub fn string() -> Ty {
        Ty::scalar(Kind::String)
    }

    pub fn class(&self) -> Class {
        match self {
            Ty::Schema(s) => match s {
                Shape::Message(_) => Class::Message,
                Shape::List(_) => Class::List,
                Shape::Map(_) => Class::Map,
                Shape::Enum(_) => Class::Enum,
                Shape::Timestamp => Class::Time,
                Shape::Scalar(k) => match k {
                    Kind::Bool => Class::Bool,
                    Kind::String | Kind::Bytes => Class::Text,
                    Kind::Message(_) | Kind::Enum(_) => Class::Unknown,
                    _ => Class::Number,
                },
                Shape::Dynamic => Class::Unknown,
            },
            Ty::Answer(_) => Class::Text,
            Ty::Answers | Ty::Values | Ty::Complaint | Ty::Period => Class::Map,
        }
    }

    /// `a number`, `a list of complaint.v1.Charge`, … for messages.
    pub fn describe(&self) -> String {
        match self {
            Ty::Schema(Shape::Message(m)) => format!("a {} message", m.full_name()),
            Ty::Schema(Shape::List(item)) => match &**item {
                Shape::Message(m) => format!("a list of {}", m.full_name()),
                Shape::Dynamic => "a list".into(),
                other => format!("a list of {}", plural(&Ty::Schema(other.clone()))),
            },
            Ty::Schema(Shape::Enum(e)) => format!("an enum value ({})", e.full_name()),
            Ty::Answer(q) => format!("the answer to `{q}` (a string)"),
            Ty::Complaint => "the complaint (a map with `period`)".into(),
            Ty::Period => "the period the complaint names (a map)".into(),
            t => match t.class() {
                Class::Bool => "true or false".into(),
                Class::Number => "a number".into(),
                Class::Text => "a string".into(),
                Class::Enum => "an enum value".into(),
                Class::Time => "a timestamp".into(),
                Class::List => "a list".into(),
                Class::Map => "a map".into(),
                Class::Message => "a message".into(),
                Class::Unknown => "a value of unknown type".into(),
            },
        }
    }

    /// The item of a list, the value of a map.
    pub fn item(&self) -> Ty {
        match self {
            Ty::Schema(Shape::List(t)) | Ty::Schema(Shape::Map(t)) => Ty::Schema((**t).clone()),
            _ => DYN,
        }
    }

    fn is_dynamic(&self) -> bool {
        matches!(self, Ty::Schema(Shape::Dynamic))
    }
}

/// The field `field` of `complaint` or `complaint.period`, with its type; a field that is not one is
/// refused, naming the fields there are.
pub fn select_complaint(t: &Ty, field: &str) -> Result<Ty, String> {
    use crate::diagnosis::period::FIELDS;
    match t {
        Ty::Complaint if field == "period" => Ok(Ty::Period),
        Ty::Complaint => Err(format!("`{field}` is not a field of the complaint (fields: period)")),
        Ty::Period => match FIELDS.iter().find(|(f, _)| *f == field) {
            Some((_, "bool")) => Ok(Ty::bool()),
            Some((_, "timestamp")) => Ok(Ty::Schema(Shape::Timestamp)),
            Some((_, "list")) => Ok(Ty::Schema(Shape::List(Box::new(Shape::Scalar(Kind::String))))),
            Some(_) => Ok(Ty::string()),
            None => {
                let names: Vec<&str> = FIELDS.iter().map(|(f, _)| *f).collect();
                let hint = crate::schema::closest(field, names.iter().copied())
                    .map(|c| format!("did you mean `{c}`?"))
                    .unwrap_or_else(|| format!("fields: {}", names.join(", ")));
                Err(format!("`{field}` is not a field of complaint.period ({hint})"))
            }
        },
        other => Err(format!(
            "cannot select `{field}`: {} has no such field",
            other.describe()
        )),
    }
}

fn plural(t: &Ty) -> &'static str {
    match t.class() {
        Class::Bool => "true/false values",
        Class::Number => "numbers",
        Class::Text => "strings",
        Class::Enum => "enum values",
        Class::Time => "timestamps",
        Class::List => "lists",
        Class::Map => "maps",
        Class::Message => "messages",
        Class::Unknown => "values",
    }
}

/// The more specific of two types one value may have (an empty list literal refined by what is added
/// to it).
pub fn refine(a: &Ty, b: &Ty) -> Ty {
    match (a, b) {
        (a, b) if a.is_dynamic() => b.clone(),
        (Ty::Schema(Shape::List(x)), Ty::Schema(Shape::List(y))) => {
            match refine(&Ty::Schema((**x).clone()), &Ty::Schema((**y).clone())) {
                Ty::Schema(s) => Ty::Schema(Shape::List(Box::new(s))),
                _ => a.clone(),
            }
        }
        _ => a.clone(),
    }
}

/// The type of a literal.
pub fn literal(l: &LiteralValue) -> Ty {
    match l {
        LiteralValue::Boolean(_) => Ty::bool(),
        LiteralValue::Int(_) => Ty::int(),
        LiteralValue::UInt(_) => Ty::scalar(Kind::Uint64),
        LiteralValue::Double(_) => Ty::scalar(Kind::Double),
        LiteralValue::String(_) => Ty::string(),
        LiteralValue::Bytes(_) => Ty::scalar(Kind::Bytes),
        LiteralValue::Null => DYN,
    }
}

/// The result of operator or function `name` given arguments (the target first, for a method call) of
/// types `args`; unknown functions give [`DYN`].
pub fn call(name: &str, args: &[Ty]) -> Ty {
    let arg = |i: usize| args.get(i).cloned().unwrap_or(DYN);
    match name {
        operators::LOGICAL_AND
        | operators::LOGICAL_OR
        | operators::LOGICAL_NOT
        | operators::NOT_STRICTLY_FALSE
        | operators::EQUALS
        | operators::NOT_EQUALS
        | operators::LESS
        | operators::LESS_EQUALS
        | operators::GREATER
        | operators::GREATER_EQUALS
        | operators::IN
        | operators::HAS
        | "contains"
        | "startsWith"
        | "endsWith"
        | "matches"
        | "bool" => Ty::bool(),
        "size" | "int" | "getFullYear" | "getMonth" | "getDate" | "getDayOfMonth" | "getDayOfWeek" | "getDayOfYear"
        | "getHours" | "getMinutes" | "getSeconds" | "getMilliseconds" => Ty::int(),
        "uint" => Ty::scalar(Kind::Uint64),
        "double" => Ty::scalar(Kind::Double),
        "string" => Ty::string(),
        "timestamp" => Ty::Schema(Shape::Timestamp),
        operators::INDEX | operators::OPT_INDEX => arg(0).item(),
        operators::CONDITIONAL => {
            let (a, b) = (arg(1), arg(2));
            if a.class() == b.class() || b.is_dynamic() {
                refine(&a, &b)
            } else if a.is_dynamic() {
                b
            } else {
                DYN
            }
        }
        operators::ADD => {
            let (a, b) = (arg(0), arg(1));
            match (a.class(), b.class()) {
                (Class::List, Class::List) => refine(&a, &b),
                (Class::Number, Class::Number) | (Class::Text, Class::Text) if same_kind(&a, &b) => a,
                (Class::Time, _) | (_, Class::Time) => Ty::Schema(Shape::Timestamp),
                _ => DYN,
            }
        }
        operators::SUBSTRACT | operators::MULTIPLY | operators::DIVIDE | operators::MODULO => {
            let (a, b) = (arg(0), arg(1));
            match (a.class(), b.class()) {
                (Class::Number, Class::Number) if same_kind(&a, &b) => a,
                _ => DYN,
            }
        }
        operators::NEGATE => match arg(0).class() {
            Class::Number => arg(0),
            _ => DYN,
        },
        // The gateway's own: `sum(list)` of integers; `max`/`min` of their arguments.
        "sum" => Ty::int(),
        "max" | "min" => match args {
            [one] if one.class() == Class::List => one.item(),
            [first, ..] if args.iter().all(|t| same_kind(t, first)) => first.clone(),
            _ => DYN,
        },
        _ => DYN,
    }
}

/// Two scalars of one kind family (CEL does not mix int and double without a conversion).
fn same_kind(a: &Ty, b: &Ty) -> bool {
    match (a, b) {
        (Ty::Schema(Shape::Scalar(x)), Ty::Schema(Shape::Scalar(y))) => family(x) == family(y),
        _ => a.class() == b.class() && a.class() == Class::Text,
    }
}

fn family(k: &Kind) -> u8 {
    match k {
        Kind::Double | Kind::Float => 1,
        Kind::Uint32 | Kind::Uint64 | Kind::Fixed32 | Kind::Fixed64 => 2,
        Kind::Int32 | Kind::Int64 | Kind::Sint32 | Kind::Sint64 | Kind::Sfixed32 | Kind::Sfixed64 => 3,
        Kind::String => 4,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_and_functions() {
        assert_eq!(call(operators::ADD, &[Ty::int(), Ty::int()]).class(), Class::Number);
        assert_eq!(call(operators::ADD, &[Ty::int(), Ty::string()]).class(), Class::Unknown);
        assert_eq!(call("size", &[DYN]).class(), Class::Number);
        assert_eq!(call(operators::GREATER, &[Ty::int(), Ty::int()]).class(), Class::Bool);
        let list = Ty::Schema(Shape::List(Box::new(Shape::Scalar(Kind::String))));
        assert_eq!(call(operators::INDEX, &[list.clone(), Ty::int()]).class(), Class::Text);
        assert_eq!(
            refine(&Ty::Schema(Shape::List(Box::new(Shape::Dynamic))), &list).describe(),
            "a list of strings"
        );
        assert_eq!(
            call(operators::CONDITIONAL, &[Ty::bool(), Ty::int(), Ty::string()]).class(),
            Class::Unknown
        );
        assert_eq!(call("max", &[Ty::int(), Ty::int()]).class(), Class::Number);
    }
}
