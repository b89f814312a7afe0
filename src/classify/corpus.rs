//! Categories and labelled examples as data: what the classifier is trained on.
//!
//! The shipped categories (`corpus/categories.toml`) and examples (`corpus/complaints.jsonl`) are embedded
//! in the binary ([`Corpus::embedded`]). A deployment extends them with a folder of its own
//! ([`Corpus::extend_from_dir`]): a `categories.toml` of the same shape declaring new categories, and
//! `*.jsonl` files of labelled examples for new or existing categories. Everything is validated when it is
//! read, with the file and line named, so a bad folder fails at load and never at the first request.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use super::{normalize, ClassifyError};

/// The shipped categories (code, Chinese name, description, keywords), in class order.
const EMBEDDED_CATEGORIES: &str = include_str!("../../corpus/categories.toml");
/// The shipped labelled examples, one JSON object a line.
const EMBEDDED_EXAMPLES: &str = include_str!("../../corpus/complaints.jsonl");

/// A category needs at least this many labelled examples: enough for every cross-validation fold to hold
/// one and for the held-out figure to mean something.
pub const MIN_EXAMPLES_PER_CATEGORY: usize = 10;

/// At most this many categories (the trainer's widest class block).
pub const MAX_CATEGORIES: usize = 64;

/// One complaint category.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// Stable code scenarios and callers use, `area.topic` (lowercase letters, digits, `_`, dots).
    pub code: String,
    /// Short Chinese name for handlers and docs (异常扣费).
    pub name: String,
    /// What a complaint of this category is mainly about.
    pub description: String,
    /// Terms that signal the category; they join the segmenter's dictionary and feed two learned
    /// features (exact keyword, keyword by toneless pinyin).
    #[serde(default)]
    pub keywords: Vec<String>,
}

/// One labelled training example.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Example {
    /// Complaint text.
    pub text: String,
    /// Code of its category.
    pub category: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoriesFile {
    #[serde(default)]
    category: Vec<Category>,
}

/// Categories and labelled examples, validated: the input of [`super::Classifier::train`].
#[derive(Debug, Clone)]
pub struct Corpus {
    categories: Vec<Category>,
    examples: Vec<Example>,
}

impl Corpus {
    /// The shipped categories and examples embedded in the binary.
    pub fn embedded() -> Result<Corpus, ClassifyError> {
        let categories = parse_categories(EMBEDDED_CATEGORIES, "corpus/categories.toml")?;
        let mut corpus = Corpus {
            categories,
            examples: Vec::new(),
        };
        let examples = corpus.parse_examples(EMBEDDED_EXAMPLES, "corpus/complaints.jsonl")?;
        corpus.examples = examples;
        corpus.validate()?;
        Ok(corpus)
    }

    /// A corpus from categories and examples given in code; validated like a folder.
    pub fn new(categories: Vec<Category>, examples: Vec<Example>) -> Result<Corpus, ClassifyError> {
        let mut corpus = Corpus {
            categories: Vec::new(),
            examples: Vec::new(),
        };
        for c in categories {
            corpus.push_category(c, "categories")?;
        }
        corpus.add_examples(examples)?;
        corpus.validate()?;
        Ok(corpus)
    }

    /// Adds the categories of `dir/categories.toml` (if the file exists) and the labelled examples of every
    /// `dir/*.jsonl` file (sorted by name; sub-folders are not read), then checks the whole corpus.
    ///
    /// New categories go after the existing ones. A code that already exists is an error (examples for an
    /// existing category need no declaration). On error the corpus is left unchanged.
    pub fn extend_from_dir(&mut self, dir: &Path) -> Result<&mut Corpus, ClassifyError> {
        let io = |e: std::io::Error, p: &Path| ClassifyError::Corpus(format!("{}: {e}", p.display()));
        let entries = std::fs::read_dir(dir).map_err(|e| io(e, dir))?;
        let mut jsonl = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| io(e, dir))?.path();
            if path.is_file() && path.extension().is_some_and(|e| e == "jsonl") {
                jsonl.push(path);
            }
        }
        jsonl.sort();
        let cat_path = dir.join("categories.toml");
        let has_categories = cat_path.is_file();
        if !has_categories && jsonl.is_empty() {
            return Err(ClassifyError::Corpus(format!(
                "{}: no categories.toml and no *.jsonl files of labelled examples",
                dir.display()
            )));
        }
        let mut next = self.clone();
        if has_categories {
            let text = std::fs::read_to_string(&cat_path).map_err(|e| io(e, &cat_path))?;
            let label = cat_path.display().to_string();
            for c in parse_categories(&text, &label)? {
                next.push_category(c, &label)?;
            }
        }
        for path in &jsonl {
            let text = std::fs::read_to_string(path).map_err(|e| io(e, path))?;
            let examples = next.parse_examples(&text, &path.display().to_string())?;
            next.examples.extend(examples);
        }
        next.validate()?;
        *self = next;
        Ok(self)
    }

    /// Adds one category (validated; its examples come with [`Corpus::add_examples`]).
    ///
    /// The corpus is checked as a whole (enough examples per category) when it is trained or read from a
    /// folder, not here, so a category and its examples can be added in two steps.
    pub fn add_category(&mut self, category: Category) -> Result<&mut Corpus, ClassifyError> {
        self.push_category(category, "category")?;
        Ok(self)
    }

    /// Adds labelled examples; every example's category must exist and its text must not be empty.
    pub fn add_examples(&mut self, examples: impl IntoIterator<Item = Example>) -> Result<&mut Corpus, ClassifyError> {
        let mut added = Vec::new();
        for (n, e) in examples.into_iter().enumerate() {
            self.check_example(&e, &format!("example {}", n + 1))?;
            added.push(e);
        }
        self.examples.extend(added);
        Ok(self)
    }

    /// The categories, in class order.
    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    /// The labelled examples.
    pub fn examples(&self) -> &[Example] {
        &self.examples
    }

    /// Index of a category code.
    pub fn index_of(&self, code: &str) -> Option<usize> {
        self.categories.iter().position(|c| c.code == code)
    }

    /// Number of examples of each category, in class order.
    pub fn counts(&self) -> Vec<usize> {
        let mut n = vec![0; self.categories.len()];
        for e in &self.examples {
            if let Some(i) = self.index_of(&e.category) {
                n[i] += 1;
            }
        }
        n
    }

    /// Checks the corpus as a whole: 2..=[`MAX_CATEGORIES`] categories, each with at least
    /// [`MIN_EXAMPLES_PER_CATEGORY`] examples.
    pub fn validate(&self) -> Result<(), ClassifyError> {
        let k = self.categories.len();
        if k < 2 {
            return Err(ClassifyError::Corpus(format!(
                "{k} categor{}: at least 2 are needed to classify",
                if k == 1 { "y" } else { "ies" }
            )));
        }
        if k > MAX_CATEGORIES {
            return Err(ClassifyError::Corpus(format!(
                "{k} categories: at most {MAX_CATEGORIES} are supported"
            )));
        }
        let short: Vec<String> = self
            .categories
            .iter()
            .zip(self.counts())
            .filter(|(_, n)| *n < MIN_EXAMPLES_PER_CATEGORY)
            .map(|(c, n)| format!("{} has {n}", c.code))
            .collect();
        if !short.is_empty() {
            return Err(ClassifyError::Corpus(format!(
                "too few labelled examples: {} (at least {MIN_EXAMPLES_PER_CATEGORY} per category; add them in a *.jsonl file)",
                short.join(", ")
            )));
        }
        Ok(())
    }

    fn push_category(&mut self, c: Category, at: &str) -> Result<(), ClassifyError> {
        check_category(&c).map_err(|m| ClassifyError::Corpus(format!("{at}: category {:?}: {m}", c.code)))?;
        if self.index_of(&c.code).is_some() {
            return Err(ClassifyError::Corpus(format!(
                "{at}: category {:?} is already defined (examples for an existing category need no declaration)",
                c.code
            )));
        }
        self.categories.push(c);
        Ok(())
    }

    fn check_example(&self, e: &Example, at: &str) -> Result<(), ClassifyError> {
        if self.index_of(&e.category).is_none() {
            let hint = strsim_closest(&e.category, self.categories.iter().map(|c| c.code.as_str()))
                .map(|c| format!(" (did you mean {c:?}?)"))
                .unwrap_or_else(|| " (declare it in categories.toml)".to_string());
            return Err(ClassifyError::Corpus(format!(
                "{at}: unknown category {:?}{hint}",
                e.category
            )));
        }
        if normalize(&e.text).is_empty() {
            return Err(ClassifyError::Corpus(format!(
                "{at}: the text has no letters or digits"
            )));
        }
        Ok(())
    }

    fn parse_examples(&self, text: &str, file: &str) -> Result<Vec<Example>, ClassifyError> {
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = format!("{file}:{}", n + 1);
            let e: Example = serde_json::from_str(line).map_err(|e| {
                ClassifyError::Corpus(format!(
                    "{at}: {e} (expected {{\"text\": \"...\", \"category\": \"code\"}})"
                ))
            })?;
            self.check_example(&e, &at)?;
            out.push(e);
        }
        Ok(out)
    }
}

/// The categories of a `categories.toml` text, each checked; duplicate codes within the file are errors.
fn parse_categories(text: &str, file: &str) -> Result<Vec<Category>, ClassifyError> {
    let parsed: CategoriesFile = toml::from_str(text).map_err(|e| ClassifyError::Corpus(format!("{file}: {e}")))?;
    let mut seen = HashSet::new();
    for c in &parsed.category {
        check_category(c).map_err(|m| ClassifyError::Corpus(format!("{file}: category {:?}: {m}", c.code)))?;
        if !seen.insert(c.code.as_str()) {
            return Err(ClassifyError::Corpus(format!(
                "{file}: category {:?} is defined twice",
                c.code
            )));
        }
    }
    Ok(parsed.category)
}

/// Code syntax, a name, and keywords that are not empty.
fn check_category(c: &Category) -> Result<(), String> {
    let valid_part = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    if !c.code.split('.').all(valid_part) {
        return Err(
            "code must be lowercase letters, digits and `_`, in dot-separated parts (billing.data_overage)".into(),
        );
    }
    if c.name.trim().is_empty() {
        return Err("name is empty".into());
    }
    if let Some(k) = c.keywords.iter().find(|k| normalize(k).is_empty()) {
        return Err(format!("keyword {k:?} has no letters or digits"));
    }
    Ok(())
}

/// The closest candidate within a small edit distance, for "did you mean".
fn strsim_closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (strsim::levenshtein(word, c), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn examples(category: &str, n: usize) -> String {
        (0..n)
            .map(|i| format!("{{\"text\": \"第{i}个例子 eSIM开通失败\", \"category\": \"{category}\"}}\n"))
            .collect()
    }

    const NEW_CATEGORY: &str = "[[category]]\ncode = \"terminal.esim\"\nname = \"eSIM\"\ndescription = \"eSIM activation\"\nkeywords = [\"esim\", \"一号双终端\"]\n";

    fn err(r: Result<&mut Corpus, ClassifyError>) -> String {
        r.map(|_| ()).unwrap_err().to_string()
    }

    #[test]
    fn the_embedded_corpus_is_valid() {
        let c = Corpus::embedded().unwrap();
        assert_eq!(c.categories().len(), 12);
        assert!(c.examples().len() >= 1_000);
        assert!(c.counts().iter().all(|&n| n >= MIN_EXAMPLES_PER_CATEGORY));
    }

    #[test]
    fn a_folder_adds_categories_after_the_shipped_ones_and_examples_to_any() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "categories.toml", NEW_CATEGORY);
        write(dir.path(), "esim.jsonl", &examples("terminal.esim", 12));
        write(
            dir.path(),
            "more.jsonl",
            "{\"text\": \"宽带又断了\", \"category\": \"network.broadband_fault\", \"id\": 7}\n\n",
        );
        write(dir.path(), "notes.txt", "not read");
        let mut c = Corpus::embedded().unwrap();
        let before = c.examples().len();
        c.extend_from_dir(dir.path()).unwrap();
        assert_eq!(c.categories().len(), 13);
        assert_eq!(c.categories()[12].code, "terminal.esim");
        assert_eq!(c.index_of("terminal.esim"), Some(12));
        assert_eq!(c.counts()[12], 12);
        assert_eq!(c.examples().len(), before + 13);
    }

    #[test]
    fn an_unknown_category_is_named_with_file_line_and_a_suggestion() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "x.jsonl",
            "{\"text\": \"宽带断了\", \"category\": \"network.broadband_fault\"}\n{\"text\": \"宽带断了\", \"category\": \"network.broadbnd_fault\"}\n",
        );
        let mut c = Corpus::embedded().unwrap();
        let n = c.examples().len();
        let e = err(c.extend_from_dir(dir.path()));
        assert!(e.contains("x.jsonl:2"), "{e}");
        assert!(e.contains("did you mean \"network.broadband_fault\""), "{e}");
        assert_eq!(c.examples().len(), n, "the corpus is unchanged after an error");
    }

    #[test]
    fn bad_folders_are_refused_with_a_reason() {
        let mut c = Corpus::embedded().unwrap();
        let empty = tempfile::tempdir().unwrap();
        assert!(err(c.extend_from_dir(empty.path())).contains("no categories.toml"));
        assert!(err(c.extend_from_dir(&empty.path().join("absent"))).contains("absent"));

        let few = tempfile::tempdir().unwrap();
        write(few.path(), "categories.toml", NEW_CATEGORY);
        write(few.path(), "esim.jsonl", &examples("terminal.esim", 3));
        let e = err(c.extend_from_dir(few.path()));
        assert!(e.contains("terminal.esim has 3") && e.contains("at least 10"), "{e}");

        let dup = tempfile::tempdir().unwrap();
        write(
            dup.path(),
            "categories.toml",
            "[[category]]\ncode = \"roaming.charges\"\nname = \"漫游\"\ndescription = \"x\"\n",
        );
        assert!(err(c.extend_from_dir(dup.path())).contains("already defined"));

        let bad_code = tempfile::tempdir().unwrap();
        write(
            bad_code.path(),
            "categories.toml",
            "[[category]]\ncode = \"Roaming Charges\"\nname = \"漫游\"\ndescription = \"x\"\n",
        );
        assert!(err(c.extend_from_dir(bad_code.path())).contains("lowercase"));

        let bad_json = tempfile::tempdir().unwrap();
        write(bad_json.path(), "a.jsonl", "{\"text\": \"x\"\n");
        let e = err(c.extend_from_dir(bad_json.path()));
        assert!(e.contains("a.jsonl:1") && e.contains("expected"), "{e}");

        let unknown_key = tempfile::tempdir().unwrap();
        write(
            unknown_key.path(),
            "categories.toml",
            "[[category]]\ncode = \"a.b\"\nname = \"x\"\ndescription = \"x\"\nkeyword = [\"y\"]\n",
        );
        assert!(err(c.extend_from_dir(unknown_key.path())).contains("keyword"));
        assert_eq!(c.categories().len(), 12);
    }

    #[test]
    fn a_corpus_needs_two_categories_with_enough_examples() {
        let cat = |code: &str| Category {
            code: code.into(),
            name: "x".into(),
            description: String::new(),
            keywords: vec![],
        };
        let ex = |c: &str| Example {
            text: "话费".into(),
            category: c.into(),
        };
        assert!(Corpus::new(vec![cat("a.one")], vec![ex("a.one"); 20]).is_err());
        assert!(Corpus::new(vec![cat("a.one"), cat("a.two")], vec![ex("a.one"); 20]).is_err());
        let mut both = vec![ex("a.one"); 10];
        both.extend(vec![ex("a.two"); 10]);
        assert!(Corpus::new(vec![cat("a.one"), cat("a.two")], both).is_ok());
        let mut c = Corpus::embedded().unwrap();
        assert!(c
            .add_examples([Example {
                text: "，。！".into(),
                category: "roaming.charges".into()
            }])
            .is_err());
    }
}
