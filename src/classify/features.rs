//! Feature extraction: jieba words plus character 1–3-grams, hashed to 64-bit keys.
//!
//! A "unit" is one CJK character or one run of other letters/digits (`wifi`, `5g`);
//! runs of digits alone become the placeholder `#`, so `38元` and `58元` share a feature.
//! Character n-grams never cross a space (the normaliser puts spaces where punctuation,
//! emoji or symbols were). Words come from jieba (HMM on) loaded with the telecom user
//! dictionary; all-digit words map to `#` too.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use jieba_rs::Jieba;

use super::normalize::is_cjk;

/// Longest character n-gram (in units).
pub(crate) const MAX_NGRAM: usize = 3;

/// A feature occurrence: its hashed key and the byte span in the normalised text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Feat {
    pub hash: u64,
    pub start: u32,
    pub end: u32,
    /// True for a jieba word, false for a character n-gram.
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
    fn finish(self) -> u64 {
        let mut z = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The segmenter: jieba with the default dictionary plus the telecom user dictionary.
pub(crate) struct Segmenter {
    jieba: Jieba,
}

/// The telecom user dictionary (jieba format: `word freq tag`).
const USER_DICT: &str = include_str!("../../corpus/userdict.txt");

impl Segmenter {
    /// Builds jieba (~100 ms) and loads the embedded user dictionary.
    pub(crate) fn new() -> Result<Self, String> {
        let mut jieba = Jieba::new();
        jieba
            .load_dict(&mut USER_DICT.as_bytes())
            .map_err(|e| format!("user dictionary: {e}"))?;
        Ok(Segmenter { jieba })
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
            let mut h = KeyHasher::new(b'w');
            h.unit(digit_placeholder(w));
            out.push(Feat {
                hash: h.finish(),
                start,
                end,
                word: true,
            });
        }
        char_ngrams(norm, out);
    }
}

/// `#` for an all-digit string, the string itself otherwise.
fn digit_placeholder(s: &str) -> &str {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
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
                let mut g = KeyHasher(h.0);
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
}
