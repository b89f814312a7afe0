//! The scenario file format (see `docs/scenarios.md`): one TOML file per scenario, read with the span of
//! every value that a load error may have to point at. Unknown keys are refused.
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// A scenario file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub id: Spanned<String>,
    pub title: String,
    pub categories: Vec<Spanned<String>>,
    #[serde(default)]
    pub priority: i32,
    #[serde(default)]
    pub precondition: Option<Spanned<String>>,
    /// A line-state scenario (the line suspended, closed, its SIM replaced, its broadband port down): it
    /// runs before the steps of these categories, and a cause it concludes answers their complaints.
    #[serde(default)]
    pub line_state_for: Vec<Spanned<String>>,
    /// What the handler is told when the steps end without a cause (a template like a reply): what was
    /// checked and found normal, with the subscriber's figures, and what to ask or whom to hand over to.
    #[serde(default)]
    pub no_cause: Option<Spanned<String>>,
    #[serde(default)]
    pub questions: Vec<QuestionFile>,
    pub steps: Vec<StepFile>,
    #[serde(default)]
    pub causes: Vec<CauseFile>,
}

/// `[[questions]]`: a question a step may ask, with its allowed answers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionFile {
    pub id: Spanned<String>,
    pub text: String,
    pub answers: Vec<AnswerFile>,
}

/// One allowed answer: the value a request sends and the label a handler sees.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerFile {
    pub value: String,
    pub label: String,
}

/// `[[steps]]`: one step: an expression, the values computed before it, and what follows either result.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    pub id: Spanned<String>,
    pub description: String,
    #[serde(default)]
    pub ask: Option<Spanned<String>>,
    pub expr: Spanned<String>,
    #[serde(default)]
    pub values: BTreeMap<String, Spanned<String>>,
    pub then: Spanned<String>,
    #[serde(rename = "else", default)]
    pub otherwise: Option<Spanned<String>>,
}

/// `[[causes]]`: a cause, its explanation and reply templates, and its actions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CauseFile {
    pub code: Spanned<String>,
    pub title: String,
    pub explanation: Spanned<String>,
    pub reply: Spanned<String>,
    /// Advice or an explanation the data does not single out (no fault found): stated only when the
    /// complaint's category is certain, never from a category tried after the classifier was unsure.
    #[serde(default)]
    pub guidance: bool,
    #[serde(default)]
    pub actions: Vec<ActionFile>,
}

/// `[[causes.actions]]`: a recommended action; its amounts and codes are CEL expressions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionFile {
    pub kind: Spanned<String>,
    pub description: Spanned<String>,
    #[serde(default)]
    pub amount_fen: Option<Spanned<String>>,
    #[serde(default)]
    pub service_code: Option<Spanned<String>>,
    #[serde(default)]
    pub element_id: Option<Spanned<String>>,
    #[serde(default)]
    pub target: Option<Spanned<String>>,
}
