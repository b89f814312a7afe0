//! Name similarity across naming conventions: snake_case and camelCase, English synonyms and abbreviations,
//! pinyin initials (`zhye`) and full pinyin (`zhanghu_yue`) of Chinese telecom terms.
//!
//! The words come from `terms.toml`, a dictionary of every unified field and view part; pinyin forms of its
//! Chinese terms are derived with the `pinyin` crate (heteronyms included), so the dictionary holds
//! terms, not spellings.
use pinyin::{ToPinyin, ToPinyinMulti};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

/// The words for one field or view part.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermSet {
    /// Chinese terms.
    #[serde(default)]
    pub zh: Vec<String>,
    /// English names and phrases.
    #[serde(default)]
    pub en: Vec<String>,
    /// For a view part: the entity name in a proposed `adapter.toml`.
    #[serde(default)]
    pub name: Option<String>,
    /// For a repeated part with sub-lists: the field whose column folds rows into one element.
    #[serde(default)]
    pub key: Option<String>,
    /// For a repeated part: `field ASC|DESC` to order the proposed query by.
    #[serde(default)]
    pub order: Option<String>,
    /// For a repeated part: a row limit for the proposed query.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `terms.toml`, parsed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dictionary {
    /// Abbreviation → the word(s) it stands for.
    pub abbreviations: BTreeMap<String, String>,
    /// View parts by path (`account`, `recent_bills.items`, `msisdn` for the key column).
    pub targets: BTreeMap<String, TermSet>,
    /// Unified fields by `target.path`.
    pub fields: BTreeMap<String, TermSet>,
}

/// The dictionary shipped with the gateway.
pub fn dictionary() -> &'static Dictionary {
    static D: OnceLock<Dictionary> = OnceLock::new();
    D.get_or_init(|| toml::from_str(include_str!("terms.toml")).expect("terms.toml is valid (tested)"))
}

/// Every word of a field's English labels and own name (`f:` keys without the prefix: `payments.paid_at`).
pub fn label_words(field_key: &str) -> std::collections::HashSet<String> {
    let d = dictionary();
    let mut out: std::collections::HashSet<String> = d
        .fields
        .get(field_key)
        .into_iter()
        .flat_map(|t| t.en.iter())
        .flat_map(|l| tokens(l))
        .collect();
    out.extend(tokens(field_key.rsplit(['.', ']']).next().unwrap_or(field_key)));
    out
}

/// Units of money a column name may carry.
pub(super) const MONEY_UNITS: &[&str] = &["cents", "cent", "fen", "yuan"];

/// Class words of data-modelling naming standards (`_amt`, `_cd`, `_no`, …): they say what kind of
/// value a column holds more than what it is, so they weigh less.
fn weight(token: &str) -> f32 {
    match token {
        "amount" | "flag" | "text" | "value" | "info" | "txt" | "val" => 0.5,
        "code" | "number" | "id" | "time" | "date" | "type" => 0.6,
        _ => 1.0,
    }
}

/// Words that decorate table names without saying what they hold.
const TABLE_AFFIXES: &[&str] = &[
    "r", "t", "tb", "tbl", "tab", "info", "xx", "zl", "mstr", "master", "data", "dim", "fact", "hist", "his", "rel",
    "cm", "bs", "bss", "crm", "oss", "res", "inf", "detail_v", "v", "vw", "biz", "cur",
];

/// Splits a name into lower-case words: `acctBalAmt`, `acct_bal_amt` and `ACCT-BAL-AMT` give the same.
/// A run of digits stays with the letters right after it (`5g`, `30d`).
pub fn tokens(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if let Some(&p) = i.checked_sub(1).and_then(|j| chars.get(j)) {
            let camel = p.is_lowercase() && c.is_uppercase();
            let acronym_end =
                p.is_uppercase() && c.is_uppercase() && chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let to_digit = p.is_alphabetic() && c.is_ascii_digit();
            let cjk_edge = is_cjk(p) != is_cjk(c);
            if (camel || acronym_end || to_digit || cjk_edge) && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

fn stem(t: &str) -> String {
    if t.len() > 4 && t.ends_with("ies") {
        return format!("{}y", &t[..t.len() - 3]);
    }
    if t.len() > 4 && t.ends_with('s') && !t.ends_with("ss") && !t.ends_with("us") && !t.ends_with("is") {
        return t[..t.len() - 1].to_string();
    }
    t.to_string()
}

/// Words of a name with abbreviations expanded and plurals folded.
pub fn expand(dict: &Dictionary, words: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for w in words {
        match dict.abbreviations.get(w.as_str()) {
            Some(full) => out.extend(full.split_whitespace().map(stem)),
            None => out.push(stem(w)),
        }
    }
    out
}

/// The pinyin spellings of a Chinese term a column may be named by, with how specific each is:
/// initials (`zhye`), full pinyin (`zhanghuyue`) and mixes (`zhye` → `zhyue`). Latin letters and digits
/// in a term (`SIM卡号`, `5G终端`) are kept as they are.
pub fn pinyin_forms(term: &str) -> Vec<(String, f32)> {
    // Syllables: each Chinese character with its readings (default first), or a Latin/digit run that
    // is kept whole in every spelling.
    let mut syllables: Vec<(Vec<String>, bool)> = Vec::new();
    let mut latin = String::new();
    for c in term.chars() {
        if c.is_ascii_alphanumeric() {
            latin.push(c.to_ascii_lowercase());
            continue;
        }
        if !latin.is_empty() {
            syllables.push((vec![std::mem::take(&mut latin)], true));
        }
        if let Some(multi) = c.to_pinyin_multi() {
            let mut readings: Vec<String> = Vec::new();
            if let Some(p) = c.to_pinyin() {
                readings.push(p.plain().to_string());
            }
            for p in multi {
                let r = p.plain().to_string();
                if !readings.contains(&r) && readings.len() < 3 {
                    readings.push(r);
                }
            }
            syllables.push((readings, false));
        }
    }
    if !latin.is_empty() {
        syllables.push((vec![latin], true));
    }
    if syllables.is_empty() || syllables.len() > 8 {
        return vec![];
    }
    // Reading combinations, capped: the default reading of every character comes first.
    let mut combos: Vec<Vec<String>> = vec![vec![]];
    for (readings, _) in &syllables {
        let mut next = Vec::new();
        for c in &combos {
            for r in readings {
                if next.len() >= 8 {
                    break;
                }
                let mut c2 = c.clone();
                c2.push(r.clone());
                next.push(c2);
            }
        }
        combos = next;
    }
    let latin: Vec<bool> = syllables.iter().map(|(_, l)| *l).collect();
    let initial = |i: usize, s: &String| -> String {
        if latin[i] {
            s.clone()
        } else {
            s.chars().next().map(String::from).unwrap_or_default()
        }
    };
    let mut out: Vec<(String, f32)> = Vec::new();
    let mut push = |s: String, q: f32| {
        if s.len() >= 2 && !out.iter().any(|(o, _)| *o == s) {
            out.push((s, q));
        }
    };
    for (ci, syl) in combos.iter().enumerate() {
        let n = syl.len();
        let initials: String = syl.iter().enumerate().map(|(i, s)| initial(i, s)).collect();
        let full: String = syl.concat();
        let short_q = match initials.len() {
            0..=2 => 0.85,
            3 => 0.95,
            _ => 1.0,
        };
        push(initials, short_q);
        push(full, 1.0);
        // Mixed spellings (`zh_yue`) for the default reading only.
        if ci == 0 && n <= 6 {
            for mask in 1..(1u32 << n) - 1 {
                let s: String = syl
                    .iter()
                    .enumerate()
                    .map(|(i, s)| if mask & (1 << i) != 0 { s.clone() } else { initial(i, s) })
                    .collect();
                push(s, 0.9);
            }
        }
    }
    out
}

/// Scores names against the dictionary's fields and view parts.
pub struct Matcher {
    dict: &'static Dictionary,
    /// Pinyin spelling → (dictionary key, specificity). Keys: `f:target.path` or `t:target`.
    pinyin: HashMap<String, Vec<(String, f32)>>,
    /// Spellings by length, for fuzzy matching.
    by_len: BTreeMap<usize, Vec<String>>,
    /// English labels (expanded words) per key.
    english: Vec<(String, Vec<String>)>,
    /// Chinese terms per key, for column comments.
    chinese: Vec<(String, String)>,
    /// English words and abbreviations the dictionary knows, for splitting run-together names
    /// (`creationdate`, `accountid`).
    vocabulary: std::collections::HashSet<String>,
}

/// A name's similarity to each dictionary key, in [0, 1].
pub type Scores = HashMap<String, f32>;

impl Matcher {
    /// Builds the indexes (derives every term's pinyin spellings): a few milliseconds; build once.
    pub fn new() -> Matcher {
        let dict = dictionary();
        let mut m = Matcher {
            dict,
            pinyin: HashMap::new(),
            by_len: BTreeMap::new(),
            english: Vec::new(),
            chinese: Vec::new(),
            vocabulary: COMMON_WORDS.iter().map(|w| w.to_string()).collect(),
        };
        for (k, v) in &dict.abbreviations {
            m.vocabulary.insert(k.clone());
            m.vocabulary.extend(v.split_whitespace().map(str::to_string));
        }
        let sets = dict
            .fields
            .iter()
            .map(|(k, v)| {
                (
                    format!("f:{k}"),
                    v,
                    k.rsplit(['.', ']']).next().unwrap_or(k).to_string(),
                )
            })
            .chain(
                dict.targets
                    .iter()
                    .map(|(k, v)| (format!("t:{k}"), v, k.rsplit('.').next().unwrap_or(k).to_string())),
            );
        for (key, set, own_name) in sets {
            for term in &set.zh {
                m.chinese.push((key.clone(), term.clone()));
                for (form, q) in pinyin_forms(term) {
                    let e = m.pinyin.entry(form).or_default();
                    match e.iter_mut().find(|(k, _)| *k == key) {
                        Some(x) => x.1 = x.1.max(q),
                        None => e.push((key.clone(), q)),
                    }
                }
            }
            let mut labels: Vec<String> = set.en.clone();
            // The field's own name, without units, is a label too.
            let own: Vec<String> = tokens(&own_name)
                .into_iter()
                .filter(|t| !matches!(t.as_str(), "fen" | "mb" | "min" | "m" | "mbps"))
                .collect();
            if !own.is_empty() {
                labels.push(own.join(" "));
            }
            for l in labels {
                let raw = tokens(&l);
                m.vocabulary
                    .extend(raw.iter().filter(|w| w.len() >= 2 && w.is_ascii()).cloned());
                let words = expand(dict, &raw);
                if !words.is_empty() {
                    m.english.push((key.clone(), words));
                }
            }
        }
        for form in m.pinyin.keys() {
            m.by_len.entry(form.len()).or_default().push(form.clone());
        }
        m
    }

    pub fn dictionary(&self) -> &'static Dictionary {
        self.dict
    }

    /// A name's words, lower-case, with run-together words split where they split into known words.
    pub fn words(&self, name: &str) -> Vec<String> {
        tokens(name)
            .into_iter()
            .flat_map(|w| self.split(&w).unwrap_or_else(|| vec![w]))
            .collect()
    }

    /// How much a column name (and its comment, where the database keeps one) looks like each field.
    pub fn column(&self, name: &str, comment: Option<&str>) -> Scores {
        let words = tokens(name);
        let mut s = self.names(&words);
        if let Some(c) = comment.filter(|c| !c.trim().is_empty()) {
            for (k, v) in self.comment(c) {
                let e = s.entry(k).or_default();
                *e = e.max(v);
            }
        }
        s
    }

    /// How much a table name looks like each view part; decorations (`t_`, `_info`, `_xx`) are ignored.
    pub fn table(&self, name: &str) -> Scores {
        let words = tokens(name);
        let trimmed: Vec<String> = words
            .iter()
            .filter(|w| !TABLE_AFFIXES.contains(&w.as_str()))
            .cloned()
            .collect();
        let mut s = self.names(&words);
        if !trimmed.is_empty() && trimmed.len() < words.len() {
            for (k, v) in self.names(&trimmed) {
                let e = s.entry(k).or_default();
                *e = e.max(v * 0.95);
            }
        }
        // Each remaining word on its own (`zd_mx` → 账单 + 明细): weaker evidence.
        if trimmed.len() > 1 {
            for w in &trimmed {
                for (k, v) in self.names(std::slice::from_ref(w)) {
                    let e = s.entry(k).or_default();
                    *e = e.max(v * 0.7);
                }
            }
        }
        s.retain(|k, _| k.starts_with("t:"));
        s
    }

    fn names(&self, words: &[String]) -> Scores {
        let mut out = Scores::new();
        let mut put = |k: &str, v: f32| {
            let e = out.entry(k.to_string()).or_default();
            if v > *e {
                *e = v;
            }
        };
        // Pinyin: the whole name without separators, then without a one-letter prefix (`t_zhye`).
        let compact: String = words.concat();
        let mut compacts = vec![(compact.clone(), 1.0f32)];
        if words.len() > 1 && words[0].len() == 1 {
            compacts.push((words[1..].concat(), 0.95));
        }
        for (c, scale) in &compacts {
            if let Some(hits) = self.pinyin.get(c) {
                for (k, q) in hits {
                    put(k, q * scale);
                }
            } else if c.len() >= 3 && c.is_ascii() {
                // Near spellings (a dropped or doubled letter: `cyy` for `ccyy`).
                for len in c.len() - 1..=c.len() + 1 {
                    for form in self.by_len.get(&len).into_iter().flatten() {
                        let jw = strsim::jaro_winkler(c, form) as f32;
                        let lev = strsim::levenshtein(c, form);
                        if jw >= 0.88 && lev <= 1 {
                            for (k, q) in &self.pinyin[form] {
                                put(k, q * jw * 0.75 * scale);
                            }
                        }
                    }
                }
            }
        }
        // English: weighted overlap of expanded words; run-together words (`creationdate`) split first.
        let mut col = expand(
            self.dict,
            &words
                .iter()
                .filter(|w| w.len() > 1 || words.len() == 1)
                .flat_map(|w| self.split(w).unwrap_or_else(|| vec![w.clone()]))
                .collect::<Vec<_>>(),
        );
        // A money unit says how an amount is kept, not what it is (`amount_cents` is an amount): the
        // fields' own names drop `_fen` alike.
        if col.iter().any(|w| !MONEY_UNITS.contains(&w.as_str())) {
            col.retain(|w| !MONEY_UNITS.contains(&w.as_str()));
        }
        if !col.is_empty() {
            for (k, label) in &self.english {
                let v = dice(&col, label);
                if v > 0.0 {
                    put(k, v);
                }
            }
        }
        out
    }

    fn comment(&self, comment: &str) -> Scores {
        let mut out = Scores::new();
        let cjk: String = comment.chars().filter(|c| is_cjk(*c)).collect();
        for (k, term) in &self.chinese {
            if comment.contains(term.as_str()) {
                let term_len = term.chars().count() as f32;
                let whole = cjk.chars().count().max(1) as f32;
                let v = 0.8 + 0.2 * (term_len / whole).min(1.0);
                let e = out.entry(k.clone()).or_default();
                *e = e.max(v);
            }
        }
        let words: Vec<String> = tokens(comment).into_iter().filter(|w| w.is_ascii()).collect();
        if !words.is_empty() {
            for (k, v) in self.names(&words) {
                if k.starts_with("f:") {
                    let e = out.entry(k).or_default();
                    *e = e.max(v * 0.9);
                }
            }
        }
        out
    }
}

impl Matcher {
    /// Splits a run-together lower-case word into the fewest known words (`creationdate` → creation +
    /// date, `accountid` → account + id, `tariffgroupname` → tariff + group + name): `None` when the word
    /// is known as it is, is short, or does not split into known words (pinyin such as `zhanghu` does not).
    pub fn split(&self, w: &str) -> Option<Vec<String>> {
        let n = w.len();
        if n < 6 || !w.bytes().all(|b| b.is_ascii_lowercase()) || self.vocabulary.contains(w) {
            return None;
        }
        if self.dict.abbreviations.contains_key(w) {
            return None;
        }
        // best[i]: the fewest pieces covering w[..i] (pieces of 2+ letters, 3+ unless an abbreviation).
        let mut best: Vec<Option<Vec<usize>>> = vec![None; n + 1];
        best[0] = Some(vec![]);
        for i in 0..n {
            let Some(prev) = best[i].clone() else { continue };
            for j in (i + 2)..=n {
                let piece = &w[i..j];
                let known = self.vocabulary.contains(piece)
                    && (piece.len() >= 3 || self.dict.abbreviations.contains_key(piece) || piece == "id");
                if !known {
                    continue;
                }
                let mut cuts = prev.clone();
                cuts.push(j);
                if best[j].as_ref().is_none_or(|b| cuts.len() < b.len()) {
                    best[j] = Some(cuts);
                }
            }
        }
        let cuts = best[n].take()?;
        if cuts.len() < 2 || cuts.len() > 3 {
            return None;
        }
        let mut out = Vec::new();
        let mut from = 0;
        for c in cuts {
            out.push(w[from..c].to_string());
            from = c;
        }
        Some(out)
    }
}

/// The prefix most table names of a schema start with (`ost_`, `x2_`, `llx_`): an application's namespace
/// rather than a word about the table, unless it is one the dictionary knows (`zd_` 账单 in `zd_mx`) and
/// some tables go without it; a word nearly every table carries (`pkg_`) is a namespace too.
pub fn table_prefix<'a>(m: &Matcher, names: impl Iterator<Item = &'a str>) -> Option<String> {
    let names: Vec<&str> = names.collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for n in &names {
        if let Some((p, rest)) = n.split_once('_') {
            if !p.is_empty() && p.len() <= 5 && !rest.is_empty() {
                *counts.entry(p).or_default() += 1;
            }
        }
    }
    let (p, k) = counts.into_iter().max_by_key(|(p, k)| (*k, std::cmp::Reverse(*p)))?;
    let meaningful = m.table(p).values().any(|v| *v >= 0.5);
    // A word every table carries (`pkg_` on users, calls and plans alike) says nothing of any one table.
    let everywhere = k * 10 >= names.len() * 8;
    (k >= 3 && k * 2 >= names.len() && (!meaningful || everywhere)).then(|| p.to_string())
}

/// Everyday words of column names the dictionary's phrases may not hold on their own.
const COMMON_WORDS: &[&str] = &[
    "date",
    "time",
    "name",
    "first",
    "last",
    "full",
    "given",
    "family",
    "start",
    "end",
    "stop",
    "created",
    "updated",
    "modified",
    "group",
    "called",
    "calling",
    "caller",
    "total",
    "paid",
    "due",
    "issue",
    "id",
    "code",
    "number",
    "type",
    "status",
    "state",
    "amount",
    "price",
    "balance",
    "credit",
    "debit",
    "limit",
    "plan",
    "rate",
    "product",
    "service",
    "order",
    "item",
    "line",
    "invoice",
    "payment",
    "customer",
    "account",
    "contact",
    "address",
    "city",
    "country",
    "email",
    "phone",
    "mobile",
    "description",
    "label",
    "title",
    "subject",
    "note",
    "open",
    "close",
    "closed",
    "seconds",
    "minutes",
    "duration",
    "unique",
    "source",
    "destination",
    "month",
    "year",
    "day",
];

impl Default for Matcher {
    fn default() -> Self {
        Matcher::new()
    }
}

pub(super) fn same_word(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.len() >= 4 && long.starts_with(short) {
        return true;
    }
    // Inflections of one verb: `issue`, `issued` and `issuing`; `renewed` and `renewing`.
    let base = |w: &'_ str| -> (String, bool) {
        match ["ing", "ed"].iter().find_map(|s| w.strip_suffix(s)) {
            Some(r) => (r.trim_end_matches('e').to_string(), true),
            None => (w.trim_end_matches('e').to_string(), false),
        }
    };
    let ((x, xs), (y, ys)) = (base(a), base(b));
    if (xs || ys) && x.len() >= 4 && x == y {
        return true;
    }
    short.len() >= 5 && strsim::jaro_winkler(a, b) >= 0.93
}

/// Weighted Sørensen–Dice overlap of two word lists, with near-equal words counted as equal.
fn dice(a: &[String], b: &[String]) -> f32 {
    let wa: f32 = a.iter().map(|w| weight(w)).sum();
    let wb: f32 = b.iter().map(|w| weight(w)).sum();
    if wa == 0.0 || wb == 0.0 {
        return 0.0;
    }
    let mut used = vec![false; b.len()];
    let mut matched = 0.0;
    for w in a {
        if let Some(j) = (0..b.len()).find(|&j| !used[j] && same_word(w, &b[j])) {
            used[j] = true;
            matched += weight(w).max(weight(&b[j]));
        }
    }
    (2.0 * matched / (wa + wb)).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_run_together_words_and_finds_a_schema_prefix() {
        let m = Matcher::new();
        let v = |xs: &[&str]| Some(xs.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert!(same_word("issued", "issuing") && same_word("renewed", "renewing") && same_word("issue", "issuing"));
        assert!(!same_word("issued", "invoiced") && !same_word("bed", "being"));
        assert_eq!(m.split("creationdate"), v(&["creation", "date"]));
        assert_eq!(m.split("accountid"), v(&["account", "id"]));
        assert_eq!(m.split("paymentdate"), v(&["payment", "date"]));
        assert_eq!(m.split("callstart"), None, "a label of the dictionary as it is");
        assert_eq!(m.split("status"), None, "a known word stays whole");
        assert_eq!(m.split("zhanghu"), None, "pinyin does not split into English");
        has_field(&m, "creationdate", "f:customer.customer_since", 0.8);
        has_field(&m, "billseconds", "f:usage_records.quantity", 0.8);
        let p = |xs: &[&str]| table_prefix(&m, xs.iter().copied());
        assert_eq!(
            p(&["app_user", "app_ticket", "app_thread", "app_topic", "audit"]),
            Some("app".into())
        );
        assert_eq!(
            p(&["zd_mx", "zd_zb", "zd_hz", "yh_zl", "tc_dy"]),
            None,
            "账单 is a word, not a namespace"
        );
        assert_eq!(
            p(&["pkg_user", "pkg_plan", "pkg_cdr", "pkg_refill", "pkg_did"]),
            Some("pkg".into()),
            "a word on every table says nothing of any one"
        );
        assert_eq!(p(&["accounts", "invoices", "cdrs"]), None);
    }

    fn has_field(m: &Matcher, name: &str, key: &str, min: f32) {
        let s = m.column(name, None).get(key).copied().unwrap_or(0.0);
        assert!(s >= min, "{name} → {key}: {s}");
    }

    #[test]
    fn splits_every_convention() {
        assert_eq!(tokens("acctBalAmt"), vec!["acct", "bal", "amt"]);
        assert_eq!(tokens("ACCT_BAL_AMT"), vec!["acct", "bal", "amt"]);
        assert_eq!(tokens("term_5g_flg"), vec!["term", "5g", "flg"]);
        assert_eq!(tokens("HTTPStatus"), vec!["http", "status"]);
        assert_eq!(tokens("contacts30d"), vec!["contacts", "30d"]);
    }

    #[test]
    fn pinyin_spellings_of_a_term() {
        let forms: Vec<String> = pinyin_forms("账户余额").into_iter().map(|(f, _)| f).collect();
        for f in ["zhye", "zhanghuyue", "zhyue", "zhanghuye"] {
            assert!(forms.contains(&f.to_string()), "{f} not in {forms:?}");
        }
        let sim: Vec<String> = pinyin_forms("SIM卡号").into_iter().map(|(f, _)| f).collect();
        assert!(
            sim.contains(&"simkh".to_string()) && sim.contains(&"simkahao".to_string()),
            "{sim:?}"
        );
        // 行 in 银行 is read háng: heteronyms are included.
        let bank: Vec<String> = pinyin_forms("银行账号").into_iter().map(|(f, _)| f).collect();
        assert!(
            bank.contains(&"yinhangzhanghao".to_string()) && bank.contains(&"yhzh".to_string()),
            "{bank:?}"
        );
    }

    #[test]
    fn dictionary_covers_every_unified_field_and_part() {
        let dict = dictionary();
        let catalog = super::super::catalog::Catalog::load();
        for f in &catalog.fields {
            let set = dict
                .fields
                .get(&f.key())
                .unwrap_or_else(|| panic!("no dictionary entry for {}", f.key()));
            assert!(
                !set.zh.is_empty() && !set.en.is_empty(),
                "{}: needs zh and en terms",
                f.key()
            );
        }
        for t in &catalog.targets {
            assert!(
                dict.targets.contains_key(&t.path),
                "no dictionary entry for part {}",
                t.path
            );
            for l in &t.lists {
                assert!(
                    dict.targets.contains_key(&format!("{}.{l}", t.path)),
                    "no entry for {}.{l}",
                    t.path
                );
            }
        }
        for k in dict.fields.keys() {
            assert!(
                catalog.fields.iter().any(|f| f.key() == *k),
                "dictionary entry `{k}` is not a unified field"
            );
        }
    }

    #[test]
    fn matches_initials_full_pinyin_and_abbreviations() {
        let m = Matcher::new();
        let top = |name: &str| {
            let s = m.column(name, None);
            let mut v: Vec<(String, f32)> = s.into_iter().collect();
            v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            v
        };
        let has = |name: &str, key: &str, min: f32| {
            let v = top(name);
            let s = v.iter().find(|(k, _)| k == key).map(|x| x.1).unwrap_or(0.0);
            assert!(s >= min, "{name} → {key}: {s} (top: {:?})", &v[..v.len().min(5)]);
        };
        has("zhye", "f:account.balance_fen", 0.99);
        has("zhanghu_yue", "f:account.balance_fen", 0.99);
        has("acct_bal_amt", "f:account.balance_fen", 0.8);
        has("acctBalance", "f:account.balance_fen", 0.8);
        has("cust_nm", "f:customer.name", 0.9);
        has("khmc", "f:customer.name", 0.99);
        has("shouji_haoma", "t:msisdn", 0.99);
        has("svc_no", "t:msisdn", 0.6);
        has("zjhm", "f:customer.id_number", 0.99);
        // A near spelling still matches, less strongly.
        has("xyd", "f:account.credit_limit_fen", 0.9);
        let t = m.table("zd_mx");
        assert!(t.get("t:recent_bills.items").copied().unwrap_or(0.0) >= 0.9, "{t:?}");
        let t = m.table("t_cust_mstr");
        assert!(t.get("t:customer").copied().unwrap_or(0.0) >= 0.9, "{t:?}");
    }
}
