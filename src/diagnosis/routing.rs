//! Routing: which category a complaint is diagnosed under, and how that category was chosen (named in the
//! request, or by the classifier from the complaint's text).
use crate::classify::Classification;

/// How the category of a diagnosis was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutedBy {
    /// The request named it.
    Request,
    /// The classifier chose it from the complaint's text.
    Classifier,
}

impl RoutedBy {
    /// `request` or `classifier`, as recorded.
    pub fn as_str(self) -> &'static str {
        match self {
            RoutedBy::Request => "request",
            RoutedBy::Classifier => "classifier",
        }
    }
}

/// The category a complaint is diagnosed under, with how sure the choice is.
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    pub category: String,
    /// 1 for a category named in the request; the classifier's calibrated probability otherwise.
    pub confidence: f64,
    pub by: RoutedBy,
    /// Words of the text that pushed most towards the category (classifier only).
    pub keywords: Vec<String>,
    /// The classifier was not sure (its top probability is below its threshold).
    pub abstained: bool,
    /// Why this category: named in the request, the classifier, the line's state, or a category tried
    /// after the first found no cause (see `route`).
    pub reason: String,
}

impl Routing {
    /// A category named in the request (checked by the caller).
    pub fn requested(category: &str) -> Routing {
        Routing {
            category: category.to_string(),
            confidence: 1.0,
            by: RoutedBy::Request,
            keywords: Vec::new(),
            abstained: false,
            reason: "named in the request".into(),
        }
    }

    /// The classifier's most probable category, even when it abstained (which is reported).
    pub fn classified(c: &Classification) -> Routing {
        Routing {
            category: c.category().to_string(),
            confidence: c.confidence(),
            by: RoutedBy::Classifier,
            keywords: c.keywords.clone(),
            abstained: c.abstained,
            reason: format!("the classifier ({:.2})", c.confidence()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_classified_complaint_keeps_the_classifiers_figures() {
        let c = Classification {
            top: vec![
                ("network.broadband_fault".into(), 0.42),
                ("billing.overcharge".into(), 0.30),
            ],
            keywords: vec!["宽带".into()],
            abstained: true,
        };
        let r = Routing::classified(&c);
        assert_eq!(
            (r.category.as_str(), r.confidence, r.by, r.abstained),
            ("network.broadband_fault", 0.42, RoutedBy::Classifier, true)
        );
        assert_eq!(r.keywords, ["宽带"]);
        assert_eq!(r.by.as_str(), "classifier");
        let r = Routing::requested("billing.overcharge");
        assert_eq!((r.confidence, r.by.as_str(), r.abstained), (1.0, "request", false));
    }
}
