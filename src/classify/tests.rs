//! Unit tests of the classifier (they share one trained model).

use super::*;

fn clf() -> &'static Classifier {
    Classifier::shared()
}

#[test]
fn corpus_is_valid_and_balanced() {
    let corpus = Corpus::embedded().unwrap();
    assert!(corpus.examples().len() >= 700, "{} examples", corpus.examples().len());
    for (c, n) in corpus.categories().iter().zip(corpus.counts()) {
        assert!(n >= 55, "{}: {n} examples", c.code);
    }
}

#[test]
fn the_shipped_categories_are_listed_with_names_and_descriptions() {
    let cats = categories();
    assert_eq!(cats.len(), 12);
    assert_eq!(cats[0].code, "billing.unexpected_charge");
    assert_eq!(cats[0].name, "异常扣费");
    assert!(cats.iter().all(|c| !c.description.is_empty() && !c.keywords.is_empty()));
    assert_eq!(category_codes().len(), 12);
    assert!(category_codes().contains(&"marketing.harassment"));
    let trained: Vec<&str> = clf().categories().iter().map(|c| c.code.as_str()).collect();
    assert_eq!(trained, category_codes());
}

#[test]
fn user_dictionary_loads() {
    let seg = Segmenter::new(categories()).unwrap();
    let words: Vec<&str> = {
        let s = "我要携号转网授权码收不到";
        seg.words(s)
            .into_iter()
            .map(|(a, b)| &s[a as usize..b as usize])
            .collect()
    };
    assert!(words.contains(&"携号转网"), "{words:?}");
    assert!(words.contains(&"授权码"), "{words:?}");
}

#[test]
fn obvious_complaints_are_classified() {
    let cases = [
        ("我的手机在家里一点信号都没有，打电话总是断", "network.mobile_coverage"),
        ("支付宝充了50块话费，到现在还没到账", "payment.topup_not_credited"),
        ("每天都有推销电话打来让我升级套餐，烦死了", "marketing.harassment"),
        ("携号转网的授权码一直收不到", "portability.blocked"),
    ];
    for (text, want) in cases {
        let c = clf().classify(text).unwrap();
        assert_eq!(c.category(), want, "{text}: {:?}", c.top);
    }
}

#[test]
fn classification_is_well_formed() {
    let c = clf().classify("彩铃不是我开的，每月扣费5元，要求退订").unwrap();
    assert_eq!(c.top.len(), category_codes().len());
    let sum: f64 = c.top.iter().map(|t| t.1).sum();
    assert!((sum - 1.0).abs() < 1e-9);
    assert!(c.top.windows(2).all(|w| w[0].1 >= w[1].1));
    assert_eq!(c.category(), "vas.unsolicited_subscription");
    assert!(!c.keywords.is_empty() && c.keywords.len() <= MAX_KEYWORDS);
    assert!(c.keywords.iter().any(|k| k.contains("彩铃")), "{:?}", c.keywords);
}

#[test]
fn empty_text_is_an_error() {
    for t in ["", "   ", "\n\t", "，。！？……", "😡😡😡", "\u{3000}\u{200B}"] {
        assert!(matches!(clf().classify(t), Err(ClassifyError::Empty)), "{t:?}");
    }
}

#[test]
fn long_text_is_bounded() {
    let para = "我家宽带一直断网，光猫亮红灯，报修好几天了没人来。";
    let text = para.repeat(100_000 / para.len() + 1);
    assert!(text.len() >= 100_000);
    let t0 = Instant::now();
    let c = clf().classify(&text).unwrap();
    assert_eq!(c.category(), "network.broadband_fault");
    // Generous for unoptimised test builds; release takes a few milliseconds.
    assert!(t0.elapsed().as_secs_f64() < 5.0, "{:?}", t0.elapsed());
}

#[test]
fn traditional_and_full_width_match_simplified() {
    let s = clf().classify("我的号码被停机了，已经缴费还是打不出去").unwrap();
    let t = clf().classify("我的號碼被停機了，已經繳費還是打不出去").unwrap();
    assert_eq!(s.category(), t.category());
    assert!((s.confidence() - t.confidence()).abs() < 1e-9);
    let a = clf().classify("5G信号差，APP打不开").unwrap();
    let b = clf().classify("５Ｇ信号差，ＡＰＰ打不开").unwrap();
    assert_eq!(a, b);
}

#[test]
fn emoji_and_mixed_scripts_are_handled() {
    let c = clf()
        .classify("😡😡漫游费太贵了!!! roaming charges in Japan 🇯🇵 ローミング")
        .unwrap();
    assert_eq!(c.category(), "roaming.charges");
    let c = clf().classify("Café ☕ 요금 \u{0000}\u{FFFF} 𝔘𝔫𝔦𝔠𝔬𝔡𝔢").unwrap();
    assert_eq!(c.top.len(), 12);
}

#[test]
fn unknown_text_abstains() {
    let c = clf().classify("今天天气不错").unwrap();
    assert!(c.abstained, "{:?}", c.top);
    assert!(clf()
        .classify_with_threshold("今天天气不错", 0.0)
        .map(|c| !c.abstained)
        .unwrap());
}

#[test]
fn training_is_deterministic_and_calibrated() {
    let r = clf().report();
    assert!(r.temperature.is_finite() && r.temperature > 0.0);
    assert!(r.cv_accuracy > 0.8, "cv accuracy {}", r.cv_accuracy);
    assert_eq!(r.cv_predictions.len(), r.examples);
    // Determinism on a quarter of the corpus (cheaper in unoptimised test builds).
    let subset: Vec<Example> = Corpus::embedded()
        .unwrap()
        .examples()
        .iter()
        .step_by(4)
        .cloned()
        .collect();
    let subset = Corpus::new(categories().to_vec(), subset).unwrap();
    let a = Classifier::train(&subset).unwrap();
    let b = Classifier::train(&subset).unwrap();
    let text = "账单里多了一笔不明费用";
    assert_eq!(a.classify(text).unwrap(), b.classify(text).unwrap());
    assert_eq!(a.report().temperature, b.report().temperature);
}

#[test]
fn default_threshold_meets_its_cross_validation_rule() {
    // DEFAULT_THRESHOLD: out-of-fold precision >= 98% with coverage >= 85% on the corpus.
    let cv = &clf().report().cv_predictions;
    let answered: Vec<_> = cv.iter().filter(|p| p.confidence >= DEFAULT_THRESHOLD).collect();
    let precision = answered.iter().filter(|p| p.correct()).count() as f64 / answered.len() as f64;
    let coverage = answered.len() as f64 / cv.len() as f64;
    assert!(precision >= 0.98, "CV precision {precision}");
    assert!(coverage >= 0.85, "CV coverage {coverage}");
}

#[test]
fn the_training_report_gives_held_out_figures_per_category() {
    let r = clf().report();
    assert_eq!(r.per_category.len(), 12);
    assert_eq!(r.per_category.iter().map(|c| c.examples).sum::<usize>(), r.examples);
    assert!(
        r.per_category.iter().all(|c| c.recall > 0.8 && c.precision > 0.8),
        "{}",
        r.summary()
    );
    let s = r.summary();
    assert!(
        s.contains("held-out accuracy") && s.contains("marketing.harassment"),
        "{s}"
    );
}

#[test]
fn cli_contract() {
    let input = concat!(
        "{\"id\":\"a1\",\"text\":\"手机没信号\"}\n",
        "\n",
        "{\"id\":7,\"text\":\"\"}\n",
        "not json\n",
        "{\"id\":\"a4\"}\n",
        "{\"text\":\"话费充值没到账\"}\n",
    );
    let mut out = Vec::new();
    run_cli(input.as_bytes(), &mut out, DEFAULT_THRESHOLD).unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["id"], "a1");
    assert_eq!(lines[0]["category"], "network.mobile_coverage");
    assert!(lines[0]["confidence"].as_f64().is_some());
    assert!(lines[0]["abstained"].is_boolean());
    assert!(lines[0]["keywords"].is_array());
    assert_eq!(lines[1]["id"], 7);
    assert!(lines[1]["error"].as_str().unwrap().contains("empty"));
    assert_eq!(lines[2]["id"], 4);
    assert!(lines[2]["error"].is_string());
    assert_eq!(lines[3]["id"], "a4");
    assert!(lines[3]["error"].is_string());
    assert_eq!(lines[4]["id"], 6);
    assert_eq!(lines[4]["category"], "payment.topup_not_credited");
}

#[test]
fn cli_survives_invalid_utf8() {
    let mut input = b"{\"id\":1,\"text\":\"\xff\xfe\"}\n".to_vec();
    input.extend_from_slice(b"{\"id\":2,\"text\":\"\xe5\xae\xbd\xe5\xb8\xa6\xe6\x96\xad\xe7\xbd\x91\"}");
    let mut out = Vec::new();
    run_cli(&input[..], &mut out, 0.5).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].contains("error"));
    assert!(lines[1].contains("network.broadband_fault"));
}

#[test]
fn odd_inputs_do_not_panic() {
    let long_ascii = "a".repeat(100_000);
    let long_digits = "1".repeat(100_000);
    let mixed = "信号5G😡ＡＢＣ\u{0301}\u{202E}عربى हिन्दी\u{0000}".repeat(3_000);
    let inputs = [
        long_ascii.as_str(),
        long_digits.as_str(),
        mixed.as_str(),
        "\u{FEFF}话费",
        "e\u{0301}\u{0301}\u{0301}",
        "𠀀𠀁𪚥",
        "123",
        "ＴＤ",
    ];
    for t in inputs {
        let c = clf().classify(t).unwrap();
        assert_eq!(c.top.len(), 12);
        assert!(c.top.iter().all(|(_, p)| p.is_finite() && *p >= 0.0 && *p <= 1.0));
    }
}
