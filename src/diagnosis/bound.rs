//! The view bound for the evaluator: [`CelView`], a lazy CEL map read once per diagnosis and shared by
//! every expression of every pass, and the values it hands out ([`SharedMap`] for the view's messages).
use super::provenance::Provenance;
use super::value::{field_keys, field_to_cel};
use crate::proto::complaint::v1::SubscriberView;
use crate::schema;
use cel::common::traits::{Container, Indexer, Iterable, Sizer, Zeroer};
use cel::common::types::{CelMap, CelMapKey, CelString, Type as CelTypeOf};
use cel::common::value::{Builtin, BuiltinRef, CowVal, Val};
use cel::context::VariableResolver;
use cel::objects::{Key, Map};
use cel::{Context, Value};
use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::sync::{Arc, OnceLock};

/// The view read once for a diagnosis that runs several passes (the line's state, the complaint's
/// category, the next plausible ones, a second issue): decoded through the descriptor once, each
/// top-level field converted the first time a pass needs it (with the fields the read could not give
/// removed, see [`Provenance`]), then shared.
///
/// It is also what expressions see as `view` (bind it with [`CelView::bind`]): a map whose fields are
/// converted for the evaluator on first access and then borrowed by every expression of every pass.
/// Binding the view as a value instead converted (and copied) every field a category reads for each
/// pass, which was a sixth of a diagnosis.
pub struct CelView {
    desc: MessageDescriptor,
    /// The view in its wire form; a field is decoded from its own bytes when a pass first needs it (most
    /// categories read a few of the view's fields, and decoding all of them was a sixth of a diagnosis).
    bytes: Vec<u8>,
    /// Top-level field index → where its occurrences are in `bytes`.
    spans: Vec<Vec<Range<usize>>>,
    provenance: Arc<Provenance>,
    /// Top-level field index → its value (`None`: unset, or absent by the provenance).
    values: Vec<OnceLock<Option<Value>>>,
    /// The same values converted for the evaluator.
    vals: Vec<OnceLock<Option<Box<dyn Val>>>>,
}

impl std::fmt::Debug for CelView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CelView").field("bytes", &self.bytes.len()).finish()
    }
}

impl CelView {
    /// The view with every field provided.
    pub fn new(view: &SubscriberView) -> Result<CelView, String> {
        CelView::with_provenance(view, Arc::new(Provenance::complete()))
    }

    /// The view without the fields the read could not give (`provenance`).
    pub fn with_provenance(view: &SubscriberView, provenance: Arc<Provenance>) -> Result<CelView, String> {
        let desc = schema::view_descriptor();
        let bytes = view.encode_to_vec();
        let n = desc.fields().len();
        let mut spans: Vec<Vec<Range<usize>>> = vec![Vec::new(); n];
        let mut buf: &[u8] = bytes.as_slice();
        while !buf.is_empty() {
            let start = bytes.len() - buf.len();
            let (tag, wire) = prost::encoding::decode_key(&mut buf).map_err(|e| format!("re-reading the view: {e}"))?;
            prost::encoding::skip_field(wire, tag, &mut buf, Default::default())
                .map_err(|e| format!("re-reading the view: {e}"))?;
            if let Some(i) = view_field_index(tag) {
                spans[i].push(start..bytes.len() - buf.len());
            }
        }
        Ok(CelView {
            desc,
            bytes,
            spans,
            provenance,
            values: (0..n).map(|_| OnceLock::new()).collect(),
            vals: (0..n).map(|_| OnceLock::new()).collect(),
        })
    }

    /// The fields the read could not give.
    pub fn provenance(&self) -> &Arc<Provenance> {
        &self.provenance
    }

    /// Top-level field `i` as a CEL value (`None`: unset or absent).
    fn field(&self, i: usize) -> Option<&Value> {
        self.values[i]
            .get_or_init(|| {
                let field = self.desc.fields().nth(i)?;
                // A message of this field alone (a field without bytes reads as its default).
                let own: Vec<u8> = self.spans[i]
                    .iter()
                    .flat_map(|r| &self.bytes[r.clone()])
                    .copied()
                    .collect();
                let msg = match DynamicMessage::decode(self.desc.clone(), own.as_slice()) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::error!(field = field.name(), error = %e, "re-reading a view field failed");
                        return None;
                    }
                };
                if field.supports_presence() && !msg.has_field(&field) {
                    return None;
                }
                let v = field_to_cel(&msg.get_field(&field), &field.kind());
                super::provenance::prune_field(field.name(), v, &self.provenance)
            })
            .as_ref()
    }

    /// Top-level field `i` converted for the evaluator.
    fn val(&self, i: usize) -> Option<&(dyn Val + 'static)> {
        self.vals[i].get_or_init(|| self.field(i).and_then(to_val)).as_deref()
    }

    /// The view as a CEL map with only the top-level `fields` named (all when `None`).
    pub fn value(&self, fields: Option<&BTreeSet<String>>) -> Value {
        let desc = &self.desc;
        let names = field_keys(desc);
        let mut map: HashMap<Key, Value> = HashMap::with_capacity(fields.map_or(desc.fields().len(), |f| f.len()));
        for (i, field) in desc.fields().enumerate() {
            if fields.is_some_and(|keep| !keep.contains(field.name())) {
                continue;
            }
            if let Some(v) = self.field(i) {
                let key = match names.get(i) {
                    Some(k) => k.clone(),
                    None => Key::String(Arc::new(field.name().to_string())),
                };
                map.insert(key, v.clone());
            }
        }
        Value::Map(Map { map: Arc::new(map) })
    }

    /// Binds this view as `view` in `ctx` (the context borrows it).
    pub fn bind<'v>(&'v self, ctx: &mut Context<'_, 'v>) {
        ctx.set_variable_resolver(self);
    }

    /// The index of the top-level field named `key`.
    fn index_of(&self, key: &dyn Val) -> Option<usize> {
        static INDEX: OnceLock<HashMap<String, usize>> = OnceLock::new();
        let name = key.downcast_ref::<CelString>()?;
        INDEX
            .get_or_init(|| {
                schema::view_descriptor()
                    .fields()
                    .enumerate()
                    .map(|(i, f)| (f.name().to_string(), i))
                    .collect()
            })
            .get(name.inner())
            .copied()
    }
}

impl VariableResolver for CelView {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        (variable == "view").then_some(CowVal::Borrowed(self as &dyn Val))
    }
}

impl Val for CelView {
    fn get_type(&self) -> &CelTypeOf {
        &cel::common::types::MAP_TYPE
    }

    fn cel_type() -> &'static CelTypeOf {
        &cel::common::types::MAP_TYPE
    }

    fn as_container(&self) -> Option<&dyn Container> {
        Some(self)
    }

    fn as_indexer<'b, 'w>(&'b self) -> Option<&'b (dyn Indexer + 'w)>
    where
        Self: 'w,
    {
        Some(self)
    }

    /// The whole view as a map of its own (an expression that returns or copies `view` itself).
    fn clone_as_boxed<'w>(&self) -> Box<dyn Val + 'w>
    where
        Self: 'w,
    {
        let desc = &self.desc;
        let map: HashMap<cel::common::types::CelMapKey, Box<dyn Val>> = desc
            .fields()
            .enumerate()
            .filter_map(|(i, f)| Some((f.name().to_string().into(), self.val(i)?.clone_as_boxed())))
            .collect();
        Box::new(cel::common::types::CelMap::from(map))
    }
}

impl Container for CelView {
    fn contains(&self, key: &dyn Val) -> Result<bool, cel::ExecutionError> {
        Ok(self.index_of(key).is_some_and(|i| self.val(i).is_some()))
    }
}

impl Indexer for CelView {
    fn get<'b, 'w>(&'b self, key: &dyn Val) -> Result<CowVal<'b, 'w>, cel::ExecutionError>
    where
        Self: 'w,
    {
        match self.index_of(key).and_then(|i| self.val(i)) {
            Some(v) => Ok(CowVal::Borrowed(v)),
            None => Err(cel::ExecutionError::NoSuchKey(Arc::new(
                key.downcast_ref::<CelString>()
                    .map(|s| s.inner().to_string())
                    .unwrap_or_default(),
            ))),
        }
    }

    fn steal<'w>(self: Box<Self>, key: &dyn Val) -> Result<Box<dyn Val + 'w>, cel::ExecutionError>
    where
        Self: 'w,
    {
        self.get(key).map(|v| v.into_owned())
    }
}

/// A value of the view converted for the evaluator, with its messages as [`SharedMap`]s.
fn to_val(v: &Value) -> Option<Box<dyn Val>> {
    match v {
        Value::Map(m) => {
            let mut map: HashMap<CelMapKey<'static>, Box<dyn Val>> = HashMap::with_capacity(m.map.len());
            for (k, v) in m.map.iter() {
                map.insert(k.clone().into(), to_val(v)?);
            }
            Some(Box::new(SharedMap(Arc::new(CelMap::from(map)))))
        }
        Value::List(items) => {
            let items: Option<Vec<Box<dyn Val>>> = items.iter().map(to_val).collect();
            Some(Box::new(cel::common::types::CelList::from(items?)))
        }
        other => Box::<dyn Val>::try_from(other.clone()).ok(),
    }
}

/// A map (one of the view's messages) that copies by reference: a comprehension over a list
/// (`view.recent_bills.filter(b, …)`) hands each item to its variable as a copy of its own, and a deep
/// copy of every bill, item by item, was a tenth of a diagnosis. To the evaluator it is a map like any
/// other (it answers as the built-in map).
#[derive(Debug, Clone)]
struct SharedMap(Arc<CelMap<'static>>);

impl Val for SharedMap {
    fn get_type(&self) -> &CelTypeOf {
        &cel::common::types::MAP_TYPE
    }

    fn cel_type() -> &'static CelTypeOf {
        &cel::common::types::MAP_TYPE
    }

    fn as_container(&self) -> Option<&dyn Container> {
        Some(&*self.0)
    }

    fn as_indexer<'b, 'w>(&'b self) -> Option<&'b (dyn Indexer + 'w)>
    where
        Self: 'w,
    {
        Some(&*self.0)
    }

    fn into_indexer<'w>(self: Box<Self>) -> Option<Box<dyn Indexer + 'w>>
    where
        Self: 'w,
    {
        Some(Box::new(Arc::unwrap_or_clone(self.0)))
    }

    fn as_iterable<'b, 'w>(&'b self) -> Option<&'b (dyn Iterable + 'w)>
    where
        Self: 'w,
    {
        Some(&*self.0)
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        Some(&*self.0)
    }

    fn as_zeroer(&self) -> Option<&dyn Zeroer> {
        Some(&*self.0)
    }

    fn equals(&self, other: &dyn Val) -> bool {
        self.0.equals(other)
    }

    fn clone_as_boxed<'w>(&self) -> Box<dyn Val + 'w>
    where
        Self: 'w,
    {
        Box::new(self.clone())
    }

    fn as_builtin<'b, 'w>(&'b self) -> BuiltinRef<'b, 'w>
    where
        Self: 'w,
    {
        BuiltinRef::Map(&self.0)
    }

    fn into_builtin<'w>(self: Box<Self>) -> Option<Builtin<'w>>
    where
        Self: 'w,
    {
        Some(Builtin::Map(Arc::unwrap_or_clone(self.0)))
    }
}

/// The index of the view's field numbered `number` (the table is built once).
fn view_field_index(number: u32) -> Option<usize> {
    static INDEX: OnceLock<HashMap<u32, usize>> = OnceLock::new();
    INDEX
        .get_or_init(|| {
            schema::view_descriptor()
                .fields()
                .enumerate()
                .map(|(i, f)| (f.number(), i))
                .collect()
        })
        .get(&number)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::value::beijing;
    use crate::diagnosis::value::tests::get;
    use crate::proto::complaint::v1::{Account, VasSubscription};
    use chrono::TimeZone;

    #[test]
    fn bound_view_reads_fields_once_and_hides_absent_ones() {
        use crate::diagnosis::provenance::{Absent, Why};
        let view = SubscriberView {
            msisdn: "13900000001".into(),
            account: Some(Account {
                balance_fen: -250,
                ..Default::default()
            }),
            vas_subscriptions: vec![VasSubscription {
                service_name: "视频彩铃会员".into(),
                consent_record: "短信确认".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let absent = Provenance {
            absent: vec![Absent {
                path: vec!["vas_subscriptions".into(), "consent_record".into()],
                why: Why::NotProvided,
                systems: vec![],
            }],
        };
        let cv = CelView::with_provenance(&view, Arc::new(absent)).unwrap();
        let now = beijing().with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap();
        let ctx = crate::diagnosis::run::eval_context_over(&cv, now, &HashMap::new(), &Value::Null);
        let eval = |e: &str| crate::diagnosis::model::cel_env().compile(e).unwrap().execute(&ctx);
        assert_eq!(eval("view.account.balance_fen"), Ok(Value::Int(-250)));
        assert_eq!(eval("view.account.balance_fen + 1"), Ok(Value::Int(-249)));
        assert_eq!(eval("has(view.account)"), Ok(Value::Bool(true)));
        assert_eq!(eval("has(view.plan)"), Ok(Value::Bool(false)));
        assert_eq!(eval("'account' in view && !('plan' in view)"), Ok(Value::Bool(true)));
        assert_eq!(eval("view.msisdn"), Ok(Value::String(Arc::new("13900000001".into()))));
        // The field the read could not give is not there for expressions, nor for the trace.
        assert_eq!(
            eval("view.vas_subscriptions.exists(v, has(v.consent_record))"),
            Ok(Value::Bool(false))
        );
        assert_eq!(
            eval("view.vas_subscriptions[0].service_name"),
            Ok(Value::String(Arc::new("视频彩铃会员".into())))
        );
        assert!(eval("view.plan.name").is_err());
        // Messages copy by reference inside the evaluator, and still behave as maps.
        assert_eq!(eval("view.account == view.account"), Ok(Value::Bool(true)));
        assert_eq!(eval("size(view.vas_subscriptions[0]) > 3"), Ok(Value::Bool(true)));
        assert_eq!(
            eval("'service_name' in view.vas_subscriptions[0]"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            eval("view.vas_subscriptions.filter(v, v.service_name != '').map(v, v.service_name)"),
            Ok(Value::List(Arc::new(vec![Value::String(Arc::new(
                "视频彩铃会员".into()
            ))])))
        );
        let Ok(Value::List(kept)) = eval("view.vas_subscriptions.filter(v, true)") else {
            panic!()
        };
        assert_eq!(
            get(&kept[0], "service_name"),
            Some(&Value::String(Arc::new("视频彩铃会员".into())))
        );
        assert_eq!(eval("[view.account][0].balance_fen"), Ok(Value::Int(-250)));
        let shown = cv.value(None);
        let Some(Value::List(vas)) = get(&shown, "vas_subscriptions") else {
            panic!()
        };
        assert!(get(&vas[0], "consent_record").is_none());
    }
}
