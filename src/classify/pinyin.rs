//! Sound-alike keys for Chinese characters and typed pinyin, so that near-homophones (宽代 for 宽带,
//! 流两 for 流量) and pinyin spellings (`liuliang`, `xiehao zhuanwang`) meet the words they stand for.
//!
//! A character's key is its toneless pinyin ([`pinyin`] crate) folded the way speakers of many dialects
//! and pinyin input methods confuse sounds: `zh/ch/sh` → `z/c/s`, initial `n` → `l`, `-ang/-eng/-ing` →
//! `-an/-en/-in`, `ü` → `v`. A run of ASCII letters is read as pinyin when it splits entirely into
//! syllables (at least two of them: single syllables are too often English words like `he` or `you`).

use std::sync::OnceLock;

use pinyin::{ToPinyin, ToPinyinMulti};

/// At most this many readings of a character are considered (default reading first).
pub(crate) const MAX_READINGS: usize = 2;

/// Id of a folded syllable (index into the syllable table); ids start at 1, 0 means "no reading".
pub(crate) type Syl = u16;

/// First and last code point of the table of readings (the CJK Unified Ideographs block).
const FIRST: u32 = 0x4E00;
const LAST: u32 = 0x9FFF;

/// The folded form of one toneless syllable (`zhuang` → `zuan`, `nü` → `lv`, `liang` → `lian`).
pub(crate) fn fold(plain: &str) -> String {
    let s = plain.replace('ü', "v");
    let (initial, rest) = if let Some(r) = s.strip_prefix("zh") {
        ("z", r)
    } else if let Some(r) = s.strip_prefix("ch") {
        ("c", r)
    } else if let Some(r) = s.strip_prefix("sh") {
        ("s", r)
    } else if s.len() > 1 && s.starts_with('n') && !s.starts_with("ng") {
        ("l", &s[1..])
    } else {
        ("", s.as_str())
    };
    let mut out = String::with_capacity(s.len());
    out.push_str(initial);
    if let Some(r) = rest.strip_suffix("ng").filter(|r| r.ends_with(['a', 'e', 'i'])) {
        out.push_str(r);
        out.push('n');
    } else {
        out.push_str(rest);
    }
    out
}

/// Readings of every character of the block and the typed-pinyin syllable table, computed once (~20k
/// characters, a few milliseconds).
struct Tables {
    /// Folded syllable of each id (index 0 unused).
    names: Vec<String>,
    /// Up to [`MAX_READINGS`] folded readings per character of `FIRST..=LAST`, default first, 0-padded.
    by_char: Vec<[Syl; MAX_READINGS]>,
    /// Every toneless syllable as typed in ASCII (`lv` for `lü`) → its folded id.
    typed: std::collections::HashMap<String, Syl>,
    /// Longest typed syllable in bytes.
    max_len: usize,
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let mut names = vec![String::new()];
        let mut ids: std::collections::HashMap<String, Syl> = Default::default();
        let mut id_of = |plain: &str, names: &mut Vec<String>| -> Syl {
            let f = fold(plain);
            *ids.entry(f.clone()).or_insert_with(|| {
                names.push(f);
                (names.len() - 1) as Syl
            })
        };
        let mut by_char = vec![[0; MAX_READINGS]; (LAST - FIRST + 1) as usize];
        let mut typed = std::collections::HashMap::new();
        for u in FIRST..=LAST {
            let Some(c) = char::from_u32(u) else { continue };
            let Some(default) = c.to_pinyin() else { continue };
            let slot = &mut by_char[(u - FIRST) as usize];
            slot[0] = id_of(default.plain(), &mut names);
            let mut n = 1;
            for p in c.to_pinyin_multi().into_iter().flatten() {
                let plain = p.plain();
                let id = id_of(plain, &mut names);
                let ascii = plain.replace('ü', "v");
                if ascii.len() > 1 || matches!(ascii.as_str(), "a" | "e" | "o") {
                    typed.insert(ascii, id);
                }
                if n < MAX_READINGS && !slot[..n].contains(&id) {
                    slot[n] = id;
                    n += 1;
                }
            }
        }
        let max_len = typed.keys().map(String::len).max().unwrap_or(6);
        Tables {
            names,
            by_char,
            typed,
            max_len,
        }
    })
}

/// Builds the tables now (the first classification would otherwise pay for it).
pub(crate) fn warm_up() {
    tables();
}

/// Folded readings of a character (default first, distinct, 0-padded); all 0 for a character without one.
pub(crate) fn char_keys(c: char) -> [Syl; MAX_READINGS] {
    let u = c as u32;
    if (FIRST..=LAST).contains(&u) {
        tables().by_char[(u - FIRST) as usize]
    } else {
        [0; MAX_READINGS]
    }
}

/// The folded syllable of an id (for tests and debugging).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn name(id: Syl) -> &'static str {
    tables().names.get(id as usize).map_or("", String::as_str)
}

/// Splits a lowercase ASCII letter run into pinyin syllables (folded ids); `None` unless the whole run
/// splits into at least `min_syllables` syllables. Among splits the one with the fewest syllables wins
/// (`xian` is one syllable, not `xi an`), ties going to the longer first syllable.
///
/// A lone word must hold two syllables (`liuliang`) to count as pinyin: single syllables are too often
/// English words (`he`, `you`). Words typed syllable by syllable (`chong zhi`) are read one by one with
/// `min_syllables = 1` and count when at least two of them follow each other.
pub(crate) fn parse_ascii(run: &str, min_syllables: usize) -> Option<Vec<Syl>> {
    let t = tables();
    let b = run.as_bytes();
    let n = b.len();
    if !(1..=48).contains(&n) || !b.iter().all(|c| c.is_ascii_lowercase()) {
        return None;
    }
    // best[i] = (syllable count, length of the first syllable) for the suffix starting at i.
    let mut best: Vec<Option<(usize, usize)>> = vec![None; n + 1];
    best[n] = Some((0, 0));
    for i in (0..n).rev() {
        for len in (1..=t.max_len.min(n - i)).rev() {
            let Some((count, _)) = best[i + len] else { continue };
            if !t.typed.contains_key(&run[i..i + len]) {
                continue;
            }
            if best[i].is_none_or(|b| count + 1 < b.0) {
                best[i] = Some((count + 1, len));
            }
        }
    }
    let (count, _) = best[0]?;
    if count < min_syllables.max(1) {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    let mut i = 0;
    while i < n {
        let (_, len) = best[i]?;
        out.push(*t.typed.get(&run[i..i + len])?);
        i += len;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(s: &str) -> Vec<Syl> {
        s.chars().map(|c| char_keys(c)[0]).collect()
    }

    #[test]
    fn folding_merges_confusable_sounds() {
        assert_eq!(fold("zhuang"), "zuan");
        assert_eq!(fold("liang"), "lian");
        assert_eq!(fold("niu"), "liu");
        assert_eq!(fold("nü"), "lv");
        assert_eq!(fold("ng"), "ng");
        assert_eq!(fold("cheng"), "cen");
        assert_eq!(fold("xing"), "xin");
    }

    #[test]
    fn near_homophones_share_keys() {
        assert_eq!(keys("宽带"), keys("宽代"));
        assert_eq!(keys("流量"), keys("流两"));
        assert_eq!(keys("话费"), keys("话废"));
        assert_eq!(keys("停机"), keys("停几"));
        assert_eq!(keys("骚扰"), keys("骚绕"));
    }

    #[test]
    fn typed_pinyin_splits_into_the_same_keys() {
        assert_eq!(parse_ascii("liuliang", 2).unwrap(), keys("流量"));
        assert_eq!(parse_ascii("kuandai", 2).unwrap(), keys("宽带"));
        assert_eq!(parse_ascii("xiehaozhuanwang", 2).unwrap(), keys("携号转网"));
        assert_eq!(parse_ascii("chongzhi", 2).unwrap(), keys("充值"));
        assert_eq!(parse_ascii("xian", 2), None, "one syllable is not pinyin on its own");
        assert_eq!(parse_ascii("xian", 1).map(|v| v.len()), Some(1));
        assert_eq!(parse_ascii("wifi", 1), None);
        assert_eq!(parse_ascii("bill", 1), None);
    }

    #[test]
    fn heteronyms_keep_a_second_reading() {
        assert_eq!(char_keys('重').map(name), ["zong", "cong"]);
        assert_eq!(char_keys('宽').map(name), ["kuan", ""]);
        assert_eq!(char_keys('a'), [0, 0]);
    }
}
