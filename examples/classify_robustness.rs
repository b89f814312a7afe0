//! Synthetic robustness checks of the complaint classifier on its own corpus, independent of any
//! evaluation file: the signal the robustness features were chosen on.
//!
//! `cargo run --release --example classify_robustness` (about a minute on 2 cores; progress on stderr).
//!
//! A stratified 5-fold split of the embedded corpus; for each fold a model is trained on the other four
//! and every held-out text is classified
//! - `clean`: as written;
//! - `same-sound typo`: one telecom term in it (user dictionary or category keyword) with one character
//!   replaced by another character of the same toneless pinyin (宽带 → 宽代), as an input method does;
//! - `typed as pinyin`: one such term replaced by its toneless pinyin (`kuandai`);
//! - `two issues`: joined with a held-out text of another category by a template carrying a Chinese
//!   discourse marker ("A，另外B", "B，不过这个先不说，A", "B。主要是A" …), labelled with A.
//!
//! Prints accuracy, and precision and coverage at the default threshold, for each variant.

use std::collections::{BTreeMap, HashMap, HashSet};

use complaint_gateway::classify::{Classifier, Corpus, Example, DEFAULT_THRESHOLD};
use pinyin::ToPinyin;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FOLDS: usize = 5;
const USER_DICT: &str = include_str!("../corpus/userdict.txt");
const TEMPLATES: [&str; 6] = [
    "{A}，另外{B}",
    "{B}，不过这个先不说，{A}",
    "{A}。顺便说一下，{B}",
    "{B}。主要是{A}",
    "{A}，{B}，这个回头再说",
    "{B}，这些就算了，我就问{A}",
];

#[derive(Default)]
struct Tally {
    n: usize,
    correct: usize,
    answered: usize,
    answered_correct: usize,
}

impl Tally {
    fn add(&mut self, ok: bool, abstained: bool) {
        self.n += 1;
        self.correct += usize::from(ok);
        if !abstained {
            self.answered += 1;
            self.answered_correct += usize::from(ok);
        }
    }
}

fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// Telecom terms to disturb: the user dictionary and the categories' keywords, Chinese, 2–4 characters,
/// longest first.
fn terms(corpus: &Corpus) -> Vec<String> {
    let mut t: Vec<String> = USER_DICT
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .chain(corpus.categories().iter().flat_map(|c| c.keywords.iter().cloned()))
        .filter(|t| t.chars().all(is_han) && (2..=4).contains(&t.chars().count()))
        .collect();
    t.sort_by_key(|t| std::cmp::Reverse(t.chars().count()));
    t.dedup();
    t
}

struct Noise {
    terms: Vec<String>,
    /// Characters of the corpus by toneless pinyin.
    by_sound: HashMap<&'static str, Vec<char>>,
}

impl Noise {
    fn new(corpus: &Corpus) -> Noise {
        let mut by_sound: HashMap<&'static str, Vec<char>> = HashMap::new();
        let mut seen = HashSet::new();
        for e in corpus.examples() {
            for c in e.text.chars().filter(|&c| is_han(c) && seen.insert(c)) {
                if let Some(p) = c.to_pinyin() {
                    by_sound.entry(p.plain()).or_default().push(c);
                }
            }
        }
        Noise {
            terms: terms(corpus),
            by_sound,
        }
    }

    fn pick_term<'a>(&'a self, text: &str, rng: &mut ChaCha8Rng) -> Option<&'a str> {
        let found: Vec<&str> = self
            .terms
            .iter()
            .map(String::as_str)
            .filter(|t| text.contains(t))
            .collect();
        found.choose(rng).copied()
    }

    fn same_sound_typo(&self, text: &str, rng: &mut ChaCha8Rng) -> Option<String> {
        let term = self.pick_term(text, rng)?;
        let mut chars: Vec<char> = term.chars().collect();
        let i = rng.random_range(0..chars.len());
        let sound = chars[i].to_pinyin()?.plain();
        let others: Vec<char> = self
            .by_sound
            .get(sound)?
            .iter()
            .copied()
            .filter(|&c| c != chars[i])
            .collect();
        chars[i] = *others.choose(rng)?;
        Some(text.replacen(term, &chars.into_iter().collect::<String>(), 1))
    }

    fn typed_as_pinyin(&self, text: &str, rng: &mut ChaCha8Rng) -> Option<String> {
        let term = self.pick_term(text, rng)?;
        let typed: String = term
            .chars()
            .filter_map(|c| c.to_pinyin().map(|p| p.plain().replace('ü', "v")))
            .collect();
        Some(text.replacen(term, &format!("{typed} "), 1))
    }
}

fn main() -> anyhow::Result<()> {
    let corpus = Corpus::embedded()?;
    let examples = corpus.examples();
    let noise = Noise::new(&corpus);
    // Stratified folds: within each category, examples dealt round-robin in corpus order.
    let mut by_cat: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in examples.iter().enumerate() {
        by_cat.entry(e.category.as_str()).or_default().push(i);
    }
    let mut fold_of = vec![0; examples.len()];
    for members in by_cat.values() {
        for (r, &i) in members.iter().enumerate() {
            fold_of[i] = r % FOLDS;
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    for f in 0..FOLDS {
        eprint!("fold {}/{FOLDS}: training… ", f + 1);
        let train: Vec<Example> = (0..examples.len())
            .filter(|&i| fold_of[i] != f)
            .map(|i| examples[i].clone())
            .collect();
        let clf = Classifier::train(&Corpus::new(corpus.categories().to_vec(), train)?)?;
        let test: Vec<usize> = (0..examples.len()).filter(|&i| fold_of[i] == f).collect();
        for &a in &test {
            let e = &examples[a];
            let strip = |s: &str| s.trim_end_matches(['。', '！', '!', '？', '?', '，', ' ']).to_string();
            let other = loop {
                let b = test[rng.random_range(0..test.len())];
                if examples[b].category != e.category {
                    break b;
                }
            };
            let template = TEMPLATES[rng.random_range(0..TEMPLATES.len())];
            let variants = [
                ("clean", Some(e.text.clone())),
                ("same-sound typo", noise.same_sound_typo(&e.text, &mut rng)),
                ("typed as pinyin", noise.typed_as_pinyin(&e.text, &mut rng)),
                (
                    "two issues",
                    Some(
                        template
                            .replace("{A}", &strip(&e.text))
                            .replace("{B}", &strip(&examples[other].text)),
                    ),
                ),
            ];
            for (name, text) in variants {
                let Some(text) = text else { continue };
                let c = clf.classify(&text)?;
                tallies
                    .entry(name)
                    .or_default()
                    .add(c.category() == e.category, c.abstained);
            }
        }
        eprintln!("done");
    }
    println!("| variant | texts | accuracy | precision at {DEFAULT_THRESHOLD} | coverage at {DEFAULT_THRESHOLD} |");
    println!("| --- | --- | --- | --- | --- |");
    for name in ["clean", "same-sound typo", "typed as pinyin", "two issues"] {
        let t = &tallies[name];
        println!(
            "| {name} | {} | {:.2}% | {:.2}% | {:.2}% |",
            t.n,
            100.0 * t.correct as f64 / t.n.max(1) as f64,
            100.0 * t.answered_correct as f64 / t.answered.max(1) as f64,
            100.0 * t.answered as f64 / t.n.max(1) as f64
        );
    }
    Ok(())
}
