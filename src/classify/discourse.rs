//! Clause weights from discourse markers, for complaints that raise two issues or ramble.
//!
//! Customers often say which issue they want solved: "主要是套餐的事", "先把信号问题解决", and which one
//! can wait: "另外推销电话也太多了", "流量的事回头再说", "不过这个先不说". A clause (the text between two
//! punctuation marks, a space after normalisation) holding a main-issue marker weighs [`MAIN_WEIGHT`], one
//! holding an aside marker [`ASIDE_WEIGHT`]; a short deferral that points back ("这个先不说") puts the
//! aside weight on the clause before it. Every other clause weighs 1, so a text without markers is
//! represented exactly as before. Weights scale the term frequencies of the clause's features.

/// Weight of a clause that names the main issue.
pub(crate) const MAIN_WEIGHT: f32 = 3.0;
/// Weight of a clause raised as an aside or explicitly deferred.
pub(crate) const ASIDE_WEIGHT: f32 = 0.2;

/// Markers of an aside at the start of a clause or anywhere in it.
const ASIDE: [&str; 10] = [
    "另外",
    "顺便",
    "顺带",
    "此外",
    "除此之外",
    "还有就是",
    "附带说",
    "题外话",
    "再补充",
    "捎带",
];

/// Markers deferring the issue of their clause (or, when the clause only points back, the previous one).
const DEFERRED: [&str; 12] = [
    "先不说",
    "就不说了",
    "不说了",
    "先不提",
    "不提了",
    "就算了",
    "先放一边",
    "先不管",
    "回头再说",
    "以后再说",
    "再说吧",
    "暂且不",
];

/// Markers of the main issue.
const MAIN: [&str; 10] = [
    "主要是",
    "主要问题",
    "最主要",
    "重点是",
    "关键是",
    "最重要的是",
    "我就问",
    "只想知道",
    "就想知道",
    "我今天就",
];

/// `先` followed by one of these starts a "deal with this first" request (先把…, 先给我…, 先说…).
const FIRST_VERBS: [char; 14] = [
    '把', '给', '帮', '说', '解', '处', '查', '退', '修', '复', '办', '弄', '搞', '管',
];

/// Words that make a short deferral point back to the previous clause.
const POINTERS: [&str; 6] = ["这个", "这些", "那个", "这事", "这点", "那些"];

/// A deferral clause this short (in characters) carries no topic of its own.
const POINTER_CLAUSE_CHARS: usize = 10;

/// One clause: its byte span in the normalised text and its weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Clause {
    pub start: u32,
    pub end: u32,
    pub weight: f32,
}

fn has_first_request(clause: &str) -> bool {
    let chars: Vec<char> = clause.chars().collect();
    chars.windows(2).any(|w| w[0] == '先' && FIRST_VERBS.contains(&w[1]))
}

/// What a clause's markers say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    Main,
    Aside,
    Deferred { points_back: bool },
}

fn marker_of(clause: &str) -> Marker {
    if MAIN.iter().any(|m| clause.contains(m)) || has_first_request(clause) {
        Marker::Main
    } else if ASIDE.iter().any(|m| clause.contains(m)) {
        Marker::Aside
    } else if DEFERRED.iter().any(|m| clause.contains(m)) {
        Marker::Deferred {
            points_back: clause.chars().count() <= POINTER_CLAUSE_CHARS && POINTERS.iter().any(|p| clause.contains(p)),
        }
    } else {
        Marker::None
    }
}

/// Clauses of normalised text with their weights; `None` when every clause weighs 1 (no markers), which
/// is the common case and costs one scan.
///
/// A main-issue marker weighs its clause and the rest of its sentence [`MAIN_WEIGHT`]; an aside marker
/// its clause and the rest of its sentence [`ASIDE_WEIGHT`] (each stops at the next marked clause). A
/// deferral weighs its own clause as an aside; a short one that points back ("这个先不说") also what
/// it points to: the aside it closes (back to the aside marker in its sentence); else, when the sentence
/// goes on after it, everything before it in the sentence ("X，不过这个先不说，Y"); else the clause
/// before it ("…，X，这个回头再说"); or the whole previous sentence when it opens a sentence.
pub(crate) fn clause_weights(norm: &str) -> Option<Vec<Clause>> {
    let (main_weight, aside_weight) = (MAIN_WEIGHT, ASIDE_WEIGHT);
    let any_marker = ASIDE.iter().chain(&DEFERRED).chain(&MAIN).any(|m| norm.contains(m))
        || (norm.contains('先') && has_first_request(norm));
    if !any_marker {
        return None;
    }
    // Clauses with their sentence number (sentences are separated by two spaces).
    let base = norm.as_ptr() as usize;
    let mut clauses: Vec<Clause> = Vec::new();
    let mut info: Vec<(usize, Marker)> = Vec::new();
    for (sentence, text) in norm.split("  ").enumerate() {
        for c in text.split(' ').filter(|c| !c.is_empty()) {
            let start = (c.as_ptr() as usize - base) as u32;
            clauses.push(Clause {
                start,
                end: start + c.len() as u32,
                weight: 1.0,
            });
            info.push((sentence, marker_of(c)));
        }
    }
    let mut i = 0;
    while i < clauses.len() {
        let (sentence, marker) = info[i];
        match marker {
            Marker::None => {}
            Marker::Main | Marker::Aside => {
                let w = if marker == Marker::Main {
                    main_weight
                } else {
                    aside_weight
                };
                clauses[i].weight = w;
                let mut j = i + 1;
                while j < clauses.len() && info[j] == (sentence, Marker::None) {
                    clauses[j].weight = w;
                    j += 1;
                }
                i = j;
                continue;
            }
            Marker::Deferred { points_back } => {
                clauses[i].weight = aside_weight;
                let opens_sentence = i == 0 || info[i - 1].0 != sentence;
                let back: Vec<usize> = if !points_back || i == 0 {
                    Vec::new()
                } else if opens_sentence {
                    let prev = info[i - 1].0;
                    (0..i).rev().take_while(|&j| info[j].0 == prev).collect()
                } else {
                    let in_sentence: Vec<usize> = (0..i).rev().take_while(|&j| info[j].0 == sentence).collect();
                    let more_follows = info.get(i + 1).is_some_and(|n| n.0 == sentence);
                    match in_sentence.iter().position(|&j| info[j].1 == Marker::Aside) {
                        Some(p) => in_sentence[..=p].to_vec(),
                        // "X，不过这个先不说，Y": everything before in the sentence is set aside.
                        None if more_follows => in_sentence,
                        // "…，X，这个回头再说": the last thing said.
                        None => vec![i - 1],
                    }
                };
                for j in back {
                    clauses[j].weight = clauses[j].weight.min(aside_weight);
                }
            }
        }
        i += 1;
    }
    Some(clauses)
}

/// The weight of a feature starting at byte `start`, given the clauses (sorted by position).
pub(crate) fn weight_at(clauses: &[Clause], start: u32) -> f32 {
    match clauses.binary_search_by(|c| {
        if c.end <= start {
            std::cmp::Ordering::Less
        } else if c.start > start {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    }) {
        Ok(i) => clauses[i].weight,
        Err(_) => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::normalize;

    fn weights(text: &str) -> Vec<(String, f32)> {
        let n = normalize(text);
        clause_weights(&n)
            .unwrap_or_default()
            .iter()
            .map(|c| (n[c.start as usize..c.end as usize].to_string(), c.weight))
            .collect()
    }

    #[test]
    fn text_without_markers_has_no_weights() {
        assert!(clause_weights(&normalize("宽带断网三天了，光猫亮红灯，没人来修")).is_none());
        assert!(clause_weights(&normalize("首先声明我是老用户，原先的套餐很好")).is_none());
    }

    #[test]
    fn asides_and_main_issues_are_weighted() {
        let w = weights("套餐一直改不过来，顺带说一下推销电话太多了，主要是套餐的事");
        assert_eq!(w[0].1, 1.0);
        assert_eq!(w[1].1, ASIDE_WEIGHT);
        assert_eq!(w[2].1, MAIN_WEIGHT);
        let w = weights("宽带断了一周，流量的事回头再说，先把网修好");
        assert_eq!(
            w.iter().map(|x| x.1).collect::<Vec<_>>(),
            vec![1.0, ASIDE_WEIGHT, MAIN_WEIGHT]
        );
    }

    #[test]
    fn a_short_deferral_points_back() {
        let w = weights("账单多了三百，另外推销电话也多，不过这个先不说，先把钱退了");
        assert_eq!(
            w.iter().map(|x| x.1).collect::<Vec<_>>(),
            vec![1.0, ASIDE_WEIGHT, ASIDE_WEIGHT, MAIN_WEIGHT]
        );
        let w = weights("话费多扣了，信号很差，这个先不说");
        assert_eq!(
            w.iter().map(|x| x.1).collect::<Vec<_>>(),
            vec![1.0, ASIDE_WEIGHT, ASIDE_WEIGHT]
        );
    }

    #[test]
    fn a_marker_weighs_the_rest_of_its_sentence() {
        let w = weights("话费多扣了，另外，推销电话太多，一天好几个。请尽快退款");
        assert_eq!(
            w.iter().map(|x| x.1).collect::<Vec<_>>(),
            vec![1.0, ASIDE_WEIGHT, ASIDE_WEIGHT, ASIDE_WEIGHT, 1.0]
        );
        let w = weights("推销电话很烦。主要是宽带断了，三天没人修");
        assert_eq!(
            w.iter().map(|x| x.1).collect::<Vec<_>>(),
            vec![1.0, MAIN_WEIGHT, MAIN_WEIGHT]
        );
    }

    #[test]
    fn a_deferral_opening_a_sentence_points_to_the_previous_sentence() {
        let w = weights("流量也用超了，扣了几十。这个以后再说，宽带先修好");
        assert_eq!(
            w.iter().map(|x| x.1).collect::<Vec<_>>(),
            vec![ASIDE_WEIGHT, ASIDE_WEIGHT, ASIDE_WEIGHT, MAIN_WEIGHT]
        );
    }

    #[test]
    fn weight_lookup_by_position() {
        let c = [
            Clause {
                start: 0,
                end: 6,
                weight: 1.0,
            },
            Clause {
                start: 7,
                end: 12,
                weight: 0.3,
            },
        ];
        assert_eq!(weight_at(&c, 0), 1.0);
        assert_eq!(weight_at(&c, 8), 0.3);
        assert_eq!(weight_at(&c, 40), 1.0);
    }
}
