//! Tests for the check expression language: evaluation, parse errors, nesting,
//! fact lists, feedback wording, number formatting and a no-panic fuzz.

use super::explain::{fmt_num, fmt_pair};
use super::*;
use serde_json::json;

fn lander() -> Facts {
    let facts = json!({
        "touchdown_speed_mps": 4.3125, "hazards": 2, "landed": false, "fuel": 10,
        "status": "crashed", "site.slope": 3.5, "nothing": null, "list": [1, 2], "obj": {"a": 1},
    });
    serde_json::from_value(facts).unwrap()
}

fn parse(src: &str) -> CheckExpr {
    CheckExpr::parse(src).unwrap_or_else(|e| panic!("{src:?}: {e} at {}", e.offset))
}

/// Calls `check(source, expected)` for each non-blank line `source => expected`.
fn table(rows: &str, check: impl Fn(&str, &str)) {
    for row in rows.lines().map(str::trim).filter(|r| !r.is_empty()) {
        let (src, want) = row
            .split_once(" =>")
            .unwrap_or_else(|| panic!("bad row {row}"));
        check(src, want.trim_start());
    }
}

/// Verdicts: `true`, `false`, or the error message.
const EVAL: &str = r#"
    1 + 2 * 3 == 7 => true
    (1 + 2) * 3 == 9 => true
    10 - 4 - 3 == 3 => true
    8 / 4 / 2 == 1 => true
    -2 * 3 == -6 => true
    -(1 + 2) == -3 => true
    --2 == 2 => true
    2 - -2 == 4 => true
    1.5 + 0.25 == 1.75 => true
    fuel * 2 - 1 == 19 => true
    "a\"b\\" == "a\"b\\" => true
    true or false and false => true
    (true or false) and false => false
    not false and false => false
    not (false and false) => true
    not 1 > 2 => true
    not not true => true
    !false && true => true
    false || !true => false
    false or false or true => true
    (1 < 2) == true => true
    landed == (fuel > 20) => true
    1 < 2 => true
    2 < 2 => false
    2 <= 2 => true
    3 <= 2 => false
    3 > 2 => true
    2 > 2 => false
    2 >= 2 => true
    1 >= 2 => false
    2 == 2.0 => true
    2 == 3 => false
    2 != 3 => true
    2 != 2 => false
    status == "crashed" => true
    status != "crashed" => false
    landed == false => true
    landed != true => true
    site.slope > 3 => true
    touchdown_speed_mps <= 2 => false
    altitude > 3 => fact `altitude` is missing
    landed and altitude > 3 => false
    not landed or altitude => true
    true and altitude => fact `altitude` is missing
    status < 3 => `<` only compares numbers, but `status` is the string "crashed"
    3 >= landed => `>=` only compares numbers, but `landed` is the boolean false
    status == 3 => `==` cannot compare `status` (the string "crashed") with `3` (the number 3)
    landed != 0 => `!=` cannot compare `landed` (the boolean false) with `0` (the number 0)
    landed + 1 > 0 => `+` needs numbers, but `landed` is the boolean false
    -status == 1 => `-` needs numbers, but `status` is the string "crashed"
    not fuel => `fuel` must be true or false, but it is the number 10
    fuel and true => `fuel` must be true or false, but it is the number 10
    fuel + 1 => `fuel + 1` must be true or false, but it is the number 11
    "x" => `"x"` must be true or false, but it is the string "x"
    fuel / (hazards - 2) > 1 => division by zero: `hazards - 2` is 0
    nothing == 1 => fact `nothing` is null; checks can only use numbers, strings and booleans
    list == 1 => fact `list` is an array; checks can only use numbers, strings and booleans
    obj == 1 => fact `obj` is an object; checks can only use numbers, strings and booleans
"#;

#[test]
fn eval_operators_precedence_and_errors() {
    let f = lander();
    table(EVAL, |src, want| {
        let got = parse(src)
            .eval(&f)
            .map_or_else(|e| e.to_string(), |b| b.to_string());
        assert_eq!(got, want, "{src}");
    });
    let err = parse("altitude > 3").eval(&f);
    assert_eq!(err, Err(CheckEvalError::MissingFact("altitude".into())));
}

/// `source => offset: message prefix`.
const PARSE_ERRORS: &str = r#"
    x <= => 4: expected a value after `<=`
    x <= ) => 5: unexpected `)`; expected a value after `<=`
    ) => 0: unexpected `)`; expected a value
    x > 1) => 5: unexpected `)` without a matching `(`
    () => 1: unexpected `)`; expected a value after `(`
    x == "abc => 5: unterminated string
    "ab\ => 0: unterminated string
    x # 1 => 2: unknown character `#`
    x > 1 é => 6: unknown character `é`
    x = 1 => 2: unknown character `=` (did you mean `==`?)
    a & b => 2: unknown character `&` (did you mean `&&` or `and`?)
    a | b => 2: unknown character `|` (did you mean `||` or `or`?)
    x > 1 foo => 6: expected end of expression, found `foo` (missing `and` or `or`?)
    x > 1 + => 7: expected a value after `+`
    x > 1 * * 2 => 8: expected a value after `*`, found `*`
    a < b < c => 6: comparison operators cannot be chained
    1 < 2 == true => 6: comparison operators cannot be chained
    (x > 1 => 6: expected `)` to close the `(` at byte 0, found the end of the expression
    (x > 1 y => 7: expected `)` to close the `(` at byte 0, found `y`
    1. > 0 => 1: expected a digit after `.` in a number
    site. > 1 => 4: unknown character `.`
    "a\q" => 2: unknown escape `\q` in string; only `\"` and `\\` are allowed
    not => 3: expected a value after `not`
    x and => 5: expected a value after `and`
    x || => 4: expected a value after `||`
    x == and => 5: expected a value after `==`, found `and`
    and x => 0: expected a value, found `and`
"#;

#[test]
fn parse_errors_have_messages_and_offsets() {
    table(PARSE_ERRORS, |src, want| {
        let (offset, msg) = want.split_once(": ").unwrap_or_default();
        let e = CheckExpr::parse(src).expect_err(src);
        assert!(e.message.starts_with(msg), "{src}: got {:?}", e.message);
        assert_eq!(e.offset.to_string(), offset, "{src}: {}", e.message);
        assert_eq!(e.to_string(), e.message);
    });
    for (src, offset) in [("", 0), ("   ", 3)] {
        let e = CheckExpr::parse(src).expect_err(src);
        assert_eq!((e.message.as_str(), e.offset), ("empty expression", offset));
    }
    let e = CheckExpr::parse(&format!("x < {}", "9".repeat(400))).expect_err("huge");
    assert_eq!((e.offset, e.message.ends_with("is too large")), (4, true));
}

#[test]
fn nesting_is_capped() {
    let nested = |n: usize| format!("{}x{}", "(".repeat(n), ")".repeat(n));
    assert_eq!(
        parse(&nested(MAX_DEPTH)).facts(),
        [("x".to_string(), MAX_DEPTH)]
    );
    let e = CheckExpr::parse(&nested(MAX_DEPTH + 1)).expect_err("too deep");
    assert_eq!(e.offset, MAX_DEPTH);
    assert!(e
        .message
        .starts_with("expression is nested too deeply (more than 64 levels"));
    let deep = [
        nested(10_000),
        "(".repeat(10_000),
        "not ".repeat(10_000) + "x",
    ];
    for src in deep.into_iter().chain(["-".repeat(10_000) + "1"]) {
        let e = CheckExpr::parse(&src).expect_err("too deep");
        assert!(e.message.contains("nested too deeply"));
    }
    // Long flat chains are fine and evaluate without deep recursion.
    let f = lander();
    assert_eq!(
        parse(&vec!["fuel > 1"; 10_000].join(" and ")).eval(&f),
        Ok(true)
    );
    let sum = format!("{} == 10000", vec!["1"; 10_000].join(" + "));
    assert_eq!(parse(&sum).eval(&f), Ok(true));
    // The deepest trees the cap allows evaluate and explain fine.
    let (mut num, mut cond) = ("fuel".to_string(), "landed".to_string());
    for _ in 0..MAX_DEPTH / 2 {
        num = format!("-({num} * 1 + 0)");
        cond = format!("not ({cond} and fuel > 0 or hazards > 5)");
    }
    let c = parse(&format!("{cond} and {num} > 100"));
    assert_eq!(c.eval(&f), Ok(false));
    assert_eq!(c.what_must_change(&f).len(), 2);
    assert!(c.explain(&f).ends_with(&format!("{num} = 10, needs > 100")));
}

#[test]
fn facts_lists_names_with_first_offsets() {
    let src = "landed and (fuel > 1 or fuel < site.slope) and -x == 2";
    let c = parse(src);
    assert_eq!(c.source(), src);
    let want = [("landed", 0), ("fuel", 12), ("site.slope", 31), ("x", 48)];
    assert_eq!(c.facts(), want.map(|(n, o)| (n.to_string(), o)));
    assert!(parse("1 < 2").facts().is_empty());
}

/// `source => sentence | sentence ...` (nothing after `=>` when it passes).
const CHANGES: &str = r#"
    touchdown_speed_mps <= 2 => touchdown_speed_mps must be at most 2 (it was 4.31)
    touchdown_speed_mps < 2 => touchdown_speed_mps must be less than 2 (it was 4.31)
    fuel >= 20 => fuel must be at least 20 (it was 10)
    fuel > 10 => fuel must be greater than 10 (it was 10)
    hazards == 0 => hazards must equal 0 (it was 2)
    hazards != 2 => hazards must not equal 2 (it was 2)
    landed => landed must be true (it was false)
    landed == true => landed must be true (it was false)
    landed != false => landed must be true (it was false)
    not (hazards > 1) => hazards must be at most 1 (it was 2)
    !(fuel == 10) => fuel must not equal 10 (it was 10)
    not not landed => landed must be true (it was false)
    2 >= touchdown_speed_mps => touchdown_speed_mps must be at most 2 (it was 4.31)
    status == "ok" => status must equal "ok" (it was "crashed")
    fuel * 2 <= 3 * 5 => fuel * 2 must be at most 15 (it was 20)
    hazards >= fuel => hazards must be at least fuel (hazards was 2, fuel was 10)
    fuel <= 10 - 0.004 => fuel must be at most 9.996 (it was 10)
    1 > 2 => 1 must be greater than 2
    altitude > 3 => fact `altitude` is missing
    status > 3 => `>` only compares numbers, but `status` is the string "crashed"
    fuel + 1 => `fuel + 1` must be true or false, but it is the number 11
    fuel > 1 and not landed =>
    landed and touchdown_speed_mps <= 2 and hazards == 0 and fuel > 1 => landed must be true (it was false) | touchdown_speed_mps must be at most 2 (it was 4.31) | hazards must equal 0 (it was 2)
    landed or hazards == 0 => one of these must hold: landed must be true (it was false); or hazards must equal 0 (it was 2)
    landed || (hazards == 0 && fuel > 20) => one of these must hold: landed must be true (it was false); or hazards must equal 0 (it was 2) and fuel must be greater than 20 (it was 10)
    not (fuel > 1 or hazards > 1) => fuel must be at most 1 (it was 10) | hazards must be at most 1 (it was 2)
    not (fuel > 1 and hazards > 1) => one of these must hold: fuel must be at most 1 (it was 10); or hazards must be at most 1 (it was 2)
    landed and altitude > 1 => landed must be true (it was false)
    altitude > 1 and hazards == 0 => fact `altitude` is missing | hazards must equal 0 (it was 2)
    landed or altitude > 1 => fact `altitude` is missing
"#;

#[test]
fn what_must_change_wording() {
    let f = lander();
    table(CHANGES, |src, want| {
        let want: Vec<&str> = want.split(" | ").filter(|s| !s.is_empty()).collect();
        assert_eq!(parse(src).what_must_change(&f), want, "{src}");
    });
}

const EXPLAIN: &str = r#"
    landed and touchdown_speed_mps <= 2 or 1 < hazards => landed = false, needs true; touchdown_speed_mps = 4.31, needs <= 2; hazards = 2, needs > 1
    not (fuel >= hazards) and true and altitude > 0 => fuel = 10, hazards = 2, needs fuel < hazards; fact `altitude` is missing
    status != "ok" => status = "crashed", needs != "ok"
    1 < 2 => 1 = 1, needs < 2
"#;

#[test]
fn explain_substitutes_actual_values() {
    let f = lander();
    table(EXPLAIN, |src, want| {
        assert_eq!(parse(src).explain(&f), want, "{src}")
    });
}

#[test]
fn number_formatting() {
    let cases = [
        (2.0, "2"),
        (4.3125, "4.31"),
        (0.5, "0.5"),
        (-0.001, "0"),
        (-2.25, "-2.25"),
    ];
    for (n, want) in cases {
        assert_eq!(fmt_num(n, 2), want);
    }
    let pair = fmt_pair(&Value::Num(2.0), &Value::Num(2.004));
    assert_eq!(pair, ("2".to_string(), "2.004".to_string()));
}

/// Deterministic pseudo-random inputs never panic, errors point inside the source,
/// and `what_must_change` is empty exactly when the check passes.
#[test]
fn fuzz_never_panics() {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize % n
    };
    let f = lander();
    let alphabet: Vec<char> = "ab_.xyz019 ()<>=!&|+-*/\"\\#andortuefls".chars().collect();
    let words: Vec<&str> = "fuel hazards landed status site.slope nothing missing 0 2 4.5 \"ok\" \
        true false and or not ! && || ( ) < <= > >= == != + - * /"
        .split_whitespace()
        .collect();
    let mut parsed = 0;
    for round in 0..20_000 {
        let len = next(24);
        let src: String = if round % 2 == 0 {
            (0..len)
                .map(|_| alphabet.get(next(alphabet.len())).copied().unwrap_or('a'))
                .collect()
        } else {
            let pick = |_| words.get(next(words.len())).copied().unwrap_or("x");
            (0..len).map(pick).collect::<Vec<_>>().join(" ")
        };
        match CheckExpr::parse(&src) {
            Ok(c) => {
                parsed += 1;
                let verdict = c.eval(&f);
                let must = c.what_must_change(&f);
                assert_eq!(
                    must.is_empty(),
                    verdict == Ok(true),
                    "{src}: {verdict:?} {must:?}"
                );
                assert!(!c.explain(&f).is_empty(), "{src}");
                for (name, at) in c.facts() {
                    assert_eq!(src.get(at..at + name.len()), Some(name.as_str()), "{src}");
                }
            }
            Err(e) => assert!(src.is_char_boundary(e.offset), "{src}: {e:?}"),
        }
    }
    assert!(parsed > 500, "only {parsed} inputs parsed");
}
