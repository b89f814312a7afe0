//! The declarative adapter definition (`adapters/<system>/adapter.toml`) and its compiled form.
//!
//! A definition says which SQL runs for each entity, which request values it binds, and how each result
//! column maps onto a field of the unified `SubscriberView`. Every field path is checked against the proto
//! schema at load, so a misspelt path fails at start-up naming the file, entity and column.
pub use super::column_type::ColumnType;
use super::text::SqlTemplate;
use crate::assets::Folder;
use crate::schema::{self, Items, PathErrorKind, PathStep, SelectError};
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Parameters a query may bind. Request values are always bound, never spliced into the SQL.
pub const ENTITY_PARAMS: &[&str] = &["msisdn", "operator_id"];
/// Parameters a stream query may bind.
pub const STREAM_PARAMS: &[&str] = &["msisdn", "operator_id", "from", "to"];

/// The file name of a definition inside its folder.
pub const DEFINITION_FILE: &str = "adapter.toml";

/// `adapter.toml`, as written by a platform team.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefinitionFile {
    /// Source name, as shown in `SourceStatus.source` and accepted in request filters. `[a-z0-9_]+`.
    pub name: String,
    /// What system this is, for people.
    #[serde(default)]
    pub description: String,
    /// Environment variable that holds the connection URL when the gateway config does not set `url`.
    #[serde(default)]
    pub url_env: Option<String>,
    /// The entity whose empty result means "this source does not know the subscriber".
    pub primary: String,
    /// PostgreSQL only: a channel on which the backend announces changed subscribers
    /// (`NOTIFY channel, '<msisdn>'`, or `'*'` for everything); the gateway drops their cached answers.
    #[serde(default)]
    pub notify_channel: Option<String>,
    /// Offset of the backend's zone-less timestamps, e.g. "+08:00" (the default).
    #[serde(default = "default_offset")]
    pub utc_offset: String,
    /// Entities fetched for `GetSubscriberView`, by name.
    #[serde(default)]
    pub entities: BTreeMap<String, EntityDef>,
    /// Streams: `usage_records` serves `StreamUsage`.
    #[serde(default)]
    pub streams: BTreeMap<String, StreamDef>,
}

fn default_offset() -> String {
    "+08:00".into()
}

/// One entity: a query and the mapping of its columns.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityDef {
    /// Where the rows go in the view: a dotted path from `SubscriberView` (e.g. `account`, `recent_bills`,
    /// `network.cells`), or `extensions` for fields outside the unified schema.
    pub target: String,
    /// SQL file in the adapter folder. Exactly one of `sql` and `query`.
    #[serde(default)]
    pub sql: Option<String>,
    /// Inline SQL.
    #[serde(default)]
    pub query: Option<String>,
    /// Columns whose equal values fold rows into one element of a repeated target.
    #[serde(default)]
    pub key: Vec<String>,
    /// How long a fetched value may be served from cache, in seconds.
    #[serde(default)]
    pub ttl_secs: Option<u64>,
    /// Result column → unified field.
    pub fields: BTreeMap<String, FieldSpec>,
}

/// A stream: rows map onto `UsageRecord`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamDef {
    #[serde(default)]
    pub sql: Option<String>,
    #[serde(default)]
    pub query: Option<String>,
    /// How `from` and `to` are bound: a chrono format to bind them as text (e.g. "%Y%m%d%H%M%S" for a
    /// VARCHAR(14) column); unset binds a timestamp in the adapter's `utc_offset`.
    #[serde(default)]
    pub time_param_format: Option<String>,
    pub fields: BTreeMap<String, FieldSpec>,
}

/// A column's mapping: a bare field path, or a table with conversions.
#[derive(Debug, Clone)]
pub struct FieldSpec(pub FieldMapping);

impl<'de> Deserialize<'de> for FieldSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = toml::Value::deserialize(d)?;
        match v {
            toml::Value::String(field) => Ok(FieldSpec(FieldMapping {
                field,
                ..Default::default()
            })),
            toml::Value::Table(_) => FieldMapping::deserialize(v)
                .map(FieldSpec)
                .map_err(serde::de::Error::custom),
            other => Err(serde::de::Error::custom(format!(
                "expected a field path string or a table like {{ field = \"...\" }}, found a {}",
                other.type_str()
            ))),
        }
    }
}

/// Conversions applied on the way from a column to a field.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    /// Field path relative to the target element; `items[].amount_fen` adds one child element per row.
    pub field: String,
    /// The column's type in the backend: text, integer, decimal, float, timestamp, date, bool.
    #[serde(default, rename = "type")]
    pub column_type: Option<ColumnType>,
    /// A unit conversion.
    #[serde(default)]
    pub convert: Option<Convert>,
    /// chrono format of a timestamp held as text or digits, e.g. "%Y%m%d%H%M%S".
    #[serde(default)]
    pub format: Option<String>,
    /// Backend code → unified value (an enum value name such as "SUSPENDED", or any text).
    #[serde(default)]
    pub map: Option<BTreeMap<String, String>>,
    /// Value to use where the column is NULL.
    #[serde(default)]
    pub default: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Convert {
    /// Yuan (decimal) to fen (integer): × 100, rounded.
    YuanToFen,
    /// Kilobytes to megabytes: ÷ 1024, rounded.
    KbToMb,
    /// Seconds to minutes, rounded up (how carriers bill voice).
    SecondsToMinutes,
    /// A present, non-empty value means true.
    Present,
    /// A date or time (typed, Unix seconds or text read with `format`) to its billing cycle, `YYYYMM`, in
    /// the adapter's `utc_offset`: for bills that keep no cycle column of their own.
    DateToCycle,
}

/// A definition error: always names the file and, where it applies, the entity and column.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct DefinitionError {
    pub file: PathBuf,
    pub message: String,
}

/// Where an entity's rows go.
#[derive(Debug, Clone)]
pub enum Target {
    /// A (possibly nested) message field of the view; `repeated` when it holds a list.
    Field {
        path: Vec<FieldDescriptor>,
        element: MessageDescriptor,
        repeated: bool,
    },
    /// Free-form fields under `SubscriberView.extensions[source]`.
    Extensions,
}

/// A field path compiled against the schema.
#[derive(Debug, Clone)]
pub struct CompiledPath {
    /// Singular message fields leading to the leaf, or to the list.
    pub prefix: Vec<FieldDescriptor>,
    /// The repeated message field (`x[]`) and the path inside each child, if the path has one.
    pub list: Option<(FieldDescriptor, Vec<FieldDescriptor>)>,
    /// The dotted path as written.
    pub text: String,
}

impl CompiledPath {
    pub fn leaf(&self) -> &FieldDescriptor {
        match &self.list {
            Some((_, inner)) => inner.last().expect("non-empty"),
            None => self.prefix.last().expect("non-empty"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CompiledField {
    pub column: String,
    pub path: CompiledPath,
    pub mapping: FieldMapping,
}

#[derive(Debug, Clone)]
pub struct CompiledEntity {
    pub name: String,
    pub target: Target,
    pub target_text: String,
    pub sql: SqlTemplate,
    pub sql_file: Option<PathBuf>,
    pub key: Vec<String>,
    pub ttl_secs: Option<u64>,
    pub fields: Vec<CompiledField>,
}

#[derive(Debug, Clone)]
pub struct CompiledStream {
    pub name: String,
    pub sql: SqlTemplate,
    pub sql_file: Option<PathBuf>,
    pub time_param_format: Option<String>,
    pub fields: Vec<CompiledField>,
}

/// A definition loaded from its folder and checked against the schema.
#[derive(Debug, Clone)]
pub struct Definition {
    pub dir: PathBuf,
    pub file: PathBuf,
    pub name: String,
    pub description: String,
    pub url_env: Option<String>,
    pub primary: String,
    /// Channel for pushed cache invalidations (PostgreSQL LISTEN/NOTIFY).
    pub notify_channel: Option<String>,
    pub utc_offset: chrono::FixedOffset,
    pub entities: Vec<CompiledEntity>,
    pub streams: Vec<CompiledStream>,
}

impl Definition {
    /// Loads `DIR/adapter.toml` and compiles it against the view schema. `DIR` may be
    /// `embedded:<system>`, an adapter folder shipped in the binary.
    pub fn load(dir: &Path) -> Result<Definition, DefinitionError> {
        let folder = Folder::from_config(dir).map_err(|message| DefinitionError {
            file: dir.to_path_buf(),
            message,
        })?;
        Self::load_folder(&folder)
    }

    /// Loads and compiles the definition in `folder` (on disk or embedded).
    pub fn load_folder(folder: &Folder) -> Result<Definition, DefinitionError> {
        let file = PathBuf::from(folder.path_of(DEFINITION_FILE));
        let err = |message: String| DefinitionError {
            file: file.clone(),
            message,
        };
        let text = folder
            .read(DEFINITION_FILE)
            .map_err(|e| err(format!("cannot read: {e}")))?;
        let def: DefinitionFile = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        Self::compile(folder, &file, def)
    }

    fn compile(dir: &Folder, file: &Path, def: DefinitionFile) -> Result<Definition, DefinitionError> {
        let err = |message: String| DefinitionError {
            file: file.to_path_buf(),
            message,
        };
        if def.name.is_empty()
            || !def
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(err(format!(
                "key `name`: `{}` must be non-empty and match [a-z0-9_]+",
                def.name
            )));
        }
        let utc_offset: chrono::FixedOffset = def.utc_offset.parse().map_err(|_| {
            err(format!(
                "key `utc_offset`: `{}` is not an offset like \"+08:00\"",
                def.utc_offset
            ))
        })?;
        if def.entities.is_empty() {
            return Err(err("no [entities.*] declared".into()));
        }
        if let Some(ch) = &def.notify_channel {
            let ok = ch.len() <= 63
                && ch.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && ch
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok {
                return Err(err(format!(
                    "key `notify_channel`: `{ch}` must match [a-z_][a-z0-9_]* (at most 63 characters)"
                )));
            }
        }
        if !def.entities.contains_key(&def.primary) {
            return Err(err(format!(
                "key `primary`: entity `{}` is not declared (declared: {})",
                def.primary,
                def.entities.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let view = crate::schema::view_descriptor();
        let mut entities = Vec::new();
        for (name, e) in &def.entities {
            let at = |m: String| err(format!("entities.{name}: {m}"));
            let (sql_text, sql_file) = load_sql(dir, e.sql.as_deref(), e.query.as_deref()).map_err(at)?;
            let sql = SqlTemplate::parse(&sql_text, ENTITY_PARAMS).map_err(|m| at(format!("sql: {m}")))?;
            let (target, element) = if e.target == "extensions" {
                (Target::Extensions, None)
            } else {
                let (path, element, repeated) =
                    compile_target(&view, &e.target).map_err(|m| at(format!("target: {m}")))?;
                (
                    Target::Field {
                        path,
                        element: element.clone(),
                        repeated,
                    },
                    Some(element),
                )
            };
            let mut fields = Vec::new();
            for (column, FieldSpec(m)) in &e.fields {
                let path = match &element {
                    Some(el) => compile_path(el, &m.field)
                        .map_err(|msg| at(format!("fields.{column}: field `{}`: {msg}", m.field)))?,
                    None => {
                        if m.field.is_empty() || m.field.contains(['.', '[']) {
                            return Err(at(format!(
                                "fields.{column}: extension field `{}` must be a plain name",
                                m.field
                            )));
                        }
                        CompiledPath {
                            prefix: vec![],
                            list: None,
                            text: m.field.clone(),
                        }
                    }
                };
                check_mapping(&path, m).map_err(|msg| at(format!("fields.{column}: {msg}")))?;
                fields.push(CompiledField {
                    column: column.to_ascii_lowercase(),
                    path,
                    mapping: m.clone(),
                });
            }
            if fields.is_empty() {
                return Err(at("no fields mapped".into()));
            }
            for k in &e.key {
                if !e.fields.contains_key(k) {
                    return Err(at(format!("key column `{k}` is not among the mapped fields")));
                }
            }
            entities.push(CompiledEntity {
                name: name.clone(),
                target,
                target_text: e.target.clone(),
                sql,
                sql_file,
                key: e.key.iter().map(|k| k.to_ascii_lowercase()).collect(),
                ttl_secs: e.ttl_secs,
                fields,
            });
        }
        let record = crate::schema::message("complaint.v1.UsageRecord");
        let mut streams = Vec::new();
        for (name, s) in &def.streams {
            let at = |m: String| err(format!("streams.{name}: {m}"));
            if name != "usage_records" {
                return Err(at("unknown stream (supported: usage_records)".into()));
            }
            let (sql_text, sql_file) = load_sql(dir, s.sql.as_deref(), s.query.as_deref()).map_err(at)?;
            let sql = SqlTemplate::parse(&sql_text, STREAM_PARAMS).map_err(|m| at(format!("sql: {m}")))?;
            let mut fields = Vec::new();
            for (column, FieldSpec(m)) in &s.fields {
                let path = compile_path(&record, &m.field)
                    .map_err(|msg| at(format!("fields.{column}: field `{}`: {msg}", m.field)))?;
                if path.list.is_some() {
                    return Err(at(format!("fields.{column}: lists are not supported in streams")));
                }
                check_mapping(&path, m).map_err(|msg| at(format!("fields.{column}: {msg}")))?;
                fields.push(CompiledField {
                    column: column.to_ascii_lowercase(),
                    path,
                    mapping: m.clone(),
                });
            }
            streams.push(CompiledStream {
                name: name.clone(),
                sql,
                sql_file,
                time_param_format: s.time_param_format.clone(),
                fields,
            });
        }
        Ok(Definition {
            dir: dir.config_path(),
            file: file.to_path_buf(),
            name: def.name,
            description: def.description,
            url_env: def.url_env,
            primary: def.primary,
            notify_channel: def.notify_channel,
            utc_offset,
            entities,
            streams,
        })
    }
}

fn load_sql(dir: &Folder, file: Option<&str>, inline: Option<&str>) -> Result<(String, Option<PathBuf>), String> {
    match (file, inline) {
        (Some(f), None) => {
            let p = PathBuf::from(dir.path_of(f));
            let text = dir
                .read(f)
                .map_err(|e| format!("sql: cannot read `{}`: {e}", p.display()))?;
            Ok((text, Some(p)))
        }
        (None, Some(q)) => Ok((q.to_string(), None)),
        (Some(_), Some(_)) => Err("give either `sql` (a file) or `query` (inline), not both".into()),
        (None, None) => Err("missing `sql` (a file) or `query` (inline SQL)".into()),
    }
}

fn compile_target(
    view: &MessageDescriptor,
    target: &str,
) -> Result<(Vec<FieldDescriptor>, MessageDescriptor, bool), String> {
    let (fields, failed) = resolve_fields(view, target, Items::Index);
    let segs: Vec<&str> = target.split('.').collect();
    let mut path = Vec::new();
    for (i, (seg, fd)) in segs.iter().zip(&fields).enumerate() {
        let Some(fd) = fd else { break };
        let Kind::Message(m) = fd.kind() else {
            return Err(format!("`{seg}` is not a message field"));
        };
        if fd.is_map() || is_well_known(&m) {
            return Err(format!("`{seg}` cannot be a target"));
        }
        let last = i + 1 == segs.len();
        if fd.is_list() && !last {
            return Err(format!(
                "`{seg}` is a list: only the last segment of a target may be one"
            ));
        }
        path.push(fd.clone());
        if last && failed.is_none() {
            return Ok((path, m, fd.is_list()));
        }
    }
    Err(match failed {
        Some(e) => path_error(&e),
        None => "empty target".into(),
    })
}

fn is_well_known(m: &MessageDescriptor) -> bool {
    m.full_name().starts_with("google.protobuf.")
}

/// Resolves `path` against `root` with the schema's resolver and gives, segment by segment, the field it
/// names (`None` for a list index or a map key); on failure, the fields of the segments before the one at
/// fault (and of that one, if it names a field), so the checks below run in the order the path is written.
fn resolve_fields(
    root: &MessageDescriptor,
    path: &str,
    items: Items,
) -> (Vec<Option<FieldDescriptor>>, Option<schema::PathError>) {
    let (steps, failed) = match schema::resolve(root, path, items) {
        Ok(r) => (r.steps, None),
        Err(e) => (e.resolved.clone(), Some(e)),
    };
    let fields = steps
        .into_iter()
        .filter_map(|s| match s {
            PathStep::Field(f) => Some(Some(f)),
            PathStep::Key(_) => Some(None),
            // `x[]` is one segment with its field; an index is a segment of its own.
            PathStep::Item => (items == Items::Index).then_some(None),
        })
        .collect();
    (fields, failed)
}

/// A path that does not resolve, in the words of definition errors.
fn path_error(e: &schema::PathError) -> String {
    match &e.kind {
        PathErrorKind::Select(SelectError::UnknownField(u)) => {
            let hint = u
                .suggestion
                .as_ref()
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            format!("`{}` has no field `{}`{hint}", u.message.name(), u.name)
        }
        PathErrorKind::Select(SelectError::OfList(_)) => {
            let seg = e.previous().unwrap_or_default();
            format!("`{seg}` is a list: write `{seg}[]`")
        }
        PathErrorKind::Select(SelectError::NoFields) => {
            format!("`{}` is not a message", e.previous().unwrap_or_default())
        }
        PathErrorKind::NotAList => {
            let seg = e.segment();
            format!("`{seg}` is not a list: write `{seg}` without []")
        }
    }
}

/// Compiles a field path relative to `element`: `a.b`, or `items[].amount_fen`.
pub fn compile_path(element: &MessageDescriptor, path: &str) -> Result<CompiledPath, String> {
    let (fields, failed) = resolve_fields(element, path, Items::Brackets);
    let segs: Vec<&str> = path.split('.').collect();
    let mut prefix = Vec::new();
    let mut list: Option<(FieldDescriptor, Vec<FieldDescriptor>)> = None;
    for (i, (raw, fd)) in segs.iter().zip(&fields).enumerate() {
        // A map key: only below a map field, refused at the map.
        let Some(fd) = fd else { break };
        let last = i + 1 == segs.len();
        let (seg, is_list) = match raw.strip_suffix("[]") {
            Some(s) => (s, true),
            None => (*raw, false),
        };
        if fd.is_map() {
            return Err(format!("`{seg}` is a map field and cannot be mapped"));
        }
        if is_list != fd.is_list() {
            return Err(if fd.is_list() {
                format!("`{seg}` is a list: write `{seg}[]`")
            } else {
                format!("`{seg}` is not a list: write `{seg}` without []")
            });
        }
        if is_list && list.is_some() {
            return Err("only one list (`x[]`) per path is supported".into());
        }
        match fd.kind() {
            Kind::Message(m) if !is_well_known(&m) => {
                if last {
                    return Err(format!("`{seg}` is a message; map a field inside it"));
                }
                if is_list {
                    list = Some((fd.clone(), Vec::new()));
                } else {
                    push(&mut prefix, &mut list, fd.clone());
                }
            }
            _ => {
                if !last {
                    return Err(format!("`{seg}` is not a message"));
                }
                if is_list {
                    return Err(format!("`{seg}` is a list of scalars; not supported"));
                }
                push(&mut prefix, &mut list, fd.clone());
            }
        }
    }
    if let Some(e) = failed {
        return Err(path_error(&e));
    }
    let p = CompiledPath {
        prefix,
        list,
        text: path.to_string(),
    };
    if let Kind::Message(m) = p.leaf().kind() {
        if m.full_name() != "google.protobuf.Timestamp" {
            return Err(format!("unsupported leaf type {}", m.full_name()));
        }
    }
    Ok(p)
}

fn push(
    prefix: &mut Vec<FieldDescriptor>,
    list: &mut Option<(FieldDescriptor, Vec<FieldDescriptor>)>,
    fd: FieldDescriptor,
) {
    match list {
        Some((_, inner)) => inner.push(fd),
        None => prefix.push(fd),
    }
}

fn check_mapping(path: &CompiledPath, m: &FieldMapping) -> Result<(), String> {
    if path.prefix.is_empty() && path.list.is_none() {
        return Ok(()); // extension field: free-form
    }
    let leaf = path.leaf();
    if let (Some(map), Kind::Enum(e)) = (&m.map, leaf.kind()) {
        for (code, value) in map {
            if crate::schema::enum_value(&e, value).is_none() {
                let names: Vec<String> = e.values().map(|v| v.name().to_string()).collect();
                return Err(format!(
                    "map: `{code}` → `{value}` is not a value of {} (values: {})",
                    e.name(),
                    names.join(", ")
                ));
            }
        }
    }
    if let Some(c) = m.convert {
        let numeric = matches!(
            leaf.kind(),
            Kind::Int32
                | Kind::Int64
                | Kind::Uint32
                | Kind::Uint64
                | Kind::Sint32
                | Kind::Sint64
                | Kind::Double
                | Kind::Float
        );
        let ok = match c {
            Convert::Present => leaf.kind() == Kind::Bool,
            Convert::DateToCycle => leaf.kind() == Kind::String,
            _ => numeric,
        };
        if !ok {
            return Err(format!(
                "convert `{c:?}` does not fit field `{}` of type {:?}",
                path.text,
                leaf.kind()
            ));
        }
    }
    if let Some(f) = &m.format {
        let is_ts = matches!(leaf.kind(), Kind::Message(ref d) if d.full_name() == "google.protobuf.Timestamp");
        if !is_ts && m.convert != Some(Convert::DateToCycle) {
            return Err(format!(
                "`format` applies to timestamp fields (and to `convert = \"date_to_cycle\"`); `{}` is not one",
                path.text
            ));
        }
        // Validate the format string itself.
        if chrono::format::StrftimeItems::new(f).any(|i| matches!(i, chrono::format::Item::Error)) {
            return Err(format!("format `{f}` is not a valid chrono format"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bill() -> MessageDescriptor {
        crate::schema::message("complaint.v1.Bill")
    }

    #[test]
    fn a_field_path_compiles_to_the_fields_before_inside_and_after_its_list() {
        let p = compile_path(&bill(), "items[].amount_fen").unwrap();
        assert!(p.prefix.is_empty());
        let (list, inner) = p.list.as_ref().unwrap();
        assert_eq!(list.name(), "items");
        assert_eq!(inner.iter().map(|f| f.name()).collect::<Vec<_>>(), ["amount_fen"]);
        let view = crate::schema::view_descriptor();
        let p = compile_path(&view, "account.suspended_at").unwrap();
        assert_eq!(
            p.prefix.iter().map(|f| f.name()).collect::<Vec<_>>(),
            ["account", "suspended_at"]
        );
        assert_eq!(p.leaf().name(), "suspended_at");
    }

    #[test]
    fn a_bad_field_path_is_named_at_its_first_fault() {
        let err = |element: &MessageDescriptor, path: &str| compile_path(element, path).unwrap_err();
        let view = crate::schema::view_descriptor();
        for (path, want) in [
            (
                "items[].amout_fen",
                "`Charge` has no field `amout_fen`; did you mean `amount_fen`?",
            ),
            ("items.amount_fen", "`items` is a list: write `items[]`"),
            ("items", "`items` is a list: write `items[]`"),
            ("cycle[]", "`cycle` is not a list: write `cycle` without []"),
            ("cycle.x", "`cycle` is not a message"),
            ("issued_at.seconds", "`issued_at` is not a message"),
            ("items[]", "`items` is a message; map a field inside it"),
        ] {
            assert_eq!(err(&bill(), path), want, "{path}");
        }
        assert_eq!(
            err(&view, "recent_bills[].items[].amount_fen"),
            "only one list (`x[]`) per path is supported"
        );
        assert_eq!(
            err(&view, "extensions.x"),
            "`extensions` is a map field and cannot be mapped"
        );
        // The first fault as written wins over a later one.
        assert_eq!(err(&bill(), "cycle.zz.yy"), "`cycle` is not a message");
        assert_eq!(
            err(&view, "recent_bills[].items[].nope"),
            "only one list (`x[]`) per path is supported"
        );
    }

    #[test]
    fn a_bad_target_is_named() {
        let view = crate::schema::view_descriptor();
        let err = |t: &str| compile_target(&view, t).unwrap_err();
        assert_eq!(
            err("acount"),
            "`SubscriberView` has no field `acount`; did you mean `account`?"
        );
        assert_eq!(err("account.balance_fen"), "`balance_fen` is not a message field");
        assert_eq!(err("account.suspended_at"), "`suspended_at` cannot be a target");
        assert_eq!(
            err("recent_bills.items"),
            "`recent_bills` is a list: only the last segment of a target may be one"
        );
        let (path, element, repeated) = compile_target(&view, "network.cells").unwrap();
        assert_eq!(path.iter().map(|f| f.name()).collect::<Vec<_>>(), ["network", "cells"]);
        assert!(repeated && element.name() == "Cell", "{}", element.name());
    }
}
