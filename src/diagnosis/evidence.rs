//! Evidence: for each view field a step read, the source behind it, in what state and how old its data
//! was; and, for a field that came back empty, the source that would have filled it (`supplied: false`:
//! the data is missing there, not known to be empty).
//!
//! What each source can fill comes from the adapter definitions ([`Coverage`]); what each source answered
//! in this read comes from the view's [`SourceStatus`] list. Both are kept here, beside the diagnosis,
//! so a step can later be told whether a field it reads is provided at all.
use super::provenance::{Provenance, Providers};
use crate::adapters::registry::Registry;
use crate::proto::complaint::v1::{SourceState, SourceStatus};
use std::sync::Arc;

/// The source behind one view field a step read.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// The view field as the source declares it, e.g. `account` or `network.outages`.
    pub field: String,
    pub source: String,
    pub state: SourceState,
    pub fetched_at: Option<prost_types::Timestamp>,
    /// Age of the data in milliseconds (non-zero for cached data).
    pub age_ms: u64,
    /// False when the source that fills this field was asked but had nothing for it.
    pub supplied: bool,
    /// Where the field is absent from the read (no source provides it, or its providers did not answer):
    /// why, e.g. "not provided by any source"; empty otherwise.
    pub absent: String,
}

/// Which view fields each configured source can fill, from the adapter definitions.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// (source, the view fields it can fill), in configuration order.
    sources: Vec<(String, Vec<String>)>,
    /// The fields each source provides, as finely as its definition says (provenance of reads).
    providers: Arc<Providers>,
}

impl Coverage {
    /// (source, view fields it can fill) pairs; each provides the whole of its fields.
    pub fn new(sources: Vec<(String, Vec<String>)>) -> Coverage {
        let providers = Arc::new(Providers::new(sources.clone()));
        Coverage { sources, providers }
    }

    /// (source, view fields it can fill, view fields it provides) triples.
    pub fn with_fields(sources: Vec<(String, Vec<String>, Vec<String>)>) -> Coverage {
        let providers = Arc::new(Providers::new(
            sources.iter().map(|(s, _, f)| (s.clone(), f.clone())).collect(),
        ));
        Coverage {
            sources: sources.into_iter().map(|(s, e, _)| (s, e)).collect(),
            providers,
        }
    }

    /// What the configured sources of `registry` can fill.
    pub fn of(registry: &Registry) -> Coverage {
        Coverage::with_fields(
            registry
                .sources
                .iter()
                .map(|s| (s.adapter.name().to_string(), s.adapter.entities(), s.adapter.provides()))
                .collect(),
        )
    }

    /// The fields each source provides, and the provenance of reads.
    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// [`Coverage::evidence`], plus one entry per absent field the step needed (at or above a chain it
    /// read, or inside one where its expression `texts` or its `error` name it; see
    /// [`super::provenance::needed`]), saying why it is absent ("not provided by any source") and naming
    /// the systems that would hold it.
    pub fn evidence_with<'a>(
        &self,
        reads: impl IntoIterator<Item = &'a [String]>,
        statuses: &[SourceStatus],
        provenance: &Provenance,
        texts: &[&str],
        error: &str,
    ) -> Vec<Evidence> {
        let reads: Vec<&[String]> = reads.into_iter().collect();
        let mut out = self.evidence(reads.iter().copied(), statuses);
        if provenance.absent.is_empty() {
            return out;
        }
        for a in super::provenance::needed(provenance, &reads, texts, error) {
            let field = a.field();
            if out.iter().any(|e| e.field == field && !e.absent.is_empty()) {
                continue;
            }
            out.push(Evidence {
                field,
                source: a.systems.join(", "),
                state: match &a.why {
                    super::provenance::Why::NotAnswered(s) => {
                        s.first().map(|x| x.1).unwrap_or(SourceState::Unspecified)
                    }
                    super::provenance::Why::NotProvided => SourceState::Unspecified,
                },
                fetched_at: None,
                age_ms: 0,
                supplied: false,
                absent: a.reason(),
            });
        }
        out
    }

    /// The (source, declared field) pairs that can fill the view path `path` (`["account", "status"]`):
    /// those whose field lies inside the path or the path inside it.
    pub fn fillers<'a>(&'a self, path: &'a [String]) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.sources.iter().flat_map(move |(source, fields)| {
            fields
                .iter()
                .filter(move |f| overlaps(f, path))
                .map(move |f| (source.as_str(), f.as_str()))
        })
    }

    /// The evidence behind the member chains a step read (`["view", "account", "status"]`; chains not
    /// rooted at `view` are skipped), given what each source answered. Each (field, source) once.
    pub fn evidence<'a>(
        &self,
        reads: impl IntoIterator<Item = &'a [String]>,
        statuses: &[SourceStatus],
    ) -> Vec<Evidence> {
        let mut out: Vec<Evidence> = Vec::new();
        let add = |out: &mut Vec<Evidence>, field: &str, st: &SourceStatus, supplied: bool| {
            if !out.iter().any(|x| x.field == field && x.source == st.source) {
                out.push(Evidence {
                    field: field.to_string(),
                    source: st.source.clone(),
                    state: st.state(),
                    fetched_at: st.fetched_at,
                    age_ms: st.age_ms,
                    supplied,
                    absent: String::new(),
                });
            }
        };
        for segments in reads {
            let Some(("view", path)) = segments.split_first().map(|(root, rest)| (root.as_str(), rest)) else {
                continue;
            };
            let before = out.len();
            for st in statuses {
                for field in st.entities.iter().filter(|f| overlaps(f, path)) {
                    add(&mut out, field, st, true);
                }
            }
            // No source supplied it: name the sources that would have, as asked in this read.
            if out.len() == before && !path.is_empty() {
                for (source, field) in self.fillers(path) {
                    if let Some(st) = statuses.iter().find(|s| s.source == source) {
                        add(&mut out, field, st, false);
                    }
                }
            }
        }
        out
    }
}

/// Whether view field `field` (e.g. `network.cells`) and the path read overlap: one lies inside the other.
fn overlaps(field: &str, path: &[String]) -> bool {
    let f: Vec<&str> = field.split('.').collect();
    let n = f.len().min(path.len());
    f[..n].iter().zip(&path[..n]).all(|(a, b)| *a == b.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(source: &str, state: SourceState, entities: &[&str]) -> SourceStatus {
        SourceStatus {
            source: source.into(),
            state: state as i32,
            age_ms: 1_500,
            entities: entities.iter().map(|e| e.to_string()).collect(),
            ..Default::default()
        }
    }

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_string).collect()
    }

    #[test]
    fn a_field_read_names_the_source_that_supplied_it() {
        let coverage = Coverage::new(vec![("billing".into(), vec!["account".into(), "recent_bills".into()])]);
        let statuses = [status("billing", SourceState::Ok, &["account"])];
        let reads = [path("view.account.status"), path("answers.modem_light")];
        let ev = coverage.evidence(reads.iter().map(Vec::as_slice), &statuses);
        assert_eq!(
            ev,
            vec![Evidence {
                field: "account".into(),
                source: "billing".into(),
                state: SourceState::Ok,
                fetched_at: None,
                age_ms: 1_500,
                supplied: true,
                absent: String::new(),
            }]
        );
    }

    #[test]
    fn a_field_no_source_supplied_names_the_source_that_would_have() {
        let coverage = Coverage::new(vec![
            ("billing".into(), vec!["account".into(), "recent_bills".into()]),
            (
                "resource".into(),
                vec!["network.outages".into(), "network.cells".into()],
            ),
        ]);
        let statuses = [
            status("billing", SourceState::Ok, &["account"]),
            status("resource", SourceState::Unavailable, &[]),
        ];
        // A whole message read (`view.network`) overlaps both of the fields inside it.
        let reads = [path("view.recent_bills"), path("view.network")];
        let ev = coverage.evidence(reads.iter().map(Vec::as_slice), &statuses);
        let got: Vec<(&str, &str, SourceState, bool)> = ev
            .iter()
            .map(|e| (e.field.as_str(), e.source.as_str(), e.state, e.supplied))
            .collect();
        assert_eq!(
            got,
            vec![
                ("recent_bills", "billing", SourceState::Ok, false),
                ("network.outages", "resource", SourceState::Unavailable, false),
                ("network.cells", "resource", SourceState::Unavailable, false),
            ]
        );
        // A source that was not asked in this read is not named.
        assert!(coverage
            .evidence([path("view.network.cells")].iter().map(Vec::as_slice), &statuses[..1])
            .is_empty());
    }
}
