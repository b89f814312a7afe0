//! Routing a complaint through the categories: the line's state first, then the complaint's category,
//! then — when the classifier was unsure or that category found no cause — the next plausible
//! categories by probability; and a second issue of the text, where its category has its own evidence.
//!
//! A cause is stated only where its evidence holds: a category tried after the first, or the first one
//! when the classifier was unsure, may conclude only causes that show a fault in the data, never a
//! *guidance* cause (advice or an explanation the data does not single out; `guidance = true` in the
//! scenario file), which would read as an answer to a complaint nobody is sure about. Every finding
//! says which category it came from and why ([`super::routing::Routing::reason`]).
use super::bound::CelView;
use super::model::{Scenario, ScenarioSet};
use super::provenance::Provenance;
use super::routing::{RoutedBy, Routing};
use super::run::RunOutcome;
use super::{DiagnoseInput, Diagnosis, Engine};
use crate::classify::Classification;
use crate::error::Error;
use crate::proto::complaint::v1::SubscriberView;
use std::collections::BTreeSet;
use std::sync::Arc;

/// A category below this probability is not tried after the first.
pub const FALLBACK_MIN: f64 = 0.05;
/// A second category of the whole text needs this probability to be a second issue (or a clause of the
/// text must be confidently about it).
pub const SECOND_ISSUE_MIN: f64 = 0.15;
/// Most categories tried after the first.
pub const MAX_FALLBACKS: usize = 3;

/// The categories a complaint may be about: the request's, or the classifier's ranking, with what single
/// clauses of the text were confidently about (second issues).
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    /// The category the request named (then nothing else is tried).
    pub requested: Option<String>,
    /// Categories with their probabilities, best first.
    pub ranked: Vec<(String, f64)>,
    /// The classifier was below its threshold.
    pub abstained: bool,
    pub keywords: Vec<String>,
    /// Categories a clause of the text is confidently about, with that clause's probability.
    pub clauses: Vec<(String, f64)>,
    /// Each clause of the text (when it has several) with the category it is most likely about, sure or
    /// not: the period a clause names belongs to its issue ([`Candidates::text_for`]).
    pub clause_texts: Vec<(String, String)>,
}

impl Candidates {
    /// The category named in a request.
    pub fn requested(category: &str) -> Candidates {
        Candidates {
            requested: Some(category.to_string()),
            ranked: vec![(category.to_string(), 1.0)],
            ..Default::default()
        }
    }

    /// The classifier's view of a text, and of its clauses (each classified on its own).
    pub fn classified(whole: &Classification, clauses: &[Classification]) -> Candidates {
        let mut seen = BTreeSet::new();
        Candidates {
            requested: None,
            ranked: whole.top.clone(),
            abstained: whole.abstained,
            keywords: whole.keywords.clone(),
            clauses: clauses
                .iter()
                .filter(|c| !c.abstained)
                .filter(|c| seen.insert(c.category().to_string()))
                .map(|c| (c.category().to_string(), c.confidence()))
                .collect(),
            clause_texts: Vec::new(),
        }
    }

    /// The part of `text` about `category`, for the period it names: the clauses most likely about it, or
    /// the whole text when it has one clause or none is about the category. So in "手机一点信号都没有，还有
    /// 上个月话费好像也多了" last month is the bill's period, not the coverage problem's.
    pub fn text_for(&self, category: &str, text: &str) -> String {
        if !self.clause_texts.iter().any(|(_, c)| c == category) {
            return text.to_string();
        }
        self.clause_texts
            .iter()
            .filter(|(_, c)| c == category)
            .map(|(t, _)| t.as_str())
            .collect::<Vec<_>>()
            .join("。")
    }

    /// Classifies `text` and each of its [`clauses`] with `clf`.
    pub fn of_text(
        clf: &crate::classify::Classifier,
        text: &str,
    ) -> Result<Candidates, crate::classify::ClassifyError> {
        let whole = clf.classify(text)?;
        let parts: Vec<(String, Classification)> = clauses(text)
            .into_iter()
            .filter_map(|c| clf.classify(&c).ok().map(|k| (c, k)))
            .collect();
        let clause_texts = parts
            .iter()
            .map(|(t, k)| (t.clone(), k.category().to_string()))
            .collect();
        let parts: Vec<Classification> = parts.into_iter().map(|(_, k)| k).collect();
        let mut cands = Candidates::classified(&whole, &parts);
        cands.clause_texts = clause_texts;
        Ok(cands)
    }

    /// The category the complaint is first diagnosed under.
    pub fn first(&self) -> (&str, f64) {
        self.ranked.first().map(|(c, p)| (c.as_str(), *p)).unwrap_or(("", 0.0))
    }

    fn certain(&self) -> bool {
        self.requested.is_some() || !self.abstained
    }
}

/// Splits a complaint into clauses a second issue may sit in: at sentence ends, semicolons and the
/// markers that add a topic (另外, 还有, 而且, 顺便, 以及, 同时, 再就是). Clauses of fewer than 4 characters
/// are dropped; a text of one clause gives none.
pub fn clauses(text: &str) -> Vec<String> {
    const MARKERS: [&str; 9] = [
        "另外",
        "还有",
        "而且",
        "顺便",
        "以及",
        "同时",
        "再就是",
        "此外",
        "另一个",
    ];
    // A marker opens a clause only at the start or after a pause (“，另外…”, “。还有…”): inside a clause it is
    // an ordinary word (“账单里还有退订的彩铃费”, “而且还扣了钱”).
    let mut marked = String::with_capacity(text.len() + 8);
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        let at_pause = prev.is_none_or(|p| p.is_whitespace() || "，,、；;。！!？?：:".contains(p));
        if at_pause && MARKERS.iter().any(|m| text[i..].starts_with(m)) {
            marked.push('\u{1}');
        }
        marked.push(c);
        prev = Some(c);
    }
    let parts: Vec<String> = marked
        .split(['\u{1}', '。', '；', ';', '！', '!', '？', '?', '\n'])
        .map(|p| {
            p.trim_matches(|c: char| c.is_whitespace() || "，,、。".contains(c))
                .to_string()
        })
        .filter(|p| p.chars().count() >= 4)
        .collect();
    if parts.len() < 2 {
        Vec::new()
    } else {
        parts
    }
}

/// One finding: the category it came from (and why), and its diagnosis.
pub struct Finding {
    pub routing: Routing,
    pub diagnosis: Diagnosis,
    /// A guidance cause the category's scenarios reached but that is not stated, because the category
    /// itself is uncertain (its code).
    pub withheld: Option<String>,
}

/// The answer to a complaint: the main finding and any second issue's.
pub struct Routed {
    pub primary: Finding,
    pub secondary: Vec<Finding>,
}

/// Whether a diagnosis concluded a cause, and whether that cause is guidance.
fn cause_of(d: &Diagnosis) -> Option<(String, bool)> {
    let run = d.chosen_run()?;
    match &run.outcome {
        RunOutcome::Cause(c) => {
            let cause = &run.scenario.causes[*c];
            Some((cause.code.clone(), cause.guidance))
        }
        _ => None,
    }
}

fn outcome_word(d: &Diagnosis) -> String {
    match d.outcome() {
        RunOutcome::Cause(_) => match cause_of(d) {
            Some((code, true)) => format!("only guidance ({code})"),
            Some((code, false)) => format!("cause {code}"),
            None => "a cause".into(),
        },
        RunOutcome::Question(q) => format!("a question ({q})"),
        RunOutcome::Undecided { .. } => "cannot decide (data missing)".into(),
        _ => "no cause".into(),
    }
}

impl Engine {
    /// Diagnoses a complaint routed by `cands` (see the module documentation). `input.category` is
    /// ignored: each finding's category is the one it came from.
    pub fn diagnose_routed(
        &self,
        set: Arc<ScenarioSet>,
        cands: &Candidates,
        input: &DiagnoseInput,
        view: &SubscriberView,
        provenance: Arc<Provenance>,
    ) -> Result<Routed, Error> {
        let view = CelView::with_provenance(view, provenance).map_err(Error::Internal)?;
        let mut routed = self.route(set, cands, input, &view)?;
        // Each finding says which period of the text it answered about.
        let now = self.now_of(input);
        let whole = super::period::parse(&input.text, now);
        for f in std::iter::once(&mut routed.primary).chain(routed.secondary.iter_mut()) {
            let text = cands.text_for(&f.routing.category, &input.text);
            match (super::period::parse(&text, now), &whole) {
                (Some(p), _) => f
                    .routing
                    .reason
                    .push_str(&format!("; period named in the text: {}", p.describe())),
                (None, Some(p)) if text != input.text => f.routing.reason.push_str(&format!(
                    "; the period “{}” belongs to another issue of the text: the usual period",
                    p.words
                )),
                _ => {}
            }
        }
        Ok(routed)
    }

    fn route(
        &self,
        set: Arc<ScenarioSet>,
        cands: &Candidates,
        input: &DiagnoseInput,
        view: &CelView,
    ) -> Result<Routed, Error> {
        let (first, p0) = cands.first();
        let by = if cands.requested.is_some() {
            RoutedBy::Request
        } else {
            RoutedBy::Classifier
        };
        let routing = |category: &str, confidence: f64, reason: String| Routing {
            category: category.to_string(),
            confidence,
            by,
            keywords: cands.keywords.clone(),
            abstained: cands.abstained,
            reason,
        };
        let diagnose = |category: &str| {
            let mut i = input.clone();
            i.category = category.to_string();
            i.text = cands.text_for(category, &input.text);
            self.diagnose_category(set.clone(), &i, view)
        };
        let named = match by {
            RoutedBy::Request => "named in the request".to_string(),
            RoutedBy::Classifier if cands.abstained => format!("the classifier's best guess ({p0:.2}, unsure)"),
            RoutedBy::Classifier => format!("the classifier ({p0:.2})"),
        };

        // 1. The line's state: a scenario that explains it answers first.
        let line: Vec<Arc<Scenario>> = set
            .scenarios
            .iter()
            .filter(|s| s.line_state_for.iter().any(|c| c == first) && !s.categories.iter().any(|c| c == first))
            .cloned()
            .collect();
        if !line.is_empty() {
            let mut fields = super::model::ViewFields::default();
            line.iter().for_each(|s| fields.merge(&s.view_fields));
            let mut i = input.clone();
            i.category = line[0].categories[0].clone();
            let d = self.diagnose_scenarios(set.clone(), &line, fields.filter(), &i, view)?;
            if let Some((code, _)) = cause_of(&d) {
                let scenario = d.chosen_run().map(|r| r.scenario.clone()).expect("a cause has a run");
                let reason = format!(
                    "the line's state explains the complaint: {} ({code}, scenario {}); the complaint itself was \
                     about {first} ({named})",
                    scenario.title, scenario.id
                );
                let primary = Finding {
                    routing: routing(&i.category, p0, reason),
                    diagnosis: d,
                    withheld: None,
                };
                let mut secondary = Vec::new();
                let own = diagnose(first)?;
                if matches!(cause_of(&own), Some((_, false))) {
                    secondary.push(Finding {
                        routing: routing(first, p0, format!("the complaint's own category ({named})")),
                        diagnosis: own,
                        withheld: None,
                    });
                }
                return Ok(Routed { primary, secondary });
            }
        }

        // 2. The complaint's category; 3. the next plausible ones.
        let d0 = diagnose(first)?;
        // Answers to a category's questions confirm it: the handler asked them.
        let certain = cands.certain() || !input.answers.is_empty();
        let mut tried = vec![format!("{first}: {}", outcome_word(&d0))];
        let accept = match cause_of(&d0) {
            Some((_, guidance)) => certain || !guidance,
            // A named category is the answer, whatever it found.
            None => cands.requested.is_some(),
        };
        let (mut primary, mut d0) = if accept {
            let f = Finding {
                routing: routing(first, p0, named.clone()),
                diagnosis: d0,
                withheld: None,
            };
            (Some(f), None)
        } else {
            (None, Some(d0))
        };
        // A question of the first category is an answer (the data needs the customer); only a category
        // that found nothing, could not decide or withheld guidance hands on.
        let handed_on = match d0.as_ref().map(|d| d.outcome()) {
            Some(RunOutcome::Question(_)) => false,
            Some(_) => true,
            None => false,
        };
        if primary.is_none() && handed_on {
            for (c, p) in cands
                .ranked
                .iter()
                .skip(1)
                .filter(|(_, p)| *p >= FALLBACK_MIN)
                .take(MAX_FALLBACKS)
            {
                let d = diagnose(c)?;
                let word = outcome_word(&d);
                if matches!(cause_of(&d), Some((_, false))) {
                    let reason = format!(
                        "{first} ({named}) found no cause the data shows; tried next by probability: {}; {c} ({p:.2}) has \
                         evidence",
                        tried.join(", ")
                    );
                    primary = Some(Finding {
                        routing: routing(c, *p, reason),
                        diagnosis: d,
                        withheld: None,
                    });
                    break;
                }
                tried.push(format!("{c} ({p:.2}): {word}"));
            }
        }
        let mut primary = match primary {
            Some(f) => f,
            None => {
                let mut d = d0.take().expect("kept when nothing was found");
                let withheld = match cause_of(&d) {
                    Some((code, true)) => {
                        withhold(&mut d);
                        Some(code)
                    }
                    _ => None,
                };
                let reason = format!(
                    "{first} ({named}); no category with evidence: {}{}",
                    tried.join(", "),
                    match &withheld {
                        Some(code) => format!("; guidance {code} not stated while the category is uncertain"),
                        None => String::new(),
                    }
                );
                Finding {
                    routing: routing(first, p0, reason),
                    diagnosis: d,
                    withheld,
                }
            }
        };

        // 4. A second issue: another category with real probability (or a clause confidently about it) and
        // its own evidence.
        let mut secondary = Vec::new();
        if cands.requested.is_none() {
            let mut seconds: Vec<(String, f64, &str)> = Vec::new();
            for (c, p) in &cands.clauses {
                seconds.push((c.clone(), *p, "a clause of the text"));
            }
            for (c, p) in cands.ranked.iter().skip(1).filter(|(_, p)| *p >= SECOND_ISSUE_MIN) {
                seconds.push((c.clone(), *p, "the classifier"));
            }
            let mut seen = BTreeSet::from([primary.routing.category.clone(), first.to_string()]);
            // The scenario that concluded the main finding (a scenario may serve two categories).
            let main = primary
                .diagnosis
                .chosen_run()
                .filter(|_| cause_of(&primary.diagnosis).is_some())
                .map(|r| r.scenario.id.clone());
            for (c, p, from) in seconds {
                if !seen.insert(c.clone()) {
                    continue;
                }
                let mut d = diagnose(&c)?;
                // The same finding again is no second issue: the category's other scenarios answer.
                if cause_of(&d).is_some() && d.chosen_run().map(|r| &r.scenario.id) == main.as_ref() {
                    let held = set.clone();
                    let others: Vec<Arc<Scenario>> = held
                        .of_category(&c)
                        .filter(|s| Some(&s.id) != main.as_ref())
                        .cloned()
                        .collect();
                    let mut i = input.clone();
                    i.category = c.clone();
                    i.text = cands.text_for(&c, &input.text);
                    d = self.diagnose_scenarios(set.clone(), &others, held.view_fields_of(&c), &i, view)?;
                }
                if matches!(cause_of(&d), Some((_, false))) {
                    secondary.push(Finding {
                        routing: routing(&c, p, format!("a second issue: {from} ({p:.2}), with its own evidence")),
                        diagnosis: d,
                        withheld: None,
                    });
                    break;
                }
            }
        }
        // The customer leads with the main issue: when the text's first clause is about the second
        // finding's category and not the first's, and both are causes the data shows, they swap.
        let lead = cands.clause_texts.first().map(|(_, c)| c.as_str());
        let swap = secondary.first().is_some_and(|s| {
            lead == Some(s.routing.category.as_str())
                && lead != Some(primary.routing.category.as_str())
                && matches!(cause_of(&primary.diagnosis), Some((_, false)))
        });
        if swap {
            let mut lead = secondary.remove(0);
            lead.routing.reason = format!("the text leads with it (its first clause); {}", lead.routing.reason);
            primary.routing.reason = format!("a second issue of the text; first found by {}", primary.routing.reason);
            secondary.insert(0, std::mem::replace(&mut primary, lead));
        }
        Ok(Routed { primary, secondary })
    }
}

impl Engine {
    /// [`Engine::diagnose_routed`] over a view as it was read: absent fields from what each source
    /// answered, the evidence behind every step of each finding's chosen scenario, and the sources'
    /// states on the primary finding.
    pub fn diagnose_read_routed(
        &self,
        set: Arc<ScenarioSet>,
        cands: &Candidates,
        input: &DiagnoseInput,
        read: &crate::view::ViewOutcome,
        coverage: &super::evidence::Coverage,
    ) -> Result<Routed, Error> {
        let provenance = coverage.providers().of_read(&read.statuses);
        let mut routed = self.diagnose_routed(set, cands, input, &read.view, provenance.clone())?;
        for f in std::iter::once(&mut routed.primary).chain(routed.secondary.iter_mut()) {
            if let Some(c) = f.diagnosis.chosen {
                for entry in &mut f.diagnosis.runs[c].trace {
                    entry.evidence = coverage.evidence_with(
                        entry.reads.iter().map(|r| r.segments.as_slice()),
                        &read.statuses,
                        &provenance,
                        &[entry.expression.as_str()],
                        entry.error.as_deref().unwrap_or(""),
                    );
                }
            }
        }
        routed.primary.diagnosis.sources = read.statuses.clone();
        Ok(routed)
    }
}

/// Turns a concluded (guidance) cause into no cause: nothing is stated.
fn withhold(d: &mut Diagnosis) {
    let title = d.conclusion.take().map(|c| c.title).unwrap_or_default();
    if let Some(c) = d.chosen {
        d.runs[c].outcome = RunOutcome::NoCause;
    }
    d.handling = format!(
        "投诉内容不够明确（分类把握不足），数据中也没有能说明问题的异常，暂不按“{title}”答复。请先向客户确认投诉的具体问题（涉及的业务、时间、金额或现象）后再诊断；仍不明确的，转人工专席处理。"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_split_at_sentence_ends_and_topic_markers() {
        assert_eq!(
            clauses("这个月话费多扣了30块，另外家里宽带三天没网了"),
            ["这个月话费多扣了30块", "另外家里宽带三天没网了"]
        );
        assert_eq!(
            clauses("信号很差。营业厅态度也不好！"),
            ["信号很差", "营业厅态度也不好"]
        );
        assert!(clauses("我的流量怎么扣了这么多").is_empty());
        // A marker inside a clause is an ordinary word.
        assert!(clauses("9月的账单里还有退订的彩铃费").is_empty());
        assert_eq!(
            clauses("上个月话费多了三十多块。还有推销电话老打过来，烦"),
            ["上个月话费多了三十多块", "还有推销电话老打过来，烦"]
        );
        assert!(clauses("流量多扣了。好").is_empty());
    }
}
