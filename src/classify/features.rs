//! Feature extraction: hashed 64-bit keys of five channels, computed from normalised text.
//!
//! - `w` jieba words (HMM on), with the telecom user dictionary and the categories' keywords loaded.
//! - `c` character 1–3-grams over units. A unit is one CJK character or one run of other letters/digits
//!   (`wifi`, `5g`); digits alone become the placeholder `#`, so `38元` and `158元` share features.
//!   N-grams never cross a space (the normaliser puts spaces where punctuation was).
//! - `p` pinyin 2–3-grams: the same units read as folded toneless pinyin (see [`super::pinyin`]), typed
//!   pinyin split into syllables, so a near-homophone or a pinyin spelling shares features with the word.
//! - lexicon correction: a stretch of text that sounds like a term of the lexicon (the user dictionary and
//!   the keywords) but is spelled differently (宽代, `liuliang`) also yields that term's `w` feature,
//!   so it carries the weight the model learned for the term itself.
//! - `k`/`q` category keywords: "a keyword of category X occurs" (exact spelling) and "something that
//!   sounds like a keyword of X occurs" (any spelling, exact ones included).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use jieba_rs::Jieba;

use super::normalize::{is_cjk, normalize};
use super::pinyin::{self, Syl, MAX_READINGS};
use super::Category;

/// Longest character n-gram (in units).
pub(crate) const MAX_NGRAM: usize = 3;

/// Longest lexicon term matched by sound, in syllables.
const MAX_TERM_SYLLABLES: usize = 6;

/// At most this many reading combinations are tried per lexicon window (a window with more heteronyms
/// keeps the default readings of the rest).
const MAX_COMBOS: usize = 4;

/// A feature occurrence: its hashed key and the byte span in the normalised text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Feat {
    pub hash: u64,
    pub start: u32,
    pub end: u32,
    /// True for a word (jieba, or a lexicon term found by sound), false for the other channels.
    pub word: bool,
}

/// Map keyed by feature hashes, which are already well mixed: the hasher passes them through.
pub(crate) type HashIndex<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;

/// Identity hasher for `u64` keys that are already hashes.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over a namespace byte and the units, each followed by a separator, then a
/// final avalanche (splitmix64) so the low bits are usable as hash-map buckets.
#[derive(Clone, Copy)]
struct KeyHasher(u64);

impl KeyHasher {
    fn new(namespace: u8) -> Self {
        let mut h = KeyHasher(FNV_OFFSET);
        h.bytes(&[namespace]);
        h
    }
    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
    }
    fn unit(&mut self, unit: &str) {
        self.bytes(unit.as_bytes());
        self.bytes(&[0x1f]);
    }
    fn syl(&mut self, s: Syl) {
        self.bytes(&s.to_le_bytes());
    }
    fn finish(self) -> u64 {
        let mut z = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The `w` key of a word.
fn word_hash(w: &str) -> u64 {
    let mut h = KeyHasher::new(b'w');
    h.unit(digit_placeholder(w));
    h.finish()
}

/// The key of a category feature (`k` exact keyword, `q` keyword by sound).
fn category_hash(namespace: u8, class: usize) -> u64 {
    let mut h = KeyHasher::new(namespace);
    h.bytes(&(class as u32).to_le_bytes());
    h.finish()
}

/// The telecom user dictionary (jieba format: `word freq tag`).
const USER_DICT: &str = include_str!("../../corpus/userdict.txt");

/// Jieba frequency given to category keywords the dictionaries lack (as the user dictionary's terms).
const KEYWORD_FREQ: usize = 2_000;

/// A term of the lexicon: its spelling, `w` key and the categories it is a keyword of.
struct Term {
    text: String,
    hash: u64,
    classes: Vec<usize>,
}

/// Lexicon terms by the key of their folded syllables, and keywords that are not Chinese by `w` key.
#[derive(Default)]
struct Lexicon {
    by_sound: HashIndex<u32>,
    terms: Vec<Term>,
    /// Keywords without CJK characters (`esim`): `w` key → classes, matched on jieba words.
    latin_keywords: HashIndex<Vec<usize>>,
}

impl Lexicon {
    /// Adds a term (normalised); `class` marks it as a keyword of that category.
    fn add(&mut self, text: &str, class: Option<usize>) {
        let units: Vec<char> = text.chars().collect();
        if !units.iter().all(|&c| is_cjk(c)) {
            if let Some(c) = class {
                self.latin_keywords.entry(word_hash(text)).or_default().push(c);
            }
            return;
        }
        if !(2..=MAX_TERM_SYLLABLES).contains(&units.len()) {
            return;
        }
        let readings: Vec<[Syl; MAX_READINGS]> = units.iter().map(|&c| pinyin::char_keys(c)).collect();
        if readings.iter().any(|r| r[0] == 0) {
            return;
        }
        let idx = match self.terms.iter().position(|t| t.text == text) {
            Some(i) => i,
            None => {
                self.terms.push(Term {
                    text: text.to_string(),
                    hash: word_hash(text),
                    classes: Vec::new(),
                });
                self.terms.len() - 1
            }
        };
        if let Some(c) = class.filter(|c| !self.terms[idx].classes.contains(c)) {
            self.terms[idx].classes.push(c);
        }
        for key in sound_keys(&readings) {
            self.by_sound.entry(key).or_insert(idx as u32);
        }
    }
}

/// Keys of every reading combination of a syllable sequence (default readings first, at most
/// [`MAX_COMBOS`]).
fn sound_keys(readings: &[[Syl; MAX_READINGS]]) -> Vec<u64> {
    let mut partial = vec![KeyHasher::new(b's')];
    for r in readings {
        let mut next = Vec::with_capacity(MAX_COMBOS);
        for h in &partial {
            for &s in r.iter().filter(|&&s| s != 0) {
                if next.len() < MAX_COMBOS || s == r[0] && next.len() < MAX_COMBOS * 2 {
                    let mut g = *h;
                    g.syl(s);
                    next.push(g);
                }
            }
        }
        next.truncate(MAX_COMBOS);
        partial = next;
    }
    partial.into_iter().map(KeyHasher::finish).collect()
}

/// The segmenter: jieba with the telecom user dictionary and the categories' keywords, and the lexicon.
pub(crate) struct Segmenter {
    jieba: Jieba,
    lexicon: Lexicon,
}

/// One token of the sound stream: a syllable (with its readings), a digit run or another unit.
#[derive(Clone, Copy)]
struct Tok {
    readings: [Syl; MAX_READINGS],
    start: u32,
    end: u32,
}

impl Segmenter {
    /// Builds jieba (~100 ms), loads the embedded user dictionary and the keywords of `categories`
    /// (class index = position), and builds the lexicon matched by sound.
    pub(crate) fn new(categories: &[Category]) -> Result<Self, String> {
        let mut jieba = Jieba::new();
        jieba
            .load_dict(&mut USER_DICT.as_bytes())
            .map_err(|e| format!("user dictionary: {e}"))?;
        pinyin::warm_up();
        let mut lexicon = Lexicon::default();
        for (class, cat) in categories.iter().enumerate() {
            for k in &cat.keywords {
                let k = normalize(k);
                if k.is_empty() {
                    continue;
                }
                if !k.contains(' ') && !jieba.has_word(&k) {
                    jieba.add_word(&k, Some(KEYWORD_FREQ), None);
                }
                lexicon.add(&k, Some(class));
            }
        }
        for line in USER_DICT.lines() {
            if let Some(w) = line.split_whitespace().next() {
                lexicon.add(&normalize(w), None);
            }
        }
        Ok(Segmenter { jieba, lexicon })
    }

    /// Jieba tokens of normalised text, as byte spans (whitespace tokens dropped).
    pub(crate) fn words(&self, norm: &str) -> Vec<(u32, u32)> {
        self.jieba
            .cut(norm, true)
            .into_iter()
            .filter(|t| !t.word.trim().is_empty())
            .map(|t| (t.byte_start as u32, t.byte_end as u32))
            .collect()
    }

    /// All feature occurrences of normalised text, appended to `out`.
    pub(crate) fn features(&self, norm: &str, out: &mut Vec<Feat>) {
        for (start, end) in self.words(norm) {
            let w = &norm[start as usize..end as usize];
            let hash = word_hash(w);
            out.push(Feat {
                hash,
                start,
                end,
                word: true,
            });
            if let Some(classes) = self.lexicon.latin_keywords.get(&hash) {
                for &c in classes {
                    for ns in [b'k', b'q'] {
                        out.push(Feat {
                            hash: category_hash(ns, c),
                            start,
                            end,
                            word: false,
                        });
                    }
                }
            }
        }
        char_ngrams(norm, out);
        let mut toks = Vec::with_capacity(norm.len() / 2);
        let base = norm.as_ptr() as usize;
        let segs: Vec<(usize, &str)> = norm
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(|s| (s.as_ptr() as usize - base, s))
            .collect();
        let mut units_buf: Vec<(usize, usize)> = Vec::with_capacity(64);
        let mut i = 0;
        while i < segs.len() {
            toks.clear();
            // Pinyin typed syllable by syllable ("chong zhi mei dao zhang"): consecutive words, one space
            // apart, that are each pinyin, form one stream when there are at least two of them.
            let mut j = i;
            let mut spaced: Vec<Vec<Syl>> = Vec::new();
            while let Some(syls) = segs.get(j).and_then(|(_, w)| pinyin::parse_ascii(w, 1)) {
                let adjacent = j == i || segs[j - 1].0 + segs[j - 1].1.len() + 1 == segs[j].0;
                if !adjacent {
                    break;
                }
                spaced.push(syls);
                j += 1;
            }
            if spaced.len() >= 2 {
                for (k, syls) in spaced.into_iter().enumerate() {
                    let (start, w) = segs[i + k];
                    push_syllables(&mut toks, syls, start as u32, (start + w.len()) as u32);
                }
                self.sound_features(norm, &toks, out);
                i = j;
                continue;
            }
            let (seg_start, seg) = segs[i];
            units_buf.clear();
            units(norm, seg_start, seg, &mut units_buf);
            for &(s, e) in &units_buf {
                let text = &norm[s..e];
                let (start, end) = (s as u32, e as u32);
                let mut chars = text.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if is_cjk(c) => toks.push(Tok {
                        readings: pinyin::char_keys(c),
                        start,
                        end,
                    }),
                    _ => match pinyin::parse_ascii(text, 2) {
                        Some(syls) => push_syllables(&mut toks, syls, start, end),
                        // Not pinyin: breaks sound n-grams and lexicon windows.
                        None => toks.push(Tok {
                            readings: [0; MAX_READINGS],
                            start,
                            end,
                        }),
                    },
                }
            }
            self.sound_features(norm, &toks, out);
            i += 1;
        }
    }

    /// `p` n-grams, lexicon corrections and `k`/`q` keyword features of one segment's sound stream.
    fn sound_features(&self, norm: &str, toks: &[Tok], out: &mut Vec<Feat>) {
        for i in 0..toks.len() {
            // Pinyin 2- and 3-grams (default readings; syllables only).
            let mut h = KeyHasher::new(b'p');
            for (n, t) in toks[i..].iter().take(MAX_NGRAM).enumerate() {
                if t.readings[0] == 0 {
                    break;
                }
                h.syl(t.readings[0]);
                if n >= 1 {
                    let mut g = h;
                    g.bytes(&[n as u8]);
                    out.push(Feat {
                        hash: g.finish(),
                        start: toks[i].start,
                        end: t.end,
                        word: false,
                    });
                }
            }
            // Lexicon windows of 2..=MAX_TERM_SYLLABLES syllables starting here.
            let mut partial: Vec<KeyHasher> = vec![KeyHasher::new(b's')];
            for (n, t) in toks[i..].iter().take(MAX_TERM_SYLLABLES).enumerate() {
                if t.readings[0] == 0 {
                    break;
                }
                let mut next = Vec::with_capacity(MAX_COMBOS);
                for h in &partial {
                    for &s in t.readings.iter().filter(|&&s| s != 0) {
                        if next.len() < MAX_COMBOS {
                            let mut g = *h;
                            g.syl(s);
                            next.push(g);
                        }
                    }
                }
                partial = next;
                if n == 0 {
                    continue;
                }
                let hit = partial.iter().find_map(|h| self.lexicon.by_sound.get(&h.finish()));
                let Some(&idx) = hit else { continue };
                let term = &self.lexicon.terms[idx as usize];
                let (start, end) = (toks[i].start, t.end);
                let exact = norm[start as usize..end as usize] == term.text;
                if !exact {
                    out.push(Feat {
                        hash: term.hash,
                        start,
                        end,
                        word: true,
                    });
                }
                for &c in &term.classes {
                    out.push(Feat {
                        hash: category_hash(b'q', c),
                        start,
                        end,
                        word: false,
                    });
                    if exact {
                        out.push(Feat {
                            hash: category_hash(b'k', c),
                            start,
                            end,
                            word: false,
                        });
                    }
                }
            }
        }
    }
}

/// Appends typed-pinyin syllables, each spanning the word they were read from.
fn push_syllables(toks: &mut Vec<Tok>, syls: Vec<Syl>, start: u32, end: u32) {
    toks.extend(syls.into_iter().map(|s| {
        let mut readings = [0; MAX_READINGS];
        readings[0] = s;
        Tok { readings, start, end }
    }));
}

/// `#` for a number (digits, possibly with a decimal point), the string itself otherwise.
fn digit_placeholder(s: &str) -> &str {
    if s.as_bytes().first().is_some_and(u8::is_ascii_digit) && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        "#"
    } else {
        s
    }
}

/// Splits one space-free segment into units (byte spans relative to the text).
fn units(norm: &str, seg_start: usize, seg: &str, units: &mut Vec<(usize, usize)>) {
    let mut run_start: Option<usize> = None;
    for (i, c) in seg.char_indices() {
        let abs = seg_start + i;
        if is_cjk(c) {
            if let Some(s) = run_start.take() {
                units.push((s, abs));
            }
            units.push((abs, abs + c.len_utf8()));
        } else if run_start.is_none() {
            run_start = Some(abs);
        }
    }
    if let Some(s) = run_start {
        units.push((s, seg_start + seg.len()));
    }
    debug_assert!(units.iter().all(|&(s, e)| e <= norm.len() && s < e));
}

/// Character 1..=MAX_NGRAM-grams over units, per space-separated segment.
fn char_ngrams(norm: &str, out: &mut Vec<Feat>) {
    let base = norm.as_ptr() as usize;
    let mut us: Vec<(usize, usize)> = Vec::with_capacity(64);
    for seg in norm.split(' ').filter(|s| !s.is_empty()) {
        us.clear();
        let seg_start = seg.as_ptr() as usize - base;
        units(norm, seg_start, seg, &mut us);
        for i in 0..us.len() {
            let mut h = KeyHasher::new(b'c');
            for (n, &(s, e)) in us[i..].iter().take(MAX_NGRAM).enumerate() {
                h.unit(digit_placeholder(&norm[s..e]));
                let mut g = h;
                g.bytes(&[n as u8]);
                out.push(Feat {
                    hash: g.finish(),
                    start: us[i].0 as u32,
                    end: e as u32,
                    word: false,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ngram_texts(norm: &str) -> Vec<String> {
        let mut v = Vec::new();
        char_ngrams(norm, &mut v);
        v.iter()
            .map(|f| norm[f.start as usize..f.end as usize].to_string())
            .collect()
    }

    #[test]
    fn ngrams_use_units_and_stop_at_spaces() {
        let g = ngram_texts("5g信号 差");
        assert_eq!(g, vec!["5g", "5g信", "5g信号", "信", "信号", "号", "差"]);
    }

    #[test]
    fn digits_share_a_placeholder() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        char_ngrams("38元", &mut a);
        char_ngrams("158元", &mut b);
        let ha: Vec<u64> = a.iter().map(|f| f.hash).collect();
        let hb: Vec<u64> = b.iter().map(|f| f.hash).collect();
        assert_eq!(ha, hb);
    }

    fn test_categories() -> Vec<Category> {
        vec![
            Category {
                code: "a.broadband".into(),
                name: "宽带".into(),
                description: String::new(),
                keywords: vec!["宽带".into(), "光猫".into(), "esim".into()],
            },
            Category {
                code: "b.data".into(),
                name: "流量".into(),
                description: String::new(),
                keywords: vec!["流量".into()],
            },
        ]
    }

    fn hashes(seg: &Segmenter, text: &str) -> Vec<u64> {
        let mut v = Vec::new();
        seg.features(&normalize(text), &mut v);
        v.iter().map(|f| f.hash).collect()
    }

    #[test]
    fn a_homophone_or_pinyin_spelling_yields_the_terms_word_and_keyword_features() {
        let seg = Segmenter::new(&test_categories()).unwrap();
        let kuandai = word_hash("宽带");
        let q0 = category_hash(b'q', 0);
        let k0 = category_hash(b'k', 0);
        for text in ["宽代断了", "kuandai断了", "款带断了", "kuan dai 断了"] {
            let h = hashes(&seg, text);
            assert!(h.contains(&kuandai), "{text}: no 宽带 word feature");
            assert!(h.contains(&q0), "{text}: no keyword-by-sound feature");
            assert!(!h.contains(&k0), "{text}: exact keyword feature on a misspelling");
        }
        let h = hashes(&seg, "宽带断了");
        assert!(h.contains(&q0) && h.contains(&k0));
        assert_eq!(
            h.iter().filter(|&&x| x == kuandai).count(),
            1,
            "no correction of a correct spelling"
        );
        assert!(hashes(&seg, "流两超了").contains(&word_hash("流量")));
        assert!(hashes(&seg, "买了esim").contains(&category_hash(b'k', 0)));
    }

    #[test]
    fn pinyin_ngrams_are_shared_by_sound_alikes() {
        let seg = Segmenter::new(&test_categories()).unwrap();
        let p = |t: &str| -> Vec<u64> {
            let mut v = Vec::new();
            let mut toks = Vec::new();
            for c in t.chars() {
                toks.push(Tok {
                    readings: pinyin::char_keys(c),
                    start: 0,
                    end: 0,
                });
            }
            seg.sound_features(t, &toks, &mut v);
            v.iter().map(|f| f.hash).collect()
        };
        let a = p("话费贵");
        assert!(p("话废贵").iter().filter(|h| a.contains(h)).count() >= 3);
    }
}
