//! Keywords of complaint texts: the top terms of a period by TF-IDF, and the rising ones by a burst test
//! against a reference period. Texts are segmented with jieba and the telecom dictionary the classifier
//! uses (`corpus/userdict.txt`); one-character tokens, digits and stop words are dropped.
//!
//! - **Top**: `score = df_t · ln((N + 1) / (df + 1))`, where `df_t` counts the period's complaints having
//!   the term, `N` and `df` the complaints of both periods and those having it.
//! - **Rising**: the term's complaints in the period against what the reference rate predicts,
//!   `e = (df_ref + 0.5) · N_t / (N_ref + 1)`; `z = (df_t − e) / √e`; rising when `df_t ≥ 3` and
//!   `df_t ≥ 2e`, ranked by `z`.
use super::hotspots::Sample;
use jieba_rs::Jieba;
use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

const USER_DICT: &str = include_str!("../../corpus/userdict.txt");

/// Words that say nothing about a complaint's cause.
const STOP_WORDS: &[&str] = &[
    "我们",
    "你们",
    "他们",
    "这个",
    "那个",
    "什么",
    "怎么",
    "为什么",
    "一直",
    "已经",
    "还是",
    "就是",
    "没有",
    "不是",
    "可以",
    "一下",
    "现在",
    "今天",
    "昨天",
    "时候",
    "问题",
    "投诉",
    "谢谢",
    "请问",
    "而且",
    "但是",
    "因为",
    "所以",
    "然后",
    "还有",
    "一个",
    "自己",
    "这么",
    "怎么办",
    "莫名",
    "莫名其妙",
    "好多",
    "很多",
    "一次",
    "两次",
    "不了",
];

fn jieba() -> &'static Jieba {
    static J: OnceLock<Jieba> = OnceLock::new();
    J.get_or_init(|| {
        let mut j = Jieba::new();
        if let Err(e) = j.load_dict(&mut USER_DICT.as_bytes()) {
            tracing::warn!(error = %e, "keywords: the telecom dictionary did not load");
        }
        j
    })
}

/// The distinct terms of `text`.
pub fn terms(text: &str) -> BTreeSet<String> {
    jieba()
        .cut(text, true)
        .into_iter()
        .map(|t| t.word.trim().to_lowercase())
        .filter(|t| t.chars().count() >= 2)
        .filter(|t| t.chars().any(|c| c.is_alphabetic()))
        .filter(|t| !t.chars().all(|c| c.is_ascii_digit()))
        .filter(|t| !STOP_WORDS.contains(&t.as_str()))
        .collect()
}

/// One keyword.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyword {
    pub term: String,
    pub documents: i64,
    pub score: f64,
    pub reference_documents: i64,
    pub expected: f64,
    /// Up to three complaints of the period having it.
    pub examples: Vec<Sample>,
}

/// Top and rising keywords of `period` against `reference`, `top` of each.
pub fn analyse(period: &[Sample], reference: &[Sample], top: usize) -> (Vec<Keyword>, Vec<Keyword>) {
    let mut df_t: HashMap<String, (i64, Vec<usize>)> = HashMap::new();
    for (i, s) in period.iter().enumerate() {
        for t in terms(&s.text) {
            let e = df_t.entry(t).or_default();
            e.0 += 1;
            if e.1.len() < 3 {
                e.1.push(i);
            }
        }
    }
    let mut df_r: HashMap<String, i64> = HashMap::new();
    for s in reference {
        for t in terms(&s.text) {
            *df_r.entry(t).or_default() += 1;
        }
    }
    let n_t = period.len() as f64;
    let n_r = reference.len() as f64;
    let n = n_t + n_r;
    let make = |term: &String, (d, ex): &(i64, Vec<usize>), score: f64, expected: f64| Keyword {
        term: term.clone(),
        documents: *d,
        score,
        reference_documents: df_r.get(term).copied().unwrap_or(0),
        expected,
        examples: ex.iter().map(|i| period[*i].clone()).collect(),
    };
    let mut tops: Vec<Keyword> = df_t
        .iter()
        .map(|(term, v)| {
            let df = v.0 + df_r.get(term).copied().unwrap_or(0);
            let expected = (df_r.get(term).copied().unwrap_or(0) as f64 + 0.5) * n_t / (n_r + 1.0);
            make(term, v, v.0 as f64 * ((n + 1.0) / (df as f64 + 1.0)).ln(), expected)
        })
        .filter(|k| k.score > 0.0)
        .collect();
    tops.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.term.cmp(&b.term)));
    tops.truncate(top);
    let mut rising: Vec<Keyword> = df_t
        .iter()
        .filter_map(|(term, v)| {
            let expected = (df_r.get(term).copied().unwrap_or(0) as f64 + 0.5) * n_t / (n_r + 1.0);
            let obs = v.0 as f64;
            (v.0 >= 3 && obs >= 2.0 * expected).then(|| make(term, v, (obs - expected) / expected.sqrt(), expected))
        })
        .collect();
    rising.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.term.cmp(&b.term)));
    rising.truncate(top);
    (tops, rising)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Sample {
        Sample {
            complaint_id: String::new(),
            msisdn: String::new(),
            text: text.into(),
            created_at_us: 0,
            region: String::new(),
            category: String::new(),
            cause_code: String::new(),
        }
    }

    #[test]
    fn segmentation_keeps_telecom_terms_and_drops_noise() {
        let t = terms("我的流量包还没用完就开始扣费了，一直扣123元");
        assert!(t.contains("流量包"), "{t:?}");
        assert!(
            !t.iter().any(|x| x == "123" || x == "一直" || x.chars().count() < 2),
            "{t:?}"
        );
    }

    #[test]
    fn a_burst_term_rises_and_a_steady_one_does_not() {
        let reference: Vec<Sample> = (0..200)
            .map(|i| {
                s(if i % 2 == 0 {
                    "宽带断网了"
                } else {
                    "话费扣多了"
                })
            })
            .collect();
        let mut period: Vec<Sample> = (0..40)
            .map(|i| {
                s(if i % 2 == 0 {
                    "宽带断网了"
                } else {
                    "话费扣多了"
                })
            })
            .collect();
        period.extend((0..8).map(|_| s("小区光猫被雷击坏了宽带断网")));
        let (_, rising) = analyse(&period, &reference, 5);
        assert!(rising.iter().take(3).any(|k| k.term == "光猫"), "{rising:?}");
        assert!(!rising.iter().any(|k| k.term == "话费"), "{rising:?}");
    }
}
